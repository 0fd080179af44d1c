"""numba kernels for the per-frame hot path (small loops that numpy would split into many calls).

Compiled on first use and cached on disk (cache=True), so only the very first run pays for it;
the frame path is also compiled ahead of time at install (`_aot_build`, used through `_aot`).
Imports only numpy, llvmlite, numba and the sibling `_plan` (relatively: the build loads this
file outside the package).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._plan import AIC, BARTLETT, CAPON, MDL, MUSIC, TW, ScanPlan  # noqa: F401


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
AHEAD = 4
"""Chunks between the one being read and the one being prefetched (~80 kB ahead for UCA-5
cf32: far enough to cover the memory latency, near enough to stay in L2)."""
ALIGN_MIN = 0.7
"""Least eigenvector alignment α² at which a source found only by integrating frames is reported."""
FRAME_SHARE = 0.5
"""Least share of the window's excess eigenvalue ℓ_k a frame must carry itself to keep source k."""


@intrinsic
def _prefetch(typingctx, arr, i, j):
    """Hint the CPU to fetch the cache line holding arr[i, j] (2-d) or arr[i, j, 0] (3-d)
    (llvm.prefetch: read, keep in all cache levels); no effect on results."""
    sig = types.void(arr, i, j)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [args[1], args[2]] + [context.get_constant(types.intp, 0)] * (aryty.ndim - 2)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


def _load(x, c0, n, re, im, offset):  # pragma: no cover - typing stub, see _load_impl
    raise NotImplementedError


@overload(_load, jit_options={"fastmath": True}, inline="always")
def _load_impl(x, c0, n, re, im, offset):
    """Split snapshots [c0, c0+n) into the float32 planes re, im (M, CHUNK), minus `offset`,
    and prefetch the chunk AHEAD chunks on. x is complex (M, T) (channels × snapshots, an
    IqBlock) or real components (T, M, 2) (a recording's interleaved layout, any datatype)."""
    if x.ndim == 2:

        def planes(x, c0, n, re, im, offset):
            M, T = x.shape
            ahead = c0 + AHEAD * CHUNK
            for m in range(M):
                for k in range(ahead, min(ahead + CHUNK, T), 8):
                    _prefetch(x, m, k)
                r, i = re[m], im[m]
                xs = x[m, c0 : c0 + n]
                for k in range(n):
                    v = xs[k]
                    r[k] = v.real
                    i[k] = v.imag

        return planes

    contiguous = x.layout == "C"

    def interleaved(x, c0, n, re, im, offset):
        T, M = x.shape[0], x.shape[1]
        ahead = c0 + AHEAD * CHUNK
        step = max(1, 64 // max(x.strides[0], 1))
        for k in range(ahead, min(ahead + CHUNK, T), step):
            _prefetch(x, k, 0)
        o = np.float32(offset)
        xs = x[c0 : c0 + n]
        if contiguous and M == 5:
            _split_fixed(xs, n, re, im, o, 5)
            return
        for m in range(M):
            r, i = re[m], im[m]
            for k in range(n):
                r[k] = np.float32(xs[k, m, 0]) - o
                i[k] = np.float32(xs[k, m, 1]) - o

    return interleaved


@njit(fastmath=True, inline="always")
def _split_fixed(xs, n, re, im, o, M):
    """`_load`'s split for contiguous xs (n, M, 2) and a constant M (inlined with a literal): one
    pass over the snapshots with every stride known, which the compiler turns into vector
    gathers (KrakenSDR's M = 5: 28 µs per 16,384 snapshots against 41 µs for the per-channel
    loops)."""
    xr = xs.reshape(n * 2 * M)
    for k in range(n):
        b = 2 * M * k
        for c in range(M):
            re[c, k] = np.float32(xr[b + 2 * c]) - o
            im[c, k] = np.float32(xr[b + 2 * c + 1]) - o


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
def covariance_range(x: np.ndarray, start: int, stop: int, offset: float = 0.0) -> np.ndarray:
    """Σ (x_n − o)(x_n − o)ᴴ (not divided by N) over snapshots [start, stop), complex128 (M, M),
    in one pass: x is complex (M, T) or the interleaved real components (T, M, 2) of a
    recording (float32, int16, int8 or uint8; o = `offset`, e.g. 128 for cu8).

    Each chunk of CHUNK snapshots is split into float32 real and imaginary planes that stay in
    L1 cache while a later chunk is prefetched from memory (read through a slice that starts at
    the chunk, so the per-sample indices need no negative-index wrap and the loop stays tight);
    the M(M+1)/2 upper-triangle sums are float32 within a chunk and float64 across chunks
    (fastmath only reorders these sums); the lower triangle is the conjugate.
    """
    M = x.shape[0] if x.ndim == 2 else x.shape[1]
    re = np.empty((M, CHUNK), np.float32)
    im = np.empty((M, CHUNK), np.float32)
    acc_r = np.zeros((M, M))
    acc_i = np.zeros((M, M))
    for c0 in range(start, stop, CHUNK):
        n = min(CHUNK, stop - c0)
        _load(x, c0, n, re, im, offset)
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
    return covariance_range(x, 0, x.shape[1], 0.0)


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


TW2_Q999 = 1.3144
"""99.9th percentile of the Tracy–Widom law for complex data (β = 2), from the Painlevé II
solution F₂(s) = exp(−∫ₛ^∞ (x − s)·q(x)² dx) (tests recompute it)."""


@njit(cache=True)
def count_sources(lam: np.ndarray, N: int, rule: int, top: int, floor: float = 0.0) -> int:
    """Number of sources 0..top from ascending covariance eigenvalues λ (R = XXᴴ/N), each
    raised by floor·λ_max (the model-error floor: eigenvalues that far below the strongest are
    not resolvable from model and arithmetic error, so they count as noise).

    MDL/AIC: argmin of the criterion (see `order`). TW: for k = 1, 2, ... reject "k−1 sources"
    while the k-th largest exceeds the 99.9 % Tracy–Widom edge of complex white noise in the
    p = M−k+1 remaining dimensions with n = N−k+1 snapshots left after the k−1 sources:
    n·λ_k/σ̂² > (μ + s·σ)(1 + 3.09/√ν), μ = (√n + √p)², σ = (√n + √p)(1/√n + 1/√p)^{1/3}
    (Johnstone 2001; Kritchman & Nadler 2009), σ̂² from the p−1 eigenvalues below λ_k (their
    sum is ≈ σ²(p − E[λ_max]/σ²) under the null, E[λ_max] = σ²(μ − 1.7711σ)/n by the TW mean),
    and (1 + 3.09/√ν) the 99.9 % upper bound of σ̂²/σ² from its ν = (p−1)·n complex degrees of
    freedom. By the union bound the false-alarm rate per test is ≤ 0.2 % (Monte Carlo: ≤ 0.05 %
    on pure noise from N = 5 up). It detects a source as soon as its eigenvalue leaves the
    noise bulk, where MUSIC's own threshold lies.
    """
    M = lam.size
    add = floor * max(lam[M - 1], 0.0)
    if rule == TW:
        for k in range(min(top, N - 1)):
            p, n = M - k, N - k
            a, b = np.sqrt(n), np.sqrt(p)
            mu = (a + b) ** 2
            sd = (a + b) * (1 / a + 1 / b) ** (1 / 3)
            rest = 0.0
            for t in range(p - 1):
                rest += max(lam[t], 0.0) + add
            noise = rest / max(p - (mu - 1.7711 * sd) / n, 1e-3)
            edge = (mu + TW2_Q999 * sd) * (1 + 3.09 / np.sqrt((p - 1) * n))
            if noise <= 0 or (max(lam[p - 1], 0.0) + add) * n <= noise * edge:
                return k
        return min(top, N - 1)
    best, kbest = np.inf, 0
    for k in range(top + 1):
        tail = M - k
        slog = 0.0
        ssum = 0.0
        for t in range(tail):
            v = max(lam[t] + add, 1e-300)
            slog += np.log(v)
            ssum += v
        llr = slog / tail - np.log(ssum / tail)
        free = k * (2 * M - k)
        if rule == AIC:
            c = -2.0 * N * tail * llr + 2.0 * free
        else:
            c = -1.0 * N * tail * llr + 0.5 * free * np.log(N)
        if c < best:
            best, kbest = c, k
    return kbest


@njit(cache=True, error_model="numpy")
def sigma_confidence(
    var: np.ndarray,
    powers: np.ndarray,
    h: np.ndarray,
    null: np.ndarray,
    noise: float,
    r: np.ndarray,
    N: int,
    K: int,
    M: int,
    beam_deg: float,
    fit_thr: float,
    max_sigma_deg: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(sigma_deg, confidence) per bearing: the one place this formula lives (see `stage`).

    From the CRB diagonal `var` (rad²), source powers, h = ‖Π⊥d‖², the MUSIC null depth q at
    the bearing, noise power and rival ratio r:
    σ_model = √(q / ((M−K−1)·h)) when q exceeds `fit_thr` times its expectation
    (M−K)(1 + M·snr)/(N·M·snr²); total = max(σ_CRB, σ_model)·κ_N, κ_N the small-sample factor
    (`small_sample`); t = 1 − exp(−(beam/total)²/100); sigma = total/t (at most
    `max_sigma_deg`), confidence = t·(1 − r).
    """
    n = var.size
    sigma = np.empty(n)
    conf = np.empty(n)
    kappa = small_sample(N, K, M)
    for t in range(n):
        s = np.degrees(np.sqrt(max(var[t], 0.0)))
        snr = max(powers[t] / noise, 1e-12)
        ratio = null[t] / ((M - K) * (1 + M * snr) / (N * M * snr**2))
        model = 0.0
        if ratio > fit_thr:
            model = np.degrees(np.sqrt(null[t] / (max(M - K - 1, 1) * max(h[t], 1e-300))))
        total = max(s, model) * kappa
        tt = 1.0 - np.exp(-((beam_deg / total) ** 2) / 100.0)
        sg = total / tt if tt > 0 else np.inf
        sigma[t] = sg if sg < max_sigma_deg else max_sigma_deg
        c = tt * (1 - r[t])
        conf[t] = min(1.0, max(0.0, c)) if c == c else 0.0
    return sigma, conf


@njit(cache=True)
def small_sample(N: int, K: int, M: int) -> float:
    """Student-t inflation of sigma for few snapshots: κ = t_ν⁻¹(0.99865)/3 with ν = 2(N−K)
    real degrees of freedom left for the noise and power estimates, so that ±3σ covers what
    ±3σ of a normal does (κ = 1.43 at N = 5, K = 1; 1.0002 at N = 4096). The t quantile is
    Hill's (1970) Cornish–Fisher series in 1/ν about z = 3."""
    nu = max(2.0 * (N - K), 1.0)
    z = 3.0
    t = (
        z
        + (z**3 + z) / (4 * nu)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * nu**4)
    )
    return t / z


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
    R: np.ndarray, N: int, plan: ScanPlan, min_k: int = 0
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """One frame from its covariance R (M×M, divided by N) to bearings, for a grid method.

    eigh → K (plan.num_sources, or counted when < 0 and then at least `min_k`, the count of
    the frames integrated around this one) → grid scan of the pseudo-spectrum →
    K highest peaks, parabolic then two safeguarded Newton steps → stochastic-CRB sigma and
    confidence (`sigma_confidence`) at the refined bearings.
    Returns (eigenvalues ascending, K, azimuth_deg, sigma_deg, confidence), strongest first.
    """
    M = R.shape[0]
    method = plan.method
    lam, E = np.linalg.eigh(R)
    if plan.num_sources < 0:
        K = max(count_sources(lam, N, plan.rule, M - 1, plan.floor), min(min_k, M - 1))
    else:
        K = plan.num_sources
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
        score = grid_score(np.ascontiguousarray(E[:, M - K :]), plan.re, plan.im, -float(M), 1.0)
    else:
        score = grid_score(W, plan.re, plan.im, 0.0, 1.0 if maximise else -1.0)
    top, off, rival = top_peaks(score, K, plan.circular)
    if top.size == 0:
        top = np.array([np.argmax(score)])
        off = np.zeros(1)
    grid = plan.grid
    step = grid[1] - grid[0]
    th0 = np.empty(top.size)
    for t in range(top.size):
        th0[t] = np.radians(grid[top[t]] + off[t] * step)
    Wh = np.ascontiguousarray(W.conj().T)
    sign = -1.0 if maximise else 1.0
    th, q = newton(Wh, plan.pos, th0, plan.kc, plan.ks, np.radians(step), sign, 2)
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
    var, powers, h, _ = uncertainty(plan.pos, tr, plan.k, R, noise, N)
    null = quad_derivs(np.ascontiguousarray(E[:, : M - K].conj().T), plan.pos, tr, plan.k, 0.0)[0]
    sigma, conf = sigma_confidence(
        var, powers, h, null, noise, r, N, K, M, plan.beam_deg, plan.fit_thr[K], plan.max_sigma_deg
    )
    o = np.argsort(-powers, kind="mergesort")
    return lam, K, az[o], sigma[o], conf[o]


@njit(cache=True)
def calibrated_covariance(
    x: np.ndarray, start: int, stop: int, offset: float, scale: float, cal: np.ndarray
) -> tuple[np.ndarray, bool]:
    """R = C·(s²·S / n)·Cᴴ, S = Σ(x − o)(x − o)ᴴ over snapshots [start, stop) (`covariance_range`),
    C = diag(cal), and whether its trace is finite (no NaN/Inf samples)."""
    S = covariance_range(x, start, stop, offset)
    M = S.shape[0]
    tr = 0.0
    for i in range(M):
        tr += S[i, i].real
    R = np.empty((M, M), np.complex128)
    g = scale * scale / (stop - start)
    for i in range(M):
        for j in range(M):
            R[i, j] = S[i, j] * g * cal[i] * np.conj(cal[j])
    return R, np.isfinite(tr)


@njit(cache=True)
def window_counts(S: np.ndarray, frame_len: int, plan: ScanPlan) -> tuple[np.ndarray, np.ndarray]:
    """Source count of the window of plan.window consecutive frames around each frame, from the
    per-frame covariances S (F, M, M): the mean of frames [lo, lo + W) with lo = f − W//2
    clamped into [0, F − W] (all F frames when F < W), counted by plan.rule with W·frame_len
    snapshots. A stationary source's eigenvalue gap grows with the snapshots (√W in SNR at
    the detection edge), so this finds what a single frame's count misses.

    Also, per frame and source k (strongest first), the squared alignment α² of one frame's
    sample eigenvector with the true one (Paul 2007, spiked covariance): with ℓ = λ_k/σ̂² − 1
    from the window and c = M/frame_len, α² = (1 − c/ℓ²)/(1 + c/ℓ), 0 below the edge ℓ² ≤ c.
    Near the threshold one frame's subspace error, and MUSIC's, exceeds the CRB by ~1/α²; the
    count keeps only the sources with α² ≥ ALIGN_MIN, where one frame still carries most of the
    bearing information (α² = 0.7 is where MUSIC leaves ~2× CRB on UCA-5; below, outliers
    dominate).

    A frame keeps the window's k-th source only while its own k-th eigenvalue carries it:
    λ_f,k/σ̂² − 1 ≥ FRAME_SHARE·ℓ_k − e, with e = (1 + √c)² − 1 + 4/√frame_len the noise
    bulk's edge and spread. A stationary source passes (λ_f,k ≈ λ_k; near the threshold the
    bound is below the edge); a frame without it (a transmitter that moved a beamwidth or went
    off within the window, bursts of several transmitters in turn) keeps its own count."""
    F, M = S.shape[0], S.shape[1]
    W = min(max(plan.window, 1), F)
    Ks = np.zeros(F, np.int64)
    al = np.ones((F, M - 1))
    C = np.zeros((F + 1, M, M), np.complex128)
    for f in range(F):
        C[f + 1] = C[f] + S[f]
    last_lo = -1
    k = 0
    a2 = np.ones(M - 1)
    ell = np.zeros(M - 1)
    noise = 1.0
    c = M / frame_len
    edge = (1.0 + np.sqrt(c)) ** 2 - 1.0 + 4.0 / np.sqrt(frame_len)
    for f in range(F):
        lo = min(max(f - W // 2, 0), F - W)
        if lo != last_lo:
            Rw = (C[lo + W] - C[lo]) / W
            Rw = 0.5 * (Rw + Rw.conj().T)
            lam = np.linalg.eigvalsh(Rw)
            k = count_sources(lam, W * frame_len, plan.rule, M - 1, plan.floor)
            noise = max(lam[: M - max(k, 1)].mean(), 1e-300)
            for j in range(M - 1):
                ell[j] = max(lam[M - 1 - j] / noise - 1.0, 0.0)
                e2 = ell[j] * ell[j]
                a2[j] = (1 - c / e2) / (1 + c / ell[j]) if e2 > c else 0.0
            while k > 0 and a2[k - 1] < ALIGN_MIN:
                k -= 1
            last_lo = lo
        kf = k
        if kf > 0:
            lamf = np.linalg.eigvalsh(0.5 * (S[f] + S[f].conj().T))
            while kf > 0 and lamf[M - kf] / noise - 1.0 < FRAME_SHARE * ell[kf - 1] - edge:
                kf -= 1
        Ks[f] = kf
        al[f] = a2
    return Ks, al


@njit(cache=True)
def estimate_frames_core(
    x: np.ndarray, frame_len: int, offset: float, scale: float, plan: ScanPlan
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """`estimate_core` on each consecutive frame of `frame_len` snapshots of x, complex (M, T)
    or interleaved components (T, M, 2) read as s·(x − o) (datatype scale and offset):
    (K (F,), azimuth, sigma, confidence (F, M−1) padded with NaN, index of the first frame
    with NaN/Inf samples or −1). When counting sources with plan.window > 1, each frame's
    count is at least its window's and its k-th sigma is divided (confidence multiplied) by the
    window's α²_k (`window_counts`)."""
    M = x.shape[0] if x.ndim == 2 else x.shape[1]
    T = x.shape[1] if x.ndim == 2 else x.shape[0]
    F = T // frame_len
    Ks = np.zeros(F, np.int64)
    az = np.full((F, M - 1), np.nan)
    sg = np.full((F, M - 1), np.nan)
    cf = np.full((F, M - 1), np.nan)
    S = np.empty((F, M, M), np.complex128)
    for f in range(F):
        R, finite = calibrated_covariance(
            x, f * frame_len, (f + 1) * frame_len, offset, scale, plan.cal
        )
        if not finite:
            return Ks, az, sg, cf, f
        S[f] = R
    integrate = plan.num_sources < 0 and plan.window > 1 and F > 1
    if integrate:
        mins, al = window_counts(S, frame_len, plan)
    else:
        mins, al = np.zeros(F, np.int64), np.ones((F, M - 1))
    for f in range(F):
        _, _, a, s, c = estimate_core(S[f], frame_len, plan, mins[f])
        for j in range(a.size):
            if al[f, j] < 1:
                s[j] = min(s[j] / max(al[f, j], 1e-9), plan.max_sigma_deg)
                c[j] *= al[f, j]
        Ks[f] = a.size
        az[f, : a.size] = a
        sg[f, : a.size] = s
        cf[f, : a.size] = c
    return Ks, az, sg, cf, -1
