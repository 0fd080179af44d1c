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

import dataclasses
from functools import lru_cache

import numpy as np
from scipy.special import gammaincinv

from unseen.doa import spectra, subspace
from unseen.doa._kernels import (
    covariance_frames,
    peaks_frames,
    quad_derivs,
    refine_frames,
    top_peaks,
    uncertainty,
)
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
    sigma, conf, powers = _uncertainty(arr, az, f, R, lam, E, N, K, r)
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
    trailing partial frame is dropped), batched: one pass of compiled code per stage for all
    frames. Same results as calling `estimate` per frame; frame i starts at
    block.start_s + i·frame_len/rate and is numbered first_frame + i."""
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
    S = covariance_frames(x.view(np.float32), frame_len, F)
    if not np.all(np.isfinite(np.trace(S, axis1=-2, axis2=-1))):
        raise InputError("samples contain NaN or Inf values")
    R = S / frame_len
    if calibration is not None:
        R = calibration.apply_covariance(R)
    lam, E = np.linalg.eigh(R)
    if num_sources is None:
        Ks = np.array([count_sources(v, frame_len, criterion, M - 1) for v in lam])
    else:
        Ks = np.full(F, int(num_sources))
    out: list[DoaEstimate | None] = [None] * F
    grid, A, circ = spectra.steering_grid(array, f, step_deg)
    step = grid[1] - grid[0]
    maximise = spectra.MAXIMISE[method]
    kc = 2 * np.pi / wavelength_m(f)
    pos = array.positions_enu_m
    for K in np.unique(Ks):
        sel = np.flatnonzero(Ks == K)
        if K == 0:
            for i in sel:
                out[i] = DoaEstimate((), (), (), method, float(times[i]), int(first_frame + i))
            continue
        W = spectra.weights(method, lam[sel], E[sel], K)
        if method == "music" and K < M - K:
            score = spectra.quadratic(E[sel][:, :, M - K :], A) - M
        else:
            score = spectra.quadratic(W, A)
            if not maximise:
                score = -score
        idx, off, rival, count = peaks_frames(np.ascontiguousarray(score), K, circ)
        noise = np.maximum(lam[sel, : M - K].mean(axis=1), 1e-12 * lam[sel, -1])
        Wh = np.ascontiguousarray(np.swapaxes(W, -1, -2).conj())
        En_h = np.ascontiguousarray(np.swapaxes(E[sel][:, :, : M - K], -1, -2).conj())
        th, q, var, powers, h, null = refine_frames(
            Wh,
            pos,
            np.radians(grid[idx] + off * step),
            kc,
            0.0,
            np.radians(step),
            -1.0 if maximise else 1.0,
            2,
            En_h,
            R[sel],
            noise,
            frame_len,
        )
        P = spectra.to_spectrum(method, q, M)
        r_q = rival if maximise else np.maximum(-rival, 1e-300)
        r_val = spectra.to_spectrum(method, r_q, M)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(
                np.isfinite(rival)[:, None],
                np.clip(r_val[:, None] / np.maximum(P, 1e-300), 0.0, 1.0),
                0.0,
            )
        sigma, conf = _sigma_conf(array, f, frame_len, K, var, powers, h, null, noise[:, None], r)
        az = np.mod(np.degrees(th), 360.0)
        for j, i in enumerate(sel):
            if count[j] < K:  # fewer peaks than sources: the single-frame path decides
                out[i] = estimate(
                    R[i], array, f, method, int(K), num_snapshots=frame_len, step_deg=step_deg
                )
                out[i] = DoaEstimate(
                    *dataclasses.astuple(out[i])[:4], float(times[i]), first_frame + i
                )
                continue
            o = np.argsort(-powers[j], kind="stable")
            out[i] = DoaEstimate(
                tuple(az[j, o].tolist()),
                tuple(sigma[j, o].tolist()),
                tuple(conf[j, o].tolist()),
                method,
                float(times[i]),
                int(first_frame + i),
            )
    return out  # type: ignore[return-value]
