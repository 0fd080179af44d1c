"""numba kernels for the per-frame hot path (small loops that numpy would split into many calls).

Compiled on first use and cached on disk (cache=True), so only the very first run pays for it.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def top_peaks(score: np.ndarray, k: int, circular: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """The k highest local maxima of `score` (a maximum is > its left and >= its right):
    (indices highest first, fewer if fewer exist; parabolic vertex offsets in grid steps,
    |δ| ≤ 0.5, 0 at a non-circular edge; height of the next maximum, -inf if none)."""
    n = score.size
    idx = np.full(k + 1, -1, np.int64)
    val = np.full(k + 1, -np.inf)
    for i in range(n):
        if circular:
            lo = score[i - 1] if i > 0 else score[n - 1]
            hi = score[i + 1] if i < n - 1 else score[0]
        else:
            lo = score[i - 1] if i > 0 else -np.inf
            hi = score[i + 1] if i < n - 1 else -np.inf
        s = score[i]
        if s > lo and s >= hi and s > val[k]:
            j = k
            while j > 0 and s > val[j - 1]:
                val[j] = val[j - 1]
                idx[j] = idx[j - 1]
                j -= 1
            val[j] = s
            idx[j] = i
    m = 0
    while m < k and idx[m] >= 0:
        m += 1
    off = np.zeros(m)
    for t in range(m):
        i = idx[t]
        if not circular and (i == 0 or i == n - 1):
            continue
        lo = score[i - 1] if i > 0 else score[n - 1]
        hi = score[i + 1] if i < n - 1 else score[0]
        den = lo - 2 * score[i] + hi
        if den < 0:
            off[t] = min(0.5, max(-0.5, 0.5 * (lo - hi) / den))
    return idx[:m], off, val[k]


@njit(cache=True)
def quad_derivs(
    Wh: np.ndarray, pos: np.ndarray, th: np.ndarray, kc: float, ks: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q(θ) = ‖Wᴴa(θ)‖², q'(θ), q''(θ) at each θ (radians); kc = k·cos(el), ks = k·sin(el).

    φ_m = kc·(e_m sin θ + n_m cos θ) + ks·u_m, a = e^{jφ}, a' = jφ'a, a'' = (jφ'' − φ'²)a,
    q' = 2Re(b₁ᴴb), q'' = 2Re(b₂ᴴb) + 2‖b₁‖² with b = Wᴴa, b₁ = Wᴴa', b₂ = Wᴴa''.
    """
    R, M = Wh.shape
    K = th.size
    q = np.empty(K)
    g = np.empty(K)
    h = np.empty(K)
    a = np.empty(M, np.complex128)
    a1 = np.empty(M, np.complex128)
    a2 = np.empty(M, np.complex128)
    for t in range(K):
        s, c = np.sin(th[t]), np.cos(th[t])
        for m in range(M):
            e, n = pos[m, 0] * kc, pos[m, 1] * kc
            phi = e * s + n * c + pos[m, 2] * ks
            d1 = e * c - n * s
            d2 = -(e * s + n * c)
            am = np.cos(phi) + 1j * np.sin(phi)
            a[m] = am
            a1[m] = 1j * d1 * am
            a2[m] = (1j * d2 - d1 * d1) * am
        qq = 0.0
        gg = 0.0
        hh = 0.0
        for r in range(R):
            b = 0j
            b1 = 0j
            b2 = 0j
            for m in range(M):
                w = Wh[r, m]
                b += w * a[m]
                b1 += w * a1[m]
                b2 += w * a2[m]
            qq += b.real * b.real + b.imag * b.imag
            gg += 2 * (b1.real * b.real + b1.imag * b.imag)
            hh += 2 * (b2.real * b.real + b2.imag * b.imag) + 2 * (
                b1.real * b1.real + b1.imag * b1.imag
            )
        q[t] = qq
        g[t] = gg
        h[t] = hh
    return q, g, h


@njit(cache=True)
def uncertainty(
    pos: np.ndarray, th: np.ndarray, kc: float, R: np.ndarray, noise: float, N: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(stochastic CRB diagonal in rad², source powers, h_k = ‖Π⊥d_k‖², ok) at `th` (rad).

    P̂ = A⁺(R − σ²I)A⁺ᴴ made positive definite, then the Stoica–Nehorai bound (see bounds.py)
    with D = ∂A/∂θ in the horizontal plane. ok is False when A is (nearly) rank deficient.
    """
    M, K = pos.shape[0], th.size
    A = np.empty((M, K), np.complex128)
    D = np.empty((M, K), np.complex128)
    for t in range(K):
        s, c = np.sin(th[t]), np.cos(th[t])
        for m in range(M):
            e, n = pos[m, 0] * kc, pos[m, 1] * kc
            phi = e * s + n * c
            a = np.cos(phi) + 1j * np.sin(phi)
            A[m, t] = a
            D[m, t] = 1j * (e * c - n * s) * a
    Ah = A.conj().T
    AhA = Ah @ A
    ev = np.linalg.eigvalsh(AhA)
    if ev[0] <= 1e-12 * ev[-1]:
        return np.full(K, np.inf), np.zeros(K), np.zeros(K), False
    Ap = np.linalg.solve(AhA, Ah)
    Rn = R - noise * np.eye(M)
    P = Ap @ Rn @ Ap.conj().T
    P = 0.5 * (P + P.conj().T)
    w, V = np.linalg.eigh(P)
    w = np.maximum(w, 1e-6 * noise)
    P = (V * w) @ V.conj().T
    proj = np.eye(M) - A @ Ap
    Rm = A @ P @ Ah + noise * np.eye(M)
    H = D.conj().T @ proj @ D
    G = P @ Ah @ np.linalg.solve(Rm, A) @ P
    fim = (2.0 * N / noise) * np.real(H * G.T)
    h = np.real(np.diag(H)).copy()
    if np.linalg.cond(fim) > 1e14:
        return np.full(K, np.inf), np.real(np.diag(P)).copy(), h, False
    crb = np.linalg.inv(fim)
    return np.diag(crb).copy(), np.real(np.diag(P)).copy(), h, True


@njit(cache=True, fastmath=True)
def covariance_c64(z: np.ndarray) -> np.ndarray:
    """X·Xᴴ (not divided by N) of complex64 X given as its float32 view z, shape (M, 2N).

    Chunks of 512 snapshots are split into real/imaginary planes that stay in L1, then the
    M(M+1)/2 upper-triangle products are reduced with SIMD (float32 within a chunk, float64
    across chunks); the lower triangle is the conjugate. ~3x a BLAS cgemm for M ≪ N.
    """
    M = z.shape[0]
    N = z.shape[1] // 2
    C = 512
    re = np.empty((M, C), np.float32)
    im = np.empty((M, C), np.float32)
    acc_r = np.zeros((M, M))
    acc_i = np.zeros((M, M))
    for c0 in range(0, N, C):
        L = min(C, N - c0)
        for m in range(M):
            for k in range(L):
                re[m, k] = z[m, 2 * (c0 + k)]
                im[m, k] = z[m, 2 * (c0 + k) + 1]
        for i in range(M):
            for j in range(i, M):
                sr = np.float32(0.0)
                si = np.float32(0.0)
                for k in range(L):
                    sr += re[i, k] * re[j, k] + im[i, k] * im[j, k]
                    si += im[i, k] * re[j, k] - re[i, k] * im[j, k]
                acc_r[i, j] += sr
                acc_i[i, j] += si
    R = np.empty((M, M), np.complex128)
    for i in range(M):
        for j in range(i, M):
            R[i, j] = acc_r[i, j] + 1j * acc_i[i, j]
            R[j, i] = acc_r[i, j] - 1j * acc_i[i, j]
    return R


@njit(cache=True)
def newton(
    Wh: np.ndarray,
    pos: np.ndarray,
    th0: np.ndarray,
    kc: float,
    ks: float,
    lim: float,
    sign: float,
    iterations: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Safeguarded Newton steps on q(θ) from th0 (see `spectra.refine`): (θ, q)."""
    th = th0.copy()
    q, g, h = quad_derivs(Wh, pos, th, kc, ks)
    for _ in range(iterations):
        tn = th.copy()
        for i in range(th.size):
            if sign * h[i] > 0:
                tn[i] = min(th0[i] + lim, max(th0[i] - lim, th[i] - g[i] / h[i]))
        qn, gn, hn = quad_derivs(Wh, pos, tn, kc, ks)
        for i in range(th.size):
            if sign * (qn[i] - q[i]) <= 0:
                th[i], q[i], g[i], h[i] = tn[i], qn[i], gn[i], hn[i]
    return th, q


@njit(cache=True)
def covariance_frames(z: np.ndarray, frame_len: int, num_frames: int) -> np.ndarray:
    """Per-frame X·Xᴴ (not divided by N) of consecutive frames of a complex64 block given as
    its float32 view z (M, 2·total): shape (num_frames, M, M)."""
    M = z.shape[0]
    out = np.empty((num_frames, M, M), np.complex128)
    for f in range(num_frames):
        a = 2 * f * frame_len
        out[f] = covariance_c64(z[:, a : a + 2 * frame_len])
    return out


@njit(cache=True)
def peaks_frames(
    score: np.ndarray, k: int, circular: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`top_peaks` per row of score (F, G): indices (F, k), offsets (F, k), rival (F,), count."""
    F = score.shape[0]
    idx = np.zeros((F, k), np.int64)
    off = np.zeros((F, k))
    rival = np.empty(F)
    count = np.empty(F, np.int64)
    for f in range(F):
        i, o, r = top_peaks(score[f], k, circular)
        count[f] = i.size
        idx[f, : i.size] = i
        off[f, : i.size] = o
        rival[f] = r
    return idx, off, rival, count


@njit(cache=True)
def refine_frames(
    Wh: np.ndarray,
    pos: np.ndarray,
    th0: np.ndarray,
    kc: float,
    ks: float,
    lim: float,
    sign: float,
    iterations: int,
    En_h: np.ndarray,
    R: np.ndarray,
    noise: np.ndarray,
    N: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: Newton refinement (θ, q), then CRB diagonal, powers, ‖Π⊥d‖² and the MUSIC
    null depth at the refined bearings (see `uncertainty`, `quad_derivs`)."""
    F, K = th0.shape
    th = np.empty((F, K))
    q = np.empty((F, K))
    var = np.empty((F, K))
    powers = np.empty((F, K))
    h = np.empty((F, K))
    null = np.empty((F, K))
    for f in range(F):
        t, qq = newton(Wh[f], pos, th0[f], kc, ks, lim, sign, iterations)
        th[f] = t
        q[f] = qq
        v, p, hh, _ = uncertainty(pos, t, kc, R[f], noise[f], N)
        var[f] = v
        powers[f] = p
        h[f] = hh
        null[f] = quad_derivs(En_h[f], pos, t, kc, 0.0)[0]
    return th, q, var, powers, h, null
