"""numba kernels of the ML-class estimator (`ml`: the criterion, alternating projection and
Gauss–Newton; the maths is in ml.py's docstring).

Compiled on first use and cached on disk like `_kernels`; also compiled ahead of time at install
(`_aot_build`, used through `_aot`). Imports only numpy, numba and the sibling `_kernels`
(relatively: the build loads this file outside the package).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import top_peaks


@njit(cache=True)
def _columns(pos: np.ndarray, th: np.ndarray, kc: float, ks: float):
    """A and D = ∂A/∂θ (M×K) at azimuths th (rad): a_m = e^{jφ_m},
    φ = kc(e·sinθ + n·cosθ) + ks·u."""
    M, K = pos.shape[0], th.size
    A = np.empty((M, K), np.complex128)
    D = np.empty((M, K), np.complex128)
    for t in range(K):
        s, c = np.sin(th[t]), np.cos(th[t])
        for m in range(M):
            e, n = pos[m, 0] * kc, pos[m, 1] * kc
            phi = e * s + n * c + pos[m, 2] * ks
            a = np.cos(phi) + 1j * np.sin(phi)
            A[m, t] = a
            D[m, t] = 1j * (e * c - n * s) * a
    return A, D


@njit(cache=True)
def _orthonormal(B: np.ndarray) -> np.ndarray:
    """An orthonormal basis of B's columns (modified Gram–Schmidt, twice for accuracy)."""
    M, J = B.shape
    U = B.copy()
    for j in range(J):
        for _ in range(2):
            for i in range(j):
                p = 0j
                for m in range(M):
                    p += np.conj(U[m, i]) * U[m, j]
                for m in range(M):
                    U[m, j] -= p * U[m, i]
        nrm = 0.0
        for m in range(M):
            nrm += U[m, j].real ** 2 + U[m, j].imag ** 2
        nrm = np.sqrt(max(nrm, 1e-300))
        for m in range(M):
            U[m, j] /= nrm
    return U


@njit(cache=True, fastmath=True)
def _rows(Uh: np.ndarray, Xr: np.ndarray, Xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re and Im of Uh·X (J×G) with X = Xr + j·Xi given as (M, G) planes, SIMD over G."""
    J, M = Uh.shape
    G = Xr.shape[1]
    yr = np.zeros((J, G))
    yi = np.zeros((J, G))
    for j in range(J):
        for m in range(M):
            wr, wi = Uh[j, m].real, Uh[j, m].imag
            xr, xi = Xr[m], Xi[m]
            for g in range(G):
                yr[j, g] += wr * xr[g] - wi * xi[g]
                yi[j, g] += wr * xi[g] + wi * xr[g]
    return yr, yi


@njit(cache=True, fastmath=True)
def _scan(
    Q: np.ndarray,
    Ar: np.ndarray,
    Ai: np.ndarray,
    QAr: np.ndarray,
    QAi: np.ndarray,
    qa: np.ndarray,
    B: np.ndarray,
) -> np.ndarray:
    """Gain tr(P_[B,a]·Q) − tr(P_B·Q) for every grid column a of A = Ar + j·Ai (module
    docstring; QA = Q·A as planes, qa = aᴴQa); −inf where a lies (nearly) in span(B)."""
    M, G = Ar.shape
    J = B.shape[1]
    if J == 0:
        return qa / M
    U = _orthonormal(B)
    Uh = np.ascontiguousarray(U.conj().T)
    S = Uh @ Q @ U
    cr, ci = _rows(Uh, Ar, Ai)
    er, ei = _rows(Uh, QAr, QAi)
    num = qa.copy()
    den = np.full(G, float(M))
    for i in range(J):
        for g in range(G):
            num[g] -= 2.0 * (er[i, g] * cr[i, g] + ei[i, g] * ci[i, g])
            den[g] -= cr[i, g] * cr[i, g] + ci[i, g] * ci[i, g]
        for j in range(J):
            sr, si = S[i, j].real, S[i, j].imag
            for g in range(G):
                tr = sr * cr[j, g] - si * ci[j, g]
                ti = sr * ci[j, g] + si * cr[j, g]
                num[g] += cr[i, g] * tr + ci[i, g] * ti
    out = np.empty(G)
    for g in range(G):
        out[g] = num[g] / den[g] if den[g] > 1e-6 * M else -np.inf
    return out


@njit(cache=True)
def _vertex(score: np.ndarray, i: int, circular: bool) -> float:
    """Parabolic vertex offset (grid steps, |δ| ≤ 0.5) at index i; 0 at a linear grid's ends."""
    n = score.size
    if not circular and (i == 0 or i == n - 1):
        return 0.0
    lo, hi = score[(i - 1) % n], score[(i + 1) % n]
    den = lo - 2.0 * score[i] + hi
    if not (den < 0 and np.isfinite(lo) and np.isfinite(hi)):
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (lo - hi) / den))


@njit(cache=True)
def _columns_of(Ar: np.ndarray, Ai: np.ndarray, idx: np.ndarray, skip: int) -> np.ndarray:
    """Grid columns idx (all but position `skip`, −1 for none) as a complex M×J matrix."""
    M = Ar.shape[0]
    J = idx.size - (1 if skip >= 0 else 0)
    B = np.empty((M, J), np.complex128)
    col = 0
    for j in range(idx.size):
        if j != skip:
            for m in range(M):
                B[m, col] = Ar[m, idx[j]] + 1j * Ai[m, idx[j]]
            col += 1
    return B


@njit(cache=True)
def _explained(Q: np.ndarray, B: np.ndarray) -> float:
    """tr(P_B·Q) = tr(UᴴQU), U an orthonormal basis of B."""
    U = _orthonormal(B)
    return np.real(np.trace(U.conj().T @ Q @ U))


@njit(cache=True)
def _sweeps(Q, Ar, Ai, QAr, QAi, qa, idx, circular, max_sweeps):
    """AP sweeps from grid indices idx until none moves: (idx, parabolic offsets, tr(P_A·Q))."""
    K = idx.size
    idx = idx.copy()
    off = np.zeros(K)
    for _ in range(max_sweeps):
        moved = False
        for k in range(K):
            sc = _scan(Q, Ar, Ai, QAr, QAi, qa, _columns_of(Ar, Ai, idx, k))
            best = np.argmax(sc)
            off[k] = _vertex(sc, best, circular)
            if best != idx[k]:
                idx[k] = best
                moved = True
        if not moved:
            break
    return idx, off, _explained(Q, _columns_of(Ar, Ai, idx, -1))


@njit(cache=True)
def alternating_projection(
    Q: np.ndarray,
    Ar: np.ndarray,
    Ai: np.ndarray,
    K: int,
    circular: bool,
    max_sweeps: int,
    beam: int,
) -> tuple[np.ndarray, np.ndarray]:
    """AP maximisation of tr(P_A·Q) over the grid columns of A = Ar + j·Ai (M×G planes):
    (grid indices, parabolic offsets in grid steps) of the K sources.

    Starts: sources added one at a time, keeping the `beam` best partial sets, each extended by
    the `beam` highest local maxima of its scan (beam 1 is Ziskind & Wax's initialisation);
    AP sweeps from every start; the best converged set wins.
    """
    M, G = Ar.shape
    QAr = np.zeros((M, G))
    QAi = np.zeros((M, G))
    for m in range(M):
        for n in range(M):
            qr, qi = Q[m, n].real, Q[m, n].imag
            for g in range(G):
                QAr[m, g] += qr * Ar[n, g] - qi * Ai[n, g]
                QAi[m, g] += qr * Ai[n, g] + qi * Ar[n, g]
    qa = np.zeros(G)
    for m in range(M):
        for g in range(G):
            qa[g] += Ar[m, g] * QAr[m, g] + Ai[m, g] * QAi[m, g]
    sets = np.zeros((1, 0), np.int64)
    vals = np.zeros(1)
    for k in range(K):
        cand = np.zeros((sets.shape[0] * beam, k + 1), np.int64)
        cval = np.full(sets.shape[0] * beam, -np.inf)
        n = 0
        for s in range(sets.shape[0]):
            sc = _scan(Q, Ar, Ai, QAr, QAi, qa, _columns_of(Ar, Ai, sets[s], -1))
            top, _, _ = top_peaks(sc, beam, circular)
            if top.size == 0:
                top = np.array([np.argmax(sc)])
            for t in top:
                new = np.sort(np.append(sets[s], t))
                dup = False
                for j in range(n):
                    if np.all(cand[j] == new):
                        dup = True
                if not dup and np.isfinite(sc[t]):
                    cand[n] = new
                    cval[n] = vals[s] + sc[t]
                    n += 1
        if n == 0:
            cand[0, :k] = sets[0]
            cand[0, k] = (sets[0, 0] + 1) % G if k > 0 else 0
            cval[0] = vals[0]
            n = 1
        order = np.argsort(-cval[:n])[:beam]
        sets = cand[order]
        vals = cval[order]
    best_idx = sets[0]
    best_off = np.zeros(K)
    best = -np.inf
    for s in range(sets.shape[0]):
        if K == 1:
            sc = qa / M
            i = sets[s, 0]
            idx, off, v = sets[s], np.array([_vertex(sc, i, circular)]), sc[i]
        else:
            idx, off, v = _sweeps(Q, Ar, Ai, QAr, QAi, qa, sets[s], circular, max_sweeps)
        if v > best:
            best, best_idx, best_off = v, idx, off
    return best_idx, best_off


@njit(cache=True)
def criterion(Q: np.ndarray, pos: np.ndarray, th: np.ndarray, kc: float, ks: float) -> float:
    """V(θ) = tr(Π⊥_A(θ)·Q) = tr(Q) − tr(A⁺·Q·A); +inf when A is (nearly) rank deficient."""
    A, _ = _columns(pos, th, kc, ks)
    Ah = A.conj().T
    AhA = Ah @ A
    ev = np.linalg.eigvalsh(AhA)
    if ev[0] <= 1e-10 * ev[-1]:
        return np.inf
    Ap = np.linalg.solve(AhA, Ah)
    v = 0.0
    for m in range(Q.shape[0]):
        v += Q[m, m].real
    return v - np.real(np.trace(Ap @ Q @ A))


@njit(cache=True)
def gauss_newton(
    Q: np.ndarray,
    pos: np.ndarray,
    th0: np.ndarray,
    kc: float,
    ks: float,
    max_step: float,
    iterations: int,
) -> tuple[np.ndarray, float]:
    """Joint Gauss–Newton on V(θ) from th0 (rad), each step clipped to `max_step` rad per
    source and halved (up to 8 times) until V decreases: (θ, V)."""
    M, K = pos.shape[0], th0.size
    th = th0.copy()
    v = criterion(Q, pos, th, kc, ks)
    for _ in range(iterations):
        A, D = _columns(pos, th, kc, ks)
        Ah = A.conj().T
        AhA = Ah @ A
        ev = np.linalg.eigvalsh(AhA)
        if ev[0] <= 1e-10 * ev[-1]:
            break
        Ap = np.linalg.solve(AhA, Ah)
        proj = np.eye(M) - A @ Ap
        G = Ap @ Q @ proj @ D
        grad = np.empty(K)
        for k in range(K):
            grad[k] = -2.0 * G[k, k].real
        H = 2.0 * np.real((D.conj().T @ proj @ D) * (Ap @ Q @ Ap.conj().T).T)
        hv = np.linalg.eigvalsh(H)
        if not hv[0] > 1e-12 * abs(hv[-1]):
            break
        step = -np.linalg.solve(H, grad)
        big = np.max(np.abs(step))
        if big > max_step:
            step *= max_step / big
        done = False
        for _h in range(9):
            tn = th + step
            vn = criterion(Q, pos, tn, kc, ks)
            if vn < v:
                th, v = tn, vn
                done = True
                break
            step *= 0.5
        if not done or np.max(np.abs(step)) < 1e-7:
            break
    return th, v


@njit(cache=True)
def refine(
    Q: np.ndarray,
    pos: np.ndarray,
    th0: np.ndarray,
    kc: float,
    ks: float,
    half_beam: float,
    iterations: int,
) -> tuple[np.ndarray, float]:
    """Gauss–Newton from th0 and from split starts; the lowest V wins: (θ rad, V).

    AP can stall with one bearing between two close sources and another on a noise lobe: each
    coordinate is optimal given the other, yet the pair split around the first fits better. So
    for each source i, the source j whose removal loses least of tr(P_A·Q) is also restarted as
    the pair θ_i ∓ δ, δ ∈ {half_beam/4, half_beam/2} (separations of 1/4 and 1/2 beamwidth).
    """
    step = 0.25 * half_beam
    th, v = gauss_newton(Q, pos, th0, kc, ks, step, iterations)
    K = th.size
    if K < 2:
        return th, v
    base = th.copy()
    for i in range(K):
        drop_j, keep = -1, -np.inf
        for j in range(K):
            if j != i:
                rest = np.empty(K - 1)
                n = 0
                for t in range(K):
                    if t != j:
                        rest[n] = base[t]
                        n += 1
                A, _ = _columns(pos, rest, kc, ks)
                e = _explained(Q, A)
                if e > keep:
                    drop_j, keep = j, e
        for f in (0.25, 0.5):
            start = base.copy()
            start[i] = base[i] - f * half_beam
            start[drop_j] = base[i] + f * half_beam
            ts, vs = gauss_newton(Q, pos, start, kc, ks, step, iterations)
            if vs < v:
                th, v = ts, vs
    return th, v
