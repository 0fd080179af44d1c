"""The DOA stage: one frame (IqBlock) or covariance in, one DoaEstimate out.

    R → [calibration] → [spatial smoothing] → [forward–backward] → eigh → source count (MDL/AIC)
      → bearings (grid scan + parabolic + Newton refinement, or root-MUSIC / ESPRIT)
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
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import gammaincinv

from unseen.doa import spectra, subspace
from unseen.doa._kernels import quad_derivs, top_peaks, uncertainty
from unseen.doa.array import Array, wavelength_m
from unseen.doa.calibrate import Calibration
from unseen.doa.order import count_sources
from unseen.errors import InputError
from unseen.types import DoaEstimate, IqBlock

METHODS = ("bartlett", "capon", "music", "root-music", "esprit")
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


def _uncertainty(
    arr: Array,
    az: np.ndarray,
    f: float,
    R: np.ndarray,
    lam: np.ndarray,
    E: np.ndarray,
    N: int,
    K: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sigma_crb_deg, sigma_model_deg, threshold factor t, source powers) per bearing.

    Model fit: the MUSIC null depth q = ‖E_nᴴa(θ̂)‖² has, for a correct model, expected value
    E[q] ≈ (M−K)(1 + M·snr)/(N·M·snr²) (first-order subspace perturbation; q/E[q] is then
    ~ χ²_{2(M−K)}/(2(M−K))). Above its 99th percentile the model does not fit (calibration
    error, coherent multipath, wideband signal): the misfit a(θ̂) − a_true is taken as spread
    evenly over the M−K−1 real directions a pure phase error can take besides the one the fit
    absorbs (∂a/∂θ), so the bearing error along Π⊥∂a/∂θ is σ_model² = q / ((M−K−1)·‖Π⊥d‖²).
    Otherwise σ_model = 0.
    """
    M = arr.num_elements
    noise = max(float(np.mean(lam[: M - K])), 1e-12 * float(lam[-1]))
    beam_deg = np.degrees(wavelength_m(f) / spectra.aperture_m(arr))
    kc = 2 * np.pi / wavelength_m(f)
    th = np.radians(az)
    pos = arr.positions_enu_m
    var, powers, h, _ = uncertainty(pos, th, kc, R, noise, N)
    s = np.degrees(np.sqrt(np.maximum(var, 0.0)))
    snr = np.maximum(powers / noise, 1e-12)
    Wh = np.ascontiguousarray(E[:, : M - K].conj().T)
    q = quad_derivs(Wh, pos, th, kc, 0.0)[0]
    ratio = q / ((M - K) * (1 + M * snr) / (N * M * snr**2))
    with np.errstate(divide="ignore", invalid="ignore"):
        model = np.degrees(np.sqrt(q / (max(M - K - 1, 1) * np.maximum(h, 1e-300))))
    model = np.where(ratio > _fit_threshold(M - K), model, 0.0)
    total = np.maximum(s, model)
    with np.errstate(divide="ignore", over="ignore"):
        t = 1.0 - np.exp(-((beam_deg / total) ** 2) / 100.0)
    return s, model, t, powers


def _scan(
    method: str,
    W: np.ndarray,
    arr: Array,
    f: float,
    K: int,
    step_deg: float,
    elevation_deg: float,
    Es: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(azimuths_deg, rival ratio r) of the K strongest refined spectral peaks."""
    grid, A, circ = spectra.steering_grid(arr, f, step_deg, elevation_deg)
    M = arr.num_elements
    maximise = spectra.MAXIMISE[method]
    if Es is not None and Es.shape[1] < W.shape[1]:
        # MUSIC through the smaller signal subspace: ‖E_nᴴa‖² = ‖a‖² − ‖E_sᴴa‖², ‖a‖² = M
        score = spectra.quadratic(Es, A) - M
    else:
        score = spectra.quadratic(W, A)
        if not maximise:
            score = -score
    top, off, rival = top_peaks(score, K, circ)
    if top.size == 0:
        top, off = np.array([int(np.argmax(score))]), np.zeros(1)
    step = grid[1] - grid[0]
    az0 = grid[top] + off * step
    az, qr = spectra.refine(W, arr, f, az0, maximise, step, elevation_deg)
    P = spectra.to_spectrum(method, qr, arr.num_elements)
    if np.isfinite(rival):
        r_q = np.array([rival if maximise else max(-rival, 1e-300)])
        r_val = spectra.to_spectrum(method, r_q, arr.num_elements)[0]
        r = np.clip(r_val / np.maximum(P, 1e-300), 0.0, 1.0)
    else:
        r = np.zeros(top.size)
    return az, r


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
    R, arr, f, N, t = _prepare(
        data, array, freq_hz, num_snapshots, calibration, smoothing, forward_backward, num_sources
    )
    M = arr.num_elements
    lam, E = np.linalg.eigh(R)
    if num_sources is None:
        K = count_sources(lam, N, criterion, M - 1)
    else:
        if not 0 <= num_sources <= M - 1:
            raise InputError(
                f"num_sources must be in [0, {M - 1}] for {M} (effective) elements, "
                f"got {num_sources}"
            )
        K = int(num_sources)
    if K == 0:
        return DoaEstimate((), (), (), method, t, frame)
    if method in GRID_METHODS:
        W = spectra.weights(method, lam, E, K)
        Es = E[:, M - K :] if method == "music" else None
        az, r = _scan(method, W, arr, f, K, step_deg, elevation_deg, Es)
    elif method == "root-music":
        az, r = subspace.root_music(E[:, : M - K], arr, f, K), np.zeros(K)
    else:
        az, r = subspace.esprit(E[:, M - K :], arr, f), np.zeros(K)
    az = np.mod(az, 360.0)
    s, model, thr, powers = _uncertainty(arr, az, f, R, lam, E, N, K)
    sector = spectra.scan_sector(arr)
    worst = (sector[1] - sector[0]) / np.sqrt(12)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.minimum(np.where(thr > 0, np.maximum(s, model) / thr, np.inf), worst)
    conf = np.clip(thr * (1 - r), 0.0, 1.0)
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
