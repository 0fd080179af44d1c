"""numba kernels for the per-frame hot path (small loops that numpy would split into many calls).

Compiled on first use and cached on disk (cache=True), so only the very first run pays for it.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@njit(cache=True)
def top_peaks(score: np.ndarray, k: int, circular: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """The k highest local maxima of `score` (a maximum is > its left and >= its right):
    (indices highest first, fewer if fewer exist; parabolic vertex offsets in grid steps,
    |δ| ≤ 0.5, 0 at a non-circular edge; height of the next maximum, -inf if none)."""
    n = score.size
    idx = np.full(k + 1, -1, np.int64)
    val = np.full(k + 1, -np.inf)
    peak = np.empty(n, np.bool_)
    for i in range(1, n - 1):
        peak[i] = (score[i] > score[i - 1]) & (score[i] >= score[i + 1])
    if circular:
        peak[0] = score[0] > score[n - 1] and score[0] >= score[min(1, n - 1)]
        peak[n - 1] = score[n - 1] > score[max(n - 2, 0)] and score[n - 1] >= score[0]
    else:
        peak[0] = n == 1 or score[0] >= score[1]
        peak[n - 1] = n == 1 or score[n - 1] > score[n - 2]
        peak[0] = peak[0] and score[0] > -np.inf
        peak[n - 1] = peak[n - 1] and score[n - 1] > -np.inf
    for i in range(n):
        s = score[i]
        if peak[i] and s > val[k]:
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


@njit(cache=True, error_model="numpy")
def _uncertainty_one(
    pos: np.ndarray, th: float, kc: float, R: np.ndarray, noise: float, N: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """`uncertainty` for one source in closed form: with ‖a‖² = M and d = jφ'⊙a,
    P̂ = max(Re(aᴴRa)/M² − σ²/M, 10⁻⁶σ²), h = ‖Π⊥d‖² = Σφ'² − (Σφ')²/M,
    aᴴR⁻¹a·P̂² = M·P̂²/(σ² + M·P̂), CRB = σ² / (2N·h·M·P̂²/(σ² + M·P̂))."""
    M = pos.shape[0]
    s, c = np.sin(th), np.cos(th)
    a = np.empty(M, np.complex128)
    d1 = 0.0
    d2 = 0.0
    for m in range(M):
        e, n = pos[m, 0] * kc, pos[m, 1] * kc
        phi = e * s + n * c
        a[m] = np.cos(phi) + 1j * np.sin(phi)
        dp = e * c - n * s
        d1 += dp
        d2 += dp * dp
    q = 0.0
    for i in range(M):
        t = 0j
        for j in range(M):
            t += R[i, j] * a[j]
        q += (np.conj(a[i]) * t).real
    p = max(q / M**2 - noise / M, 1e-6 * noise)
    h = d2 - d1 * d1 / M
    fim = (2.0 * N / noise) * h * (M * p * p / (noise + M * p))
    var = 1.0 / fim if fim > 0 else np.inf
    return np.array([var]), np.array([p]), np.array([h]), fim > 0


@njit(cache=True)
def uncertainty(
    pos: np.ndarray, th: np.ndarray, kc: float, R: np.ndarray, noise: float, N: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(stochastic CRB diagonal in rad², source powers, h_k = ‖Π⊥d_k‖², ok) at `th` (rad).

    P̂ = A⁺(R − σ²I)A⁺ᴴ made positive definite, then the Stoica–Nehorai bound (see bounds.py)
    with D = ∂A/∂θ in the horizontal plane. ok is False when A is (nearly) rank deficient.
    """
    M, K = pos.shape[0], th.size
    if K == 1:
        return _uncertainty_one(pos, th[0], kc, R, noise, N)
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


CHUNK = 512


@intrinsic
def _prefetch(typingctx, arr, i, j):
    """Hint the CPU to fetch the cache line holding arr[i, j] (llvm.prefetch: read, keep in
    all cache levels); no effect on results."""
    sig = types.void(arr, i, j)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1], args[2]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, fastmath=True)
def _accumulate(re: np.ndarray, im: np.ndarray, n: int, acc_r: np.ndarray, acc_i: np.ndarray):
    """acc += upper triangle of X·Xᴴ for the first n snapshots of the planes re, im (M, CHUNK):
    float32 sums within the chunk with SIMD over snapshots. Rows are taken in 2×2 tiles, so
    each pass over the chunk loads four rows for sixteen multiply-adds."""
    M = re.shape[0]
    f0 = np.float32(0.0)
    for i0 in range(0, M, 2):
        a, b = re[i0], im[i0]
        if i0 + 1 == M:
            s0 = f0
            for k in range(n):
                s0 += a[k] * a[k] + b[k] * b[k]
            acc_r[i0, i0] += s0
            continue
        c, d = re[i0 + 1], im[i0 + 1]
        s0, s1, pr, pi = f0, f0, f0, f0
        for k in range(n):
            s0 += a[k] * a[k] + b[k] * b[k]
            s1 += c[k] * c[k] + d[k] * d[k]
            pr += a[k] * c[k] + b[k] * d[k]
            pi += b[k] * c[k] - a[k] * d[k]
        acc_r[i0, i0] += s0
        acc_r[i0 + 1, i0 + 1] += s1
        acc_r[i0, i0 + 1] += pr
        acc_i[i0, i0 + 1] += pi
        for j0 in range(i0 + 2, M, 2):
            e, f = re[j0], im[j0]
            if j0 + 1 < M:
                g, h = re[j0 + 1], im[j0 + 1]
                r00, i00, r01, i01, r10, i10, r11, i11 = f0, f0, f0, f0, f0, f0, f0, f0
                for k in range(n):
                    r00 += a[k] * e[k] + b[k] * f[k]
                    i00 += b[k] * e[k] - a[k] * f[k]
                    r01 += a[k] * g[k] + b[k] * h[k]
                    i01 += b[k] * g[k] - a[k] * h[k]
                    r10 += c[k] * e[k] + d[k] * f[k]
                    i10 += d[k] * e[k] - c[k] * f[k]
                    r11 += c[k] * g[k] + d[k] * h[k]
                    i11 += d[k] * g[k] - c[k] * h[k]
                acc_r[i0, j0] += r00
                acc_i[i0, j0] += i00
                acc_r[i0, j0 + 1] += r01
                acc_i[i0, j0 + 1] += i01
                acc_r[i0 + 1, j0] += r10
                acc_i[i0 + 1, j0] += i10
                acc_r[i0 + 1, j0 + 1] += r11
                acc_i[i0 + 1, j0 + 1] += i11
            else:
                r00, i00, r10, i10 = f0, f0, f0, f0
                for k in range(n):
                    r00 += a[k] * e[k] + b[k] * f[k]
                    i00 += b[k] * e[k] - a[k] * f[k]
                    r10 += c[k] * e[k] + d[k] * f[k]
                    i10 += d[k] * e[k] - c[k] * f[k]
                acc_r[i0, j0] += r00
                acc_i[i0, j0] += i00
                acc_r[i0 + 1, j0] += r10
                acc_i[i0 + 1, j0] += i10


@njit(cache=True, fastmath=True)
def covariance_range(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """X·Xᴴ (not divided by N) of the complex64 snapshots x[:, start:stop], complex128 (M, M),
    in one pass over them.

    Each chunk of CHUNK snapshots is split into float32 real and imaginary planes that stay in
    L1 cache while the next chunk is prefetched from memory; the M(M+1)/2 upper-triangle sums
    are float32 within a chunk and float64 across chunks (fastmath only reorders these sums);
    the lower triangle is the conjugate.
    """
    M, T = x.shape
    re = np.empty((M, CHUNK), np.float32)
    im = np.empty((M, CHUNK), np.float32)
    acc_r = np.zeros((M, M))
    acc_i = np.zeros((M, M))
    for c0 in range(start, stop, CHUNK):
        n = min(CHUNK, stop - c0)
        ahead = c0 + CHUNK
        for m in range(M):
            for k in range(ahead, min(ahead + CHUNK, T), 8):
                _prefetch(x, m, k)
            r, i = re[m], im[m]
            xs = x[m, c0 : c0 + n]
            for k in range(n):
                v = xs[k]
                r[k] = v.real
                i[k] = v.imag
        _accumulate(re, im, n, acc_r, acc_i)
    R = np.empty((M, M), np.complex128)
    for i in range(M):
        for j in range(i, M):
            R[i, j] = acc_r[i, j] + 1j * acc_i[i, j]
            R[j, i] = acc_r[i, j] - 1j * acc_i[i, j]
    return R


@njit(cache=True)
def covariance_c64(x: np.ndarray) -> np.ndarray:
    """X·Xᴴ (not divided by N) of complex64 X (M, N), complex128 (M, M) (`covariance_range`)."""
    return covariance_range(x, 0, x.shape[1])


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


MUSIC, CAPON, BARTLETT = 0, 1, 2


@njit(cache=True)
def count_sources(lam: np.ndarray, N: int, aic: bool, top: int) -> int:
    """argmin over k = 0..top of MDL (or AIC) from ascending eigenvalues (see `order`)."""
    M = lam.size
    best, kbest = np.inf, 0
    for k in range(top + 1):
        tail = M - k
        slog = 0.0
        ssum = 0.0
        for t in range(tail):
            v = max(lam[t], 1e-300)
            slog += np.log(v)
            ssum += v
        llr = slog / tail - np.log(ssum / tail)
        free = k * (2 * M - k)
        if aic:
            c = -2.0 * N * tail * llr + 2.0 * free
        else:
            c = -1.0 * N * tail * llr + 0.5 * free * np.log(N)
        if c < best:
            best, kbest = c, k
    return kbest


@njit(cache=True, fastmath=True)
def grid_score(W: np.ndarray, Ar: np.ndarray, Ai: np.ndarray, offset: float, sign: float):
    """sign·(‖Wᴴa_g‖² + offset) for every grid column a_g = Ar[:, g] + j·Ai[:, g], in float32
    (as a complex64 product) with SIMD over the grid; float64 out."""
    M, G = Ar.shape
    acc = np.zeros(G, np.float32)
    br = np.empty(G, np.float32)
    bi = np.empty(G, np.float32)
    for r in range(W.shape[1]):
        for m in range(M):
            wr = np.float32(W[m, r].real)
            wi = np.float32(W[m, r].imag)
            ar = Ar[m]
            ai = Ai[m]
            if m == 0:
                for g in range(G):
                    br[g] = wr * ar[g] + wi * ai[g]
                    bi[g] = wr * ai[g] - wi * ar[g]
            else:
                for g in range(G):
                    br[g] += wr * ar[g] + wi * ai[g]
                    bi[g] += wr * ai[g] - wi * ar[g]
        for g in range(G):
            acc[g] += br[g] * br[g] + bi[g] * bi[g]
    out = np.empty(G)
    for g in range(G):
        out[g] = sign * (np.float64(acc[g]) + offset)
    return out


@njit(cache=True, error_model="numpy")
def estimate_core(
    R: np.ndarray,
    N: int,
    num_sources: int,
    aic: bool,
    method: int,
    grid: np.ndarray,
    Ar: np.ndarray,
    Ai: np.ndarray,
    circular: bool,
    pos: np.ndarray,
    kc: float,
    ks: float,
    k: float,
    beam_deg: float,
    fit_thr: np.ndarray,
    max_sigma_deg: float,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """One frame from its covariance R (M×M, divided by N) to bearings, for a grid method.

    eigh → K (given, or MDL/AIC when num_sources < 0) → grid scan of the pseudo-spectrum →
    K highest peaks, parabolic then two safeguarded Newton steps → stochastic-CRB sigma and
    confidence (`stage._sigma_conf`, fit_thr[K] its χ² threshold) at the refined bearings.
    Returns (eigenvalues ascending, K, azimuth_deg, sigma_deg, confidence), strongest first.
    """
    M = R.shape[0]
    lam, E = np.linalg.eigh(R)
    K = count_sources(lam, N, aic, M - 1) if num_sources < 0 else num_sources
    if K == 0:
        return lam, 0, np.empty(0), np.empty(0), np.empty(0)
    maximise = method == BARTLETT
    if method == MUSIC:
        W = np.ascontiguousarray(E[:, : M - K])
    else:
        floor = 1e-12 * lam.max()
        W = np.empty((M, M), np.complex128)
        for j in range(M):
            s = np.sqrt(max(lam[j], floor))
            for i in range(M):
                W[i, j] = E[i, j] * s if maximise else E[i, j] / s
    if method == MUSIC and K < M - K:
        # through the smaller signal subspace: ‖E_nᴴa‖² = ‖a‖² − ‖E_sᴴa‖², ‖a‖² = M
        score = grid_score(np.ascontiguousarray(E[:, M - K :]), Ar, Ai, -float(M), 1.0)
    else:
        score = grid_score(W, Ar, Ai, 0.0, 1.0 if maximise else -1.0)
    top, off, rival = top_peaks(score, K, circular)
    if top.size == 0:
        top = np.array([np.argmax(score)])
        off = np.zeros(1)
    step = grid[1] - grid[0]
    th0 = np.empty(top.size)
    for t in range(top.size):
        th0[t] = np.radians(grid[top[t]] + off[t] * step)
    Wh = np.ascontiguousarray(W.conj().T)
    sign = -1.0 if maximise else 1.0
    th, q = newton(Wh, pos, th0, kc, ks, np.radians(step), sign, 2)
    n = th.size
    r = np.zeros(n)
    if np.isfinite(rival):
        rq = rival if maximise else max(-rival, 1e-300)
        for t in range(n):
            if maximise:
                p, pr = q[t] / M**2, rq / M**2
            else:
                p, pr = 1.0 / max(q[t], 1e-300), 1.0 / rq
            r[t] = min(1.0, max(0.0, pr / max(p, 1e-300)))
    az = np.empty(n)
    for t in range(n):
        az[t] = np.degrees(th[t]) % 360.0
    noise = max(lam[: M - K].mean(), 1e-12 * lam[-1])
    tr = np.radians(az)
    var, powers, h, _ = uncertainty(pos, tr, k, R, noise, N)
    null = quad_derivs(np.ascontiguousarray(E[:, : M - K].conj().T), pos, tr, k, 0.0)[0]
    sigma = np.empty(n)
    conf = np.empty(n)
    for t in range(n):
        s = np.degrees(np.sqrt(max(var[t], 0.0)))
        snr = max(powers[t] / noise, 1e-12)
        ratio = null[t] / ((M - K) * (1 + M * snr) / (N * M * snr**2))
        model = 0.0
        if ratio > fit_thr[K]:
            model = np.degrees(np.sqrt(null[t] / (max(M - K - 1, 1) * max(h[t], 1e-300))))
        total = max(s, model)
        tt = 1.0 - np.exp(-((beam_deg / total) ** 2) / 100.0)
        sigma[t] = min(total / tt if tt > 0 else np.inf, max_sigma_deg)
        conf[t] = min(1.0, max(0.0, tt * (1 - r[t])))
    o = np.argsort(-powers, kind="mergesort")
    return lam, K, az[o], sigma[o], conf[o]


@njit(cache=True)
def calibrated_covariance(
    x: np.ndarray, start: int, stop: int, cal: np.ndarray
) -> tuple[np.ndarray, bool]:
    """R = C·(X Xᴴ / n)·Cᴴ over samples [start, stop), C = diag(cal), and whether its trace is
    finite (no NaN/Inf samples)."""
    M = x.shape[0]
    S = covariance_range(x, start, stop)
    tr = 0.0
    for i in range(M):
        tr += S[i, i].real
    R = np.empty((M, M), np.complex128)
    for i in range(M):
        for j in range(M):
            R[i, j] = S[i, j] / (stop - start) * cal[i] * np.conj(cal[j])
    return R, np.isfinite(tr)


@njit(cache=True)
def estimate_block(
    x: np.ndarray,
    cal: np.ndarray,
    num_sources: int,
    aic: bool,
    method: int,
    grid: np.ndarray,
    Ar: np.ndarray,
    Ai: np.ndarray,
    circular: bool,
    pos: np.ndarray,
    kc: float,
    ks: float,
    k: float,
    beam_deg: float,
    fit_thr: np.ndarray,
    max_sigma_deg: float,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, bool]:
    """`estimate_core` on the covariance of complex64 snapshots x (M, N) after calibration
    R ← C·R·Cᴴ, C = diag(cal): (K, azimuth, sigma, confidence, samples finite)."""
    N = x.shape[1]
    R, finite = calibrated_covariance(x, 0, N, cal)
    if not finite:
        return 0, np.empty(0), np.empty(0), np.empty(0), False
    _, K, az, sigma, conf = estimate_core(
        R,
        N,
        num_sources,
        aic,
        method,
        grid,
        Ar,
        Ai,
        circular,
        pos,
        kc,
        ks,
        k,
        beam_deg,
        fit_thr,
        max_sigma_deg,
    )
    return K, az, sigma, conf, True


@njit(cache=True)
def estimate_frames_core(
    x: np.ndarray,
    frame_len: int,
    cal: np.ndarray,
    num_sources: int,
    aic: bool,
    method: int,
    grid: np.ndarray,
    Ar: np.ndarray,
    Ai: np.ndarray,
    circular: bool,
    pos: np.ndarray,
    kc: float,
    ks: float,
    k: float,
    beam_deg: float,
    fit_thr: np.ndarray,
    max_sigma_deg: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """`estimate_core` on each consecutive frame of x (M, F·frame_len) after covariance and
    calibration R ← C·R·Cᴴ, C = diag(cal): (K (F,), azimuth, sigma, confidence (F, M−1) padded
    with NaN, all finite)."""
    M = x.shape[0]
    F = x.shape[1] // frame_len
    Ks = np.zeros(F, np.int64)
    az = np.full((F, M - 1), np.nan)
    sg = np.full((F, M - 1), np.nan)
    cf = np.full((F, M - 1), np.nan)
    for f in range(F):
        R, finite = calibrated_covariance(x, f * frame_len, (f + 1) * frame_len, cal)
        if not finite:
            return Ks, az, sg, cf, False
        _, _, a, s, c = estimate_core(
            R,
            frame_len,
            num_sources,
            aic,
            method,
            grid,
            Ar,
            Ai,
            circular,
            pos,
            kc,
            ks,
            k,
            beam_deg,
            fit_thr,
            max_sigma_deg,
        )
        Ks[f] = a.size
        az[f, : a.size] = a
        sg[f, : a.size] = s
        cf[f, : a.size] = c
    return Ks, az, sg, cf, True
