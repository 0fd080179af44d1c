"""The DOA stage: one frame (IqBlock) or covariance in, one DoaEstimate out.

    R → [calibration] → [spatial smoothing] → [forward–backward] → eigh → source count (MDL/AIC)
      → bearings (grid scan + parabolic + Newton refinement, or root-MUSIC / ESPRIT, or ML:
        WSF by alternating projection + Gauss–Newton, `ml`)
      → sigma (stochastic CRB at the estimated powers and noise) and confidence

Uncertainty. σ_CRB,k is the square root of the stochastic CRB evaluated at the estimated
bearings, source covariance P̂ = A⁺(R − σ̂²I)A⁺ᴴ and noise σ̂² (mean of the M−K smallest
eigenvalues). With η_k = (beamwidth/σ_CRB,k)², beamwidth = λ/aperture, the threshold factor
t_k = 1 − exp(−η_k/100) (0.63 when σ is a tenth of a beamwidth, → 1 well above threshold) gives

    sigma_deg = σ_CRB / t,    confidence = t · (1 − r)

where r ∈ [0, 1] is, for scanned spectra, the height of the strongest unused spectral peak over
this peak's (a near-equal rival makes a bearing doubtful). Estimators at the threshold do worse
than the CRB, which this inflation only approximates; far above it MUSIC, root-MUSIC and ESPRIT
attain the bound for uncorrelated sources (tests check RMSE ≤ 1.3·CRB).

Speed. For the grid methods everything after calibration/smoothing/FB is one compiled call
(`_kernels.estimate_core`); from complex64 samples without smoothing or FB the covariance joins
it (`_kernels.estimate_block`, and `estimate_frames_core` over many frames). `_sigma_conf` is
the reference form of the sigma/confidence arithmetic the kernel repeats per bearing.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import gammaincinv

from unseen.doa import ml, spectra, subspace
from unseen.doa._kernels import (
    BARTLETT,
    CAPON,
    MUSIC,
    estimate_block,
    estimate_core,
    estimate_frames_core,
    quad_derivs,
    uncertainty,
)
from unseen.doa.array import Array, wavelength_m
from unseen.doa.calibrate import Calibration
from unseen.doa.order import count_sources
from unseen.errors import InputError
from unseen.types import DoaEstimate, IqBlock

METHODS = ("bartlett", "capon", "music", "root-music", "esprit", "ml")
GRID_METHODS = ("bartlett", "capon", "music")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InputError(f"unknown DOA method {method!r}: expected one of {', '.join(METHODS)}")


def _prepare(
    data: IqBlock | np.ndarray,
    array: Array,
    freq_hz: float | None,
    num_snapshots: int | None,
    calibration: Calibration | None,
    smoothing: int | bool | None,
    forward_backward: bool,
    num_sources: int | None,
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
    if calibration is not None:
        R = calibration.apply_covariance(R)
    arr = array
    if smoothing:
        L = (M // 2 + 1) if smoothing is True else int(smoothing)
        if num_sources is not None and num_sources >= L:
            raise InputError(
                f"spatial smoothing subarray of {L} elements resolves at most {L - 1} sources, "
                f"asked for {num_sources}"
            )
        R, arr = spectra.spatial_smoothing(R, array, L)
    if forward_backward:
        R = spectra.forward_backward(R, arr)
    return R, arr, float(f), N, float(t)


@lru_cache(maxsize=64)
def _fit_threshold(dof: int) -> float:
    """99th percentile of χ²_{2·dof} / (2·dof)."""
    return float(gammaincinv(dof, 0.99) / dof)


def _sigma_conf(
    arr: Array,
    f: float,
    N: int,
    K: int,
    var: np.ndarray,
    powers: np.ndarray,
    h: np.ndarray,
    null: np.ndarray,
    noise: np.ndarray | float,
    r: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(sigma_deg, confidence), any shape, from the CRB diagonal `var` (rad²), source powers,
    h = ‖Π⊥d‖², the MUSIC null depth q at the bearings, noise power and rival ratio r.

    Model fit: for a correct model E[q] ≈ (M−K)(1 + M·snr)/(N·M·snr²) (first-order subspace
    perturbation; q/E[q] is then ~ χ²_{2(M−K)}/(2(M−K))). Above its 99th percentile the model
    does not fit (calibration error, coherent multipath, wideband signal): the misfit is taken
    as spread evenly over the M−K−1 real directions a pure phase error can take besides the one
    the fit absorbs (∂a/∂θ), so the bearing error is σ_model² = q / ((M−K−1)·‖Π⊥d‖²).
    """
    M = arr.num_elements
    beam_deg = np.degrees(wavelength_m(f) / spectra.aperture_m(arr))
    s = np.degrees(np.sqrt(np.maximum(var, 0.0)))
    snr = np.maximum(powers / noise, 1e-12)
    ratio = null / ((M - K) * (1 + M * snr) / (N * M * snr**2))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        model = np.degrees(np.sqrt(null / (max(M - K - 1, 1) * np.maximum(h, 1e-300))))
        model = np.where(ratio > _fit_threshold(M - K), model, 0.0)
        total = np.maximum(s, model)
        t = 1.0 - np.exp(-((beam_deg / total) ** 2) / 100.0)
        a, b, _ = spectra.scan_sector(arr)
        sigma = np.minimum(np.where(t > 0, total / t, np.inf), (b - a) / np.sqrt(12))
    return sigma, np.clip(t * (1 - r), 0.0, 1.0)


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
    """(sigma_deg, confidence, source powers) per bearing of one frame."""
    M = arr.num_elements
    noise = max(float(np.mean(lam[: M - K])), 1e-12 * float(lam[-1]))
    kc = 2 * np.pi / wavelength_m(f)
    th = np.radians(az)
    pos = arr.positions_enu_m
    var, powers, h, _ = uncertainty(pos, th, kc, R, noise, N)
    Wh = np.ascontiguousarray(E[:, : M - K].conj().T)
    null = quad_derivs(Wh, pos, th, kc, 0.0)[0]
    sigma, conf = _sigma_conf(arr, f, N, K, var, powers, h, null, noise, r)
    return sigma, conf, powers


_CODES = {"music": MUSIC, "capon": CAPON, "bartlett": BARTLETT}


@lru_cache(maxsize=32)
def _setup(arr: Array, f: float, step_deg: float, elevation_deg: float) -> tuple:
    """The per-(array, frequency, grid) arguments of the compiled grid path after its first
    nine: (grid, Re A, Im A, circular, positions, k·cos el, k·sin el, k, beamwidth_deg,
    χ² fit thresholds by K, largest sigma_deg)."""
    grid, re, im, circ = spectra.steering_planes(arr, f, step_deg, elevation_deg)
    M = arr.num_elements
    k = 2 * np.pi / wavelength_m(f)
    el = np.radians(elevation_deg)
    beam_deg = float(np.degrees(wavelength_m(f) / spectra.aperture_m(arr)))
    thr = np.array([np.inf] + [_fit_threshold(M - K) for K in range(1, M)])
    a, b, _ = spectra.scan_sector(arr)
    pos = np.ascontiguousarray(arr.positions_enu_m, dtype=float)
    return (
        grid,
        re,
        im,
        circ,
        pos,
        k * np.cos(el),
        k * np.sin(el),
        k,
        beam_deg,
        thr,
        (b - a) / np.sqrt(12),
    )


def _num_sources(num_sources: int | None, M: int) -> int:
    """num_sources checked against M (effective) elements; −1 for None (count them)."""
    if num_sources is None:
        return -1
    if not 0 <= num_sources <= M - 1:
        raise InputError(
            f"num_sources must be in [0, {M - 1}] for {M} (effective) elements, got {num_sources}"
        )
    return int(num_sources)


def _criterion(criterion: str) -> bool:
    """True for AIC, False for MDL."""
    if criterion not in ("mdl", "aic"):
        raise InputError(f"source-count criterion must be one of ('mdl', 'aic'), got {criterion!r}")
    return criterion == "aic"


def _estimate_block(
    data: IqBlock,
    array: Array,
    freq_hz: float | None,
    method: str,
    num_sources: int | None,
    step_deg: float,
    calibration: Calibration | None,
    criterion: str,
    elevation_deg: float,
    frame: int,
) -> DoaEstimate:
    """`estimate` of a grid method on complex64 samples: one compiled call from samples to
    bearings (same checks and results as covariance → `_prepare` → `estimate_core`)."""
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
    if calibration is None:
        cal = _ones(M)
    else:
        calibration._check(M)
        cal = 1 / calibration.response
    _, az, sigma, conf, ok = estimate_block(
        x,
        cal,
        _num_sources(num_sources, M),
        _criterion(criterion),
        _CODES[method],
        *_setup(array, float(f), float(step_deg), float(elevation_deg)),
    )
    if not ok:
        raise InputError("samples contain NaN or Inf values")
    return DoaEstimate(
        tuple(az.tolist()),
        tuple(sigma.tolist()),
        tuple(conf.tolist()),
        method,
        float(data.start_s),
        frame,
    )


@lru_cache(maxsize=16)
def _ones(M: int) -> np.ndarray:
    return np.ones(M, complex)


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
    criterion: str = "mdl",
    elevation_deg: float = 0.0,
    frame: int = 0,
) -> DoaEstimate:
    """Bearings of the sources in one frame.

    `data` is an IqBlock (channels × snapshots; frequency and time from it) or a covariance
    matrix (then `freq_hz` and `num_snapshots` are required). `num_sources` None counts them with
    `criterion` (mdl or aic). `smoothing` True or a subarray length L applies spatial smoothing
    (ULA only; True means L = M//2 + 1) for coherent sources. A linear array reports the
    half-plane left of its axis (see `spectra.scan_sector`). Bearings are degrees in [0, 360),
    strongest source first; sigma and confidence as in the module docstring.
    """
    _check_method(method)
    if (
        method in GRID_METHODS
        and not smoothing
        and not forward_backward
        and isinstance(data, IqBlock)
        and data.samples.ndim == 2
        and data.samples.dtype == np.complex64
        and data.samples.strides[1] == 8
    ):
        return _estimate_block(
            data,
            array,
            freq_hz,
            method,
            num_sources,
            step_deg,
            calibration,
            criterion,
            elevation_deg,
            frame,
        )
    R, arr, f, N, t = _prepare(
        data, array, freq_hz, num_snapshots, calibration, smoothing, forward_backward, num_sources
    )
    M = arr.num_elements
    ns = _num_sources(num_sources, M)
    if method in GRID_METHODS:
        _, K, az, sigma, conf = estimate_core(
            R,
            N,
            ns,
            _criterion(criterion),
            _CODES[method],
            *_setup(arr, f, float(step_deg), float(elevation_deg)),
        )
        return DoaEstimate(
            tuple(az.tolist()), tuple(sigma.tolist()), tuple(conf.tolist()), method, t, frame
        )
    lam, E = np.linalg.eigh(R)
    K = count_sources(lam, N, criterion, M - 1) if ns < 0 else ns
    if K == 0:
        return DoaEstimate((), (), (), method, t, frame)
    if method == "root-music":
        az = subspace.root_music(E[:, : M - K], arr, f, K)
    elif method == "ml":
        az = ml.bearings(R, arr, f, K, step_deg=step_deg, elevation_deg=elevation_deg)
    else:
        az = subspace.esprit(E[:, M - K :], arr, f)
    az = np.mod(az, 360.0)
    sigma, conf, powers = _uncertainty(arr, az, f, R, lam, E, N, K, np.zeros(K))
    idx = np.argsort(-powers, kind="stable")
    return DoaEstimate(
        tuple(float(az[i]) for i in idx),
        tuple(float(sigma[i]) for i in idx),
        tuple(float(conf[i]) for i in idx),
        method,
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
    criterion: str = "mdl",
) -> tuple[np.ndarray, np.ndarray]:
    """(grid_deg, spectrum normalised to peak 1) for polar plots; root-MUSIC and ESPRIT show
    the MUSIC spectrum. Arguments as for `estimate`."""
    _check_method(method)
    R, arr, f, N, _ = _prepare(
        data, array, freq_hz, num_snapshots, calibration, smoothing, forward_backward, num_sources
    )
    lam, _ = np.linalg.eigh(R)
    M = arr.num_elements
    K = count_sources(lam, N, criterion, M - 1) if num_sources is None else num_sources
    kind = method if method in GRID_METHODS else "music"
    grid, P = spectra.spectrum(R, arr, f, kind, max(K, 1), step_deg)
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
    criterion: str = "mdl",
    forward_backward: bool = False,
    smoothing: int | bool | None = None,
    first_frame: int = 0,
) -> list[DoaEstimate]:
    """`estimate` on each of the consecutive frames of `frame_len` samples in `block` (a
    trailing partial frame is dropped), batched: one compiled call for all frames. Same results
    as calling `estimate` per frame; frame i starts at block.start_s + i·frame_len/rate and is
    numbered first_frame + i."""
    _check_method(method)
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
    x = block.samples
    if not (x.dtype == np.complex64 and x.flags.c_contiguous):
        x = np.ascontiguousarray(x, dtype=np.complex64)
    times = block.start_s + np.arange(F) * frame_len / fs
    if F == 0:
        return []
    simple = method in GRID_METHODS and not forward_backward and not smoothing
    if num_sources is not None and not 0 <= num_sources <= M - 1:
        raise InputError(f"num_sources must be in [0, {M - 1}] for {M} elements, got {num_sources}")
    if not simple:
        return [
            estimate(
                IqBlock(x[:, i * frame_len : (i + 1) * frame_len], fs, f, float(times[i])),
                array,
                method=method,
                num_sources=num_sources,
                step_deg=step_deg,
                calibration=calibration,
                criterion=criterion,
                forward_backward=forward_backward,
                smoothing=smoothing,
                frame=first_frame + i,
            )
            for i in range(F)
        ]
    if calibration is not None:
        calibration._check(M)
    cal = _ones(M) if calibration is None else 1 / calibration.response
    Ks, az, sg, cf, ok = estimate_frames_core(
        x,
        frame_len,
        cal,
        _num_sources(num_sources, M),
        _criterion(criterion),
        _CODES[method],
        *_setup(array, float(f), float(step_deg), 0.0),
    )
    if not ok:
        raise InputError("samples contain NaN or Inf values")
    out = []
    for i in range(F):
        n = int(Ks[i])
        out.append(
            DoaEstimate(
                tuple(az[i, :n].tolist()),
                tuple(sg[i, :n].tolist()),
                tuple(cf[i, :n].tolist()),
                method,
                float(times[i]),
                first_frame + i,
            )
        )
    return out
