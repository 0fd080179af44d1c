"""numba kernels of the hot path: bearing/TDOA predictions with Jacobians and the iterated EKF.

Same equations as `models.predict_measurements` and `filters.update` (tests compare them), for
one state and only bearing/TDOA rows, without numpy's per-call overhead.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from unseen.track.models import EARTH_RADIUS_M

R_E = EARTH_RADIUS_M
TWO_PI = 2.0 * math.pi


@njit(cache=True)
def hjac(en, kind, sta, sta_b, rot, delta, O, F, dalt):
    """h (m,) and ∂h/∂(e, n) (m, 2) at one position `en` for bearing (0) and TDOA (1) rows."""
    e, n = en[0], en[1]
    u = dalt - (e * e + n * n) / (2.0 * R_E)
    P = O + F[0] * e + F[1] * n + F[2] * u
    dPe = F[0] - F[2] * (e / R_E)
    dPn = F[1] - F[2] * (n / R_E)
    m = kind.shape[0]
    h = np.empty(m)
    H = np.empty((m, 2))
    g = np.empty(3)
    for r in range(m):
        D = P - sta[r]
        if kind[r] == 0:
            es = rot[r, 0, 0] * D[0] + rot[r, 0, 1] * D[1] + rot[r, 0, 2] * D[2]
            ns = rot[r, 1, 0] * D[0] + rot[r, 1, 1] * D[1] + rot[r, 1, 2] * D[2]
            q = max(es * es + ns * ns, 1e-12)
            for j in range(3):
                g[j] = (ns * rot[r, 0, j] - es * rot[r, 1, j]) / q
            h[r] = math.atan2(es, ns) + delta[r]
        else:
            Db = P - sta_b[r]
            ra = max(math.sqrt(D[0] ** 2 + D[1] ** 2 + D[2] ** 2), 1e-9)
            rb = max(math.sqrt(Db[0] ** 2 + Db[1] ** 2 + Db[2] ** 2), 1e-9)
            for j in range(3):
                g[j] = D[j] / ra - Db[j] / rb
            h[r] = ra - rb
        H[r, 0] = g[0] * dPe[0] + g[1] * dPe[1] + g[2] * dPe[2]
        H[r, 1] = g[0] * dPn[0] + g[1] * dPn[1] + g[2] * dPn[2]
    return h, H


@njit(cache=True)
def iekf(x0, P0, kind, sta, sta_b, rot, z, sig, delta, O, F, dalt, iterations, tol_m, bidx):
    """Iterated EKF on bearing/TDOA rows: posterior x, P, and NIS and ln-likelihood at the prior.

    The state is (e, n, v_e, v_n, biases…); row r adds the bias x[bidx[r]] when bidx[r] ≥ 0.
    """
    m = kind.shape[0]
    nx = x0.shape[0]
    xi = x0.copy()
    nis = 0.0
    loglik = 0.0
    K = np.zeros((nx, m))
    Hf = np.zeros((m, nx))
    R = np.diag(sig * sig)
    for it in range(max(iterations, 1)):
        h, H = hjac(xi, kind, sta, sta_b, rot, delta, O, F, dalt)
        v = np.empty(m)
        for r in range(m):
            Hf[r, 0] = H[r, 0]
            Hf[r, 1] = H[r, 1]
            d = z[r] - h[r]
            if bidx[r] >= 0:
                Hf[r, bidx[r]] = 1.0
                d -= xi[bidx[r]]
            if kind[r] == 0:
                d = (d + math.pi) % TWO_PI - math.pi
            acc = 0.0
            for c in range(nx):
                acc += Hf[r, c] * (x0[c] - xi[c])
            v[r] = d - acc
        PHt = P0 @ np.ascontiguousarray(Hf.T)
        S = Hf @ PHt + R
        L = np.linalg.cholesky(S)
        Si = np.linalg.inv(S)
        K = PHt @ Si
        if it == 0:
            nis = v @ Si @ v
            ld = 0.0
            for r in range(m):
                ld += 2.0 * math.log(L[r, r])
            loglik = -0.5 * (nis + ld + m * math.log(TWO_PI))
        xn = x0 + K @ v
        step = math.hypot(xn[0] - xi[0], xn[1] - xi[1])
        xi = xn
        if step < tol_m:
            break
    IKH = np.eye(nx) - K @ Hf
    P = IKH @ P0 @ IKH.T + K @ R @ K.T
    return xi, 0.5 * (P + P.T), nis, loglik


@njit(cache=True)
def gate(h, H, P, x, z, sig, kind, bidx):
    """Squared normalised innovations d², ln S and the signed ν/√S of scalar rows (bearings
    wrapped); row r adds the bias state x[bidx[r]] when bidx[r] ≥ 0 (P the full covariance)."""
    m = kind.shape[0]
    d2 = np.empty(m)
    lnS = np.empty(m)
    w = np.empty(m)
    for r in range(m):
        S = (
            H[r, 0] * (P[0, 0] * H[r, 0] + P[0, 1] * H[r, 1])
            + H[r, 1] * (P[1, 0] * H[r, 0] + P[1, 1] * H[r, 1])
            + sig[r] * sig[r]
        )
        v = z[r] - h[r]
        b = bidx[r]
        if b >= 0:
            S += 2.0 * (H[r, 0] * P[0, b] + H[r, 1] * P[1, b]) + P[b, b]
            v -= x[b]
        if kind[r] == 0:
            v = (v + math.pi) % TWO_PI - math.pi
        d2[r] = v * v / S
        lnS[r] = math.log(S)
        w[r] = v / math.sqrt(S)
    return d2, lnS, w


@njit(cache=True)
def pda(x, P, kind, sta, sta_b, rot, z, sig, delta, O, F, dalt, beta, lam, p_d):
    """Probabilistic data association of one sensor's scalar rows into one Gaussian.

    The posterior mixture β₀·N(x, P) + Σ_j β_j·N(x + K_j ν_j, P − K_j S_j K_jᵀ), moment-matched;
    also ln[(1 − P_D) + P_D Σ_j N(ν_j; 0, S_j)/λ] (the IMM mode likelihood).
    """
    h, H = hjac(x, kind, sta, sta_b, rot, delta, O, F, dalt)
    m = kind.shape[0]
    like = 1.0 - p_d
    w = beta[0]
    mean = x * beta[0]
    cov = P * beta[0]
    xs = np.empty((m, x.shape[0]))
    for j in range(m):
        xs[j] = x
        if beta[j + 1] <= 0.0:
            continue
        v = z[j] - h[j]
        if kind[j] == 0:
            v = (v + math.pi) % TWO_PI - math.pi
        PHt = P[:, 0] * H[j, 0] + P[:, 1] * H[j, 1]
        S = H[j, 0] * PHt[0] + H[j, 1] * PHt[1] + sig[j] * sig[j]
        K = PHt / S
        xs[j] = x + K * v
        b = beta[j + 1]
        w += b
        mean += b * xs[j]
        cov += b * (P - np.outer(K, K) * S)
        like += p_d * math.exp(-0.5 * v * v / S) / (math.sqrt(TWO_PI * S) * lam)
    mean /= w
    cov /= w
    d = x - mean
    cov += (beta[0] / w) * np.outer(d, d)
    for j in range(m):
        if beta[j + 1] > 0.0:
            d = xs[j] - mean
            cov += (beta[j + 1] / w) * np.outer(d, d)
    return mean, 0.5 * (cov + cov.T), math.log(like)
