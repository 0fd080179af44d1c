"""The DOA stage: one frame (IqBlock) or covariance in, one DoaEstimate out.

    R → [calibration] → [spatial smoothing] → [forward–backward] → eigh → source count
      → bearings (grid scan + parabolic + Newton refinement, a grid-free estimator, or ML:
        WSF by alternating projection + Gauss–Newton, `ml`)
      → sigma (stochastic CRB at the estimated powers and noise) and confidence

Every entry path (`estimate`, `estimate_frames`, `estimate_raw`, `pseudo_spectrum`) takes its
settings as one validated `DoaOptions`; the grid methods run as one compiled call that takes a
cached `ScanPlan` (`plan`). Grid-free estimators live in `ESTIMATORS` (name → function of the
eigendecomposition); a new estimator is one entry there.

Source count. The default `tw` rule counts the eigenvalues that leave the noise bulk (a
Tracy–Widom edge test at 0.1 % false alarm per frame, `_kernels.count_sources`); `mdl` and
`aic` are the information criteria (`order`). Over many frames (`estimate_frames`,
`estimate_raw`, the CLI) a frame's count is at least that of the mean covariance of the
`integrate` (default 8) frames around it, with integrate·N snapshots: for a stationary
transmitter the source eigenvalue's excess over the noise edge grows with the snapshots, so a
source too weak for one frame's test (where MUSIC already attains its bound) is still detected;
its bearing, sigma and confidence stay the frame's own. Each count first raises every eigenvalue
by MODEL_FLOOR·λ_max, so that at very high SNR the arithmetic and model error left in the noise
eigenvalues (float32 samples, ~10⁻⁷·λ_max) is not counted as sources.

Uncertainty. σ_CRB,k is the square root of the stochastic CRB evaluated at the estimated
bearings, source covariance P̂ = A⁺(R − σ̂²I)A⁺ᴴ and noise σ̂² (mean of the M−K smallest
eigenvalues). With η_k = (beamwidth/σ_k)², beamwidth = λ/aperture, the threshold factor
t_k = 1 − exp(−η_k/100) (0.63 when σ is a tenth of a beamwidth, → 1 well above threshold) gives

    sigma_deg = σ_k / t,    confidence = t · (1 − r)

where r ∈ [0, 1] is, for scanned spectra, the height of the strongest unused spectral peak over
this peak's (a near-equal rival makes a bearing doubtful), and σ_k = max(σ_CRB, σ_model)·κ_N
(model-error sigma and small-sample factor: `_kernels.sigma_confidence`, the one place this
arithmetic lives). Far above threshold MUSIC, root-MUSIC and ESPRIT attain the bound for
uncorrelated sources (tests check RMSE ≤ 1.3·CRB).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from unseen.doa import _aot as kernels
from unseen.doa import spectra, subspace
from unseen.doa._plan import AIC, BARTLETT, CAPON, MDL, MUSIC, TW, ScanPlan
from unseen.doa.array import Array, wavelength_m
from unseen.doa.calibrate import Calibration
from unseen.errors import InputError
from unseen.types import DoaEstimate, IqBlock

GRID_METHODS = ("bartlett", "capon", "music")
_CODES = {"music": MUSIC, "capon": CAPON, "bartlett": BARTLETT}

Estimator = Callable[[np.ndarray, np.ndarray, Array, float, int], np.ndarray]
"""(ascending eigenvalues, eigenvectors, array, freq_hz, K) → K azimuths in degrees."""

ESTIMATORS: dict[str, Estimator] = {
    "root-music": lambda lam, E, arr, f, K: subspace.root_music(E[:, : E.shape[1] - K], arr, f, K),
    "esprit": lambda lam, E, arr, f, K: subspace.esprit(E[:, E.shape[1] - K :], arr, f),
}
METHODS = (*GRID_METHODS, *ESTIMATORS, "ml")
CRITERIA = {"tw": TW, "mdl": MDL, "aic": AIC}
MODEL_FLOOR = 1e-6
"""Eigenvalues below this fraction of the largest are treated as noise when counting sources."""
INTEGRATE = 8
"""Frames whose summed covariance `estimate_frames` also counts sources in (see module doc)."""


@dataclass(frozen=True)
class DoaOptions:
    """The validated settings of the DOA stage (see `estimate` for their meaning)."""

    method: str = "music"
    num_sources: int | None = None
    step_deg: float = 0.1
    forward_backward: bool = False
    smoothing: int | bool | None = None
    calibration: Calibration | None = None
    criterion: str = "tw"
    elevation_deg: float = 0.0
    integrate: int = INTEGRATE

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(
                f"unknown DOA method {self.method!r}: expected one of {', '.join(METHODS)}"
            )
        if self.criterion not in CRITERIA:
            raise InputError(
                f"source-count criterion must be one of {tuple(CRITERIA)}, got {self.criterion!r}"
            )
        ns = self.num_sources
        if ns is not None and (isinstance(ns, bool) or int(ns) != ns or ns < 0):
            raise InputError(f"num_sources must be an integer >= 0, got {ns!r}")
        if not (
            isinstance(self.step_deg, (int, float))
            and 1e-3 <= self.step_deg <= spectra.MAX_STEP_DEG
        ):
            raise InputError(
                f"grid step must be in [0.001, {spectra.MAX_STEP_DEG:g}] degrees, "
                f"got {self.step_deg!r}"
            )
        if not (math.isfinite(self.elevation_deg) and abs(self.elevation_deg) < 90):
            raise InputError(f"elevation_deg must be in (-90, 90), got {self.elevation_deg!r}")
        w = self.integrate
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise InputError(f"integrate must be a number of frames >= 1, got {w!r}")
        sm = self.smoothing
        if sm not in (None, False, True) and (int(sm) != sm or sm < 2):
            raise InputError(f"smoothing must be a subarray length >= 2 or True, got {sm!r}")

    @property
    def compiled(self) -> bool:
        """True when the whole frame path is one compiled call (grid method, no FB/smoothing)."""
        return self.method in GRID_METHODS and not self.forward_backward and not self.smoothing

    def sources(self, M: int) -> int:
        """num_sources checked against M (effective) elements; −1 for None (count them)."""
        if self.num_sources is None:
            return -1
        if self.num_sources > M - 1:
            raise InputError(
                f"num_sources must be in [0, {M - 1}] for {M} (effective) elements, got "
                f"{self.num_sources}"
            )
        return int(self.num_sources)


def _options(
    options: DoaOptions | None,
    *,
    method: str,
    num_sources: int | None,
    step_deg: float,
    forward_backward: bool,
    smoothing: int | bool | None,
    calibration: Calibration | None,
    criterion: str,
    elevation_deg: float = 0.0,
) -> DoaOptions:
    """`options` when given, else the public functions' keyword settings as DoaOptions (every
    one named: a misspelt setting is a TypeError here, not a default silently kept)."""
    if options is not None:
        return options
    return DoaOptions(
        method=method, num_sources=num_sources, step_deg=step_deg,
        forward_backward=forward_backward, smoothing=smoothing, calibration=calibration,
        criterion=criterion, elevation_deg=elevation_deg,
    )  # fmt: skip


@lru_cache(maxsize=64)
def _fit_threshold(dof: int) -> float:
    """99th percentile of χ²_{2·dof} / (2·dof): Gamma(dof, 1) is Erlang, P(X ≤ x) =
    1 − e^{−x}·Σ_{i<dof} xⁱ/i!, solved by bisection."""

    def cdf(x: float) -> float:
        term, tail = 1.0, 1.0
        for i in range(1, dof):
            term *= x / i
            tail += term
        return 1.0 - math.exp(-x) * tail

    lo, hi = 0.0, 10.0 * dof + 50.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid) < 0.99 else (lo, mid)
    return 0.5 * (lo + hi) / dof


@lru_cache(maxsize=64)
def plan(arr: Array, freq_hz: float, options: DoaOptions, calibrated: bool = True) -> ScanPlan:
    """The compiled grid path's `ScanPlan` for this array, frequency and options, cached.
    `calibrated` False leaves the calibration out (already applied to a covariance)."""
    grid, re, im, circ = spectra.steering_planes(
        arr, freq_hz, float(options.step_deg), float(options.elevation_deg)
    )
    M = arr.num_elements
    k = 2 * np.pi / wavelength_m(freq_hz)
    el = np.radians(options.elevation_deg)
    a, b, _ = spectra.scan_sector(arr)
    cal = np.ones(M, complex)
    if calibrated and options.calibration is not None:
        options.calibration._check(M)
        cal = 1 / options.calibration.response
    return ScanPlan(
        method=_CODES.get(options.method, MUSIC),
        num_sources=options.sources(M),
        rule=CRITERIA[options.criterion],
        floor=MODEL_FLOOR,
        grid=grid,
        re=re,
        im=im,
        circular=circ,
        pos=np.ascontiguousarray(arr.positions_enu_m, dtype=float),
        kc=k * np.cos(el),
        ks=k * np.sin(el),
        k=k,
        beam_deg=float(np.degrees(wavelength_m(freq_hz) / spectra.aperture_m(arr))),
        fit_thr=np.array([np.inf] + [_fit_threshold(M - K) for K in range(1, M)]),
        max_sigma_deg=(b - a) / np.sqrt(12),
        cal=cal,
        window=int(options.integrate),
    )


def _prepare(
    data: IqBlock | np.ndarray,
    array: Array,
    freq_hz: float | None,
    num_snapshots: int | None,
    opts: DoaOptions,
) -> tuple[np.ndarray, Array, float, int, float]:
    """(R, effective array, freq_hz, N, time_s) after calibration, smoothing and FB."""
    M = array.num_elements
    if isinstance(data, IqBlock):
        if data.num_channels != M:
            raise InputError(
                f"recording has {data.num_channels} channels but the array has {M} elements"
            )
        R = spectra.covariance(data.samples)
        N = data.num_samples
        f = data.center_freq_hz if freq_hz is None else freq_hz
        t = data.start_s
    else:
        R = np.asarray(data)
        if R.shape != (M, M):
            raise InputError(f"covariance must be {M}×{M} for this array, got shape {R.shape}")
        if not np.all(np.isfinite(R)):
            raise InputError("covariance contains NaN or Inf values")
        if num_snapshots is None or num_snapshots < M:
            raise InputError(
                f"num_snapshots must be given with a covariance and be >= {M}, got "
                f"{num_snapshots!r}"
            )
        if freq_hz is None:
            raise InputError("freq_hz is required with a covariance")
        N, f, t = int(num_snapshots), freq_hz, 0.0
    wavelength_m(f)
    if opts.calibration is not None:
        R = opts.calibration.apply_covariance(R)
    arr = array
    if opts.smoothing:
        L = (M // 2 + 1) if opts.smoothing is True else int(opts.smoothing)
        if opts.num_sources is not None and opts.num_sources >= L:
            raise InputError(
                f"spatial smoothing subarray of {L} elements resolves at most {L - 1} sources, "
                f"asked for {opts.num_sources}"
            )
        R, arr = spectra.spatial_smoothing(R, array, L)
    if opts.forward_backward:
        R = spectra.forward_backward(R, arr)
    return R, arr, float(f), N, float(t)


def _count(lam: np.ndarray, N: int, M: int, opts: DoaOptions) -> int:
    ns = opts.sources(M)
    if ns >= 0:
        return ns
    return int(kernels.count_sources(lam, N, CRITERIA[opts.criterion], M - 1, MODEL_FLOOR))


def _window_counts(
    prep: list[tuple], frame_len: int, opts: DoaOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the source count of the `opts.integrate` frames around it and the α² of each
    source (`_kernels.window_counts` on the prepared covariances); (zeros, ones) when K is given
    or integrate is 1."""
    F, arr, f = len(prep), prep[0][1], prep[0][2]
    M = arr.num_elements
    if opts.num_sources is not None or min(opts.integrate, F) < 2:
        return np.zeros(F, np.int64), np.ones((F, M - 1))
    S = np.ascontiguousarray(np.stack([p[0] for p in prep]), dtype=complex)
    return kernels.window_counts(S, frame_len, plan(arr, f, opts, False))


def _uncertainty(
    arr: Array,
    az: np.ndarray,
    f: float,
    R: np.ndarray,
    lam: np.ndarray,
    E: np.ndarray,
    N: int,
    K: int,
    r: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sigma_deg, confidence, source powers) per bearing of one frame (grid-free methods)."""
    M = arr.num_elements
    noise = max(float(np.mean(lam[: M - K])), 1e-12 * float(lam[-1]))
    kc = 2 * np.pi / wavelength_m(f)
    th = np.radians(az)
    pos = np.ascontiguousarray(arr.positions_enu_m)
    var, powers, h, _ = kernels.uncertainty(pos, th, kc, R, noise, N)
    Wh = np.ascontiguousarray(E[:, : M - K].conj().T)
    null = kernels.quad_derivs(Wh, pos, th, kc, 0.0)[0]
    beam_deg = float(np.degrees(wavelength_m(f) / spectra.aperture_m(arr)))
    a, b, _ = spectra.scan_sector(arr)
    sigma, conf = kernels.sigma_confidence(
        var, powers, h, null, noise, np.asarray(r, float), N, K, M, beam_deg,
        _fit_threshold(M - K), (b - a) / np.sqrt(12),
    )  # fmt: skip
    return sigma, conf, powers


def _estimates(out: tuple, method: str, times: np.ndarray, first_frame: int) -> list[DoaEstimate]:
    Ks, az, sg, cf, _ = out
    return [
        DoaEstimate(
            tuple(az[i, : Ks[i]].tolist()),
            tuple(sg[i, : Ks[i]].tolist()),
            tuple(cf[i, : Ks[i]].tolist()),
            method,
            float(times[i]),
            first_frame + i,
        )
        for i in range(len(Ks))
    ]


def estimate_raw(
    x: np.ndarray,
    array: Array,
    freq_hz: float,
    frame_len: int,
    options: DoaOptions,
    offset: float = 0.0,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The compiled grid path on consecutive frames of `frame_len` snapshots of x, either
    complex64 (M, T) or a recording's interleaved components (T, M, 2) of any datatype, read as
    scale·(x − offset): (K (F,), azimuth_deg, sigma_deg, confidence (F, M−1) NaN-padded).
    Raises InputError naming the first frame with NaN/Inf samples."""
    if not options.compiled:
        raise InputError(f"estimate_raw runs the grid methods only, not {options.method!r}")
    p = plan(array, float(freq_hz), options)
    out = kernels.estimate_frames_core(x, int(frame_len), float(offset), float(scale), p)
    if out[4] >= 0:
        raise InputError(f"samples contain NaN or Inf values (frame {int(out[4])} of the block)")
    return out[:4]


def estimate(
    data: IqBlock | np.ndarray,
    array: Array,
    freq_hz: float | None = None,
    method: str = "music",
    num_sources: int | None = None,
    *,
    num_snapshots: int | None = None,
    step_deg: float = 0.1,
    forward_backward: bool = False,
    smoothing: int | bool | None = None,
    calibration: Calibration | None = None,
    criterion: str = "tw",
    elevation_deg: float = 0.0,
    frame: int = 0,
    options: DoaOptions | None = None,
) -> DoaEstimate:
    """Bearings of the sources in one frame.

    `data` is an IqBlock (channels × snapshots; frequency and time from it) or a covariance
    matrix (then `freq_hz` and `num_snapshots` are required). `num_sources` None counts them with
    `criterion` (tw, mdl or aic). `smoothing` True or a subarray length L applies spatial
    smoothing (ULA only; True means L = M//2 + 1) for coherent sources. A linear array reports
    the half-plane left of its axis (see `spectra.scan_sector`). Bearings are degrees in
    [0, 360), strongest source first; sigma and confidence as in the module docstring.
    `options` (a DoaOptions) replaces the keyword settings when given.
    """
    opts = _options(
        options,
        method=method,
        num_sources=num_sources,
        step_deg=step_deg,
        forward_backward=forward_backward,
        smoothing=smoothing,
        calibration=calibration,
        criterion=criterion,
        elevation_deg=elevation_deg,
    )
    if (
        opts.compiled
        and isinstance(data, IqBlock)
        and data.samples.ndim == 2
        and data.samples.dtype == np.complex64
        and data.samples.strides[1] == 8
    ):
        M = array.num_elements
        x = data.samples
        if x.shape[0] != M:
            raise InputError(f"recording has {x.shape[0]} channels but the array has {M} elements")
        if x.shape[1] < M:
            raise InputError(
                f"need at least as many snapshots as elements: got {x.shape[1]} snapshots for "
                f"{M} channels"
            )
        f = data.center_freq_hz if freq_hz is None else freq_hz
        wavelength_m(f)
        try:
            out = estimate_raw(x, array, f, x.shape[1], opts)
        except InputError as e:
            if "NaN" in str(e):
                raise InputError("samples contain NaN or Inf values") from None
            raise
        return _estimates((*out, -1), opts.method, np.array([data.start_s]), frame)[0]
    return _estimate_prepared(_prepare(data, array, freq_hz, num_snapshots, opts), opts, frame)


def _estimate_prepared(
    prepared: tuple, opts: DoaOptions, frame: int, min_k: int = 0
) -> DoaEstimate:
    """`estimate` from `_prepare`'s output; a counted K is at least `min_k`."""
    R, arr, f, N, t = prepared
    M = arr.num_elements
    if opts.method in GRID_METHODS:
        _, K, az, sigma, conf = kernels.estimate_core(R, N, plan(arr, f, opts, False), min_k)
        return DoaEstimate(
            tuple(az.tolist()), tuple(sigma.tolist()), tuple(conf.tolist()), opts.method, t, frame
        )
    lam, E = np.linalg.eigh(R)
    K = _count(lam, N, M, opts)
    if opts.num_sources is None:
        K = max(K, min(min_k, M - 1))
    if K == 0:
        return DoaEstimate((), (), (), opts.method, t, frame)
    if opts.method == "ml":
        from unseen.doa import ml

        az = ml.bearings(R, arr, f, K, step_deg=opts.step_deg, elevation_deg=opts.elevation_deg)
    else:
        az = ESTIMATORS[opts.method](lam, E, arr, f, K)
    az = np.mod(az, 360.0)
    sigma, conf, powers = _uncertainty(arr, az, f, R, lam, E, N, K, np.zeros(K))
    idx = np.argsort(-powers, kind="stable")
    return DoaEstimate(
        tuple(float(az[i]) for i in idx),
        tuple(float(sigma[i]) for i in idx),
        tuple(float(conf[i]) for i in idx),
        opts.method,
        t,
        frame,
    )


def pseudo_spectrum(
    data: IqBlock | np.ndarray,
    array: Array,
    freq_hz: float | None = None,
    method: str = "music",
    num_sources: int | None = None,
    *,
    num_snapshots: int | None = None,
    step_deg: float = 0.1,
    forward_backward: bool = False,
    smoothing: int | bool | None = None,
    calibration: Calibration | None = None,
    criterion: str = "tw",
    options: DoaOptions | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(grid_deg, spectrum normalised to peak 1) for polar plots; grid-free methods show the
    MUSIC spectrum. Arguments as for `estimate`."""
    opts = _options(
        options,
        method=method,
        num_sources=num_sources,
        step_deg=step_deg,
        forward_backward=forward_backward,
        smoothing=smoothing,
        calibration=calibration,
        criterion=criterion,
    )
    R, arr, f, N, _ = _prepare(data, array, freq_hz, num_snapshots, opts)
    lam, _ = np.linalg.eigh(R)
    K = _count(lam, N, arr.num_elements, opts)
    kind = opts.method if opts.method in GRID_METHODS else "music"
    grid, P = spectra.spectrum(R, arr, f, kind, max(K, 1), opts.step_deg)
    return np.mod(grid, 360.0), P / P.max()


def estimate_frames(
    block: IqBlock,
    array: Array,
    frame_len: int,
    method: str = "music",
    num_sources: int | None = None,
    *,
    step_deg: float = 0.1,
    calibration: Calibration | None = None,
    criterion: str = "tw",
    forward_backward: bool = False,
    smoothing: int | bool | None = None,
    first_frame: int = 0,
    options: DoaOptions | None = None,
) -> list[DoaEstimate]:
    """`estimate` on each of the consecutive frames of `frame_len` samples in `block` (a
    trailing partial frame is dropped), batched: one compiled call for all frames. Same results
    as calling `estimate` per frame; frame i starts at block.start_s + i·frame_len/rate and is
    numbered first_frame + i."""
    opts = _options(
        options,
        method=method,
        num_sources=num_sources,
        step_deg=step_deg,
        forward_backward=forward_backward,
        smoothing=smoothing,
        calibration=calibration,
        criterion=criterion,
    )
    M = array.num_elements
    if block.num_channels != M:
        raise InputError(
            f"recording has {block.num_channels} channels but the array has {M} elements"
        )
    if frame_len < M:
        raise InputError(
            f"need at least as many snapshots as elements: got {frame_len} snapshots for "
            f"{M} channels"
        )
    F = block.num_samples // frame_len
    fs, f = block.sample_rate_hz, block.center_freq_hz
    wavelength_m(f)
    opts.sources(M)
    x = block.samples
    if not (x.dtype == np.complex64 and x.strides[-1] == 8):
        x = np.ascontiguousarray(x, dtype=np.complex64)
    times = block.start_s + np.arange(F) * frame_len / fs
    if F == 0:
        return []
    if not opts.compiled:
        prep = [
            _prepare(
                IqBlock(x[:, i * frame_len : (i + 1) * frame_len], fs, f, float(times[i])),
                array, None, None, opts,
            )
            for i in range(F)
        ]  # fmt: skip
        mins, al = _window_counts(prep, frame_len, opts)
        out = []
        for i in range(F):
            e = _estimate_prepared(prep[i], opts, first_frame + i, int(mins[i]))
            a = al[i, : e.num_sources]
            cap = plan(prep[i][1], prep[i][2], opts, False).max_sigma_deg
            out.append(
                replace(
                    e,
                    sigma_deg=tuple(np.minimum(np.divide(e.sigma_deg, a), cap).tolist()),
                    confidence=tuple((np.multiply(e.confidence, a)).tolist()),
                )
            )
        return out
    try:
        out = estimate_raw(x, array, f, frame_len, opts)
    except InputError as e:
        if "NaN" in str(e):
            raise InputError("samples contain NaN or Inf values") from None
        raise
    return _estimates((*out, -1), opts.method, times, first_frame)
