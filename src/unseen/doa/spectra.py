"""Sample covariance, its preprocessing, and the Bartlett, Capon and MUSIC spatial spectra.

All three spectra are quadratic forms q(θ) = a(θ)ᴴ·Q·a(θ) = ‖Wᴴa(θ)‖² of one eigendecomposition
R = E·Λ·Eᴴ:

    Bartlett  P = q / M²,  Q = R           (W = E·Λ^½)    peaks are maxima of q
    Capon     P = 1 / q,   Q = R⁻¹         (W = E·Λ^-½)   peaks are minima of q
    MUSIC     P = 1 / q,   Q = E_n·E_nᴴ    (W = E_n)      E_n the M−K noise eigenvectors

so one grid product Wᴴ·A scans any of them and one Newton iteration on the exact q refines any
peak below the grid.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from unseen.doa import _aot as kernels
from unseen.doa.array import Array, wavelength_m
from unseen.errors import GeometryError, InputError

SPECTRA = ("bartlett", "capon", "music")
MAXIMISE = {"bartlett": True, "capon": False, "music": False}


def covariance(samples: np.ndarray) -> np.ndarray:
    """Sample covariance R = X·Xᴴ / N of (..., M, N) snapshots, complex128 (..., M, M)."""
    x = np.asarray(samples)
    if x.ndim < 2:
        raise InputError(f"samples must have shape (channels, snapshots), got {x.shape}")
    M, N = x.shape[-2:]
    if N < M:
        raise InputError(
            f"need at least as many snapshots as elements: got {N} snapshots for {M} channels"
        )
    if x.ndim == 2 and x.dtype == np.complex64 and x.strides[1] == x.itemsize:
        S = kernels.covariance_c64(x)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            S = (x @ np.swapaxes(x, -1, -2).conj()).astype(np.complex128)
    if not np.all(np.isfinite(np.trace(S, axis1=-2, axis2=-1))):
        raise InputError("samples contain NaN or Inf values")
    return S / N


def centro_permutation(array: Array) -> np.ndarray | None:
    """The permutation π with p_π(m) = 2c − p_m (c the centroid), or None if there is none."""
    p = array.positions_enu_m
    q = 2 * p.mean(axis=0) - p
    d = np.linalg.norm(p[None, :, :] - q[:, None, :], axis=-1)
    tol = 1e-6 * max(1.0, np.abs(p).max())
    perm = d.argmin(axis=1)
    if np.all(d[np.arange(len(p)), perm] < tol) and len(set(perm.tolist())) == len(p):
        return perm
    return None


def forward_backward(R: np.ndarray, array: Array) -> np.ndarray:
    """R_fb = (R + Π·R*·Πᵀ)/2 for a centro-symmetric array (Π its reflection permutation).

    Valid because Π·a*(θ) = a(θ)·e^{jφ(θ)}: the backward data share the signal subspace.
    """
    perm = centro_permutation(array)
    if perm is None:
        raise GeometryError(
            "forward-backward averaging needs a centro-symmetric array (every element mirrored "
            "through the centre); this array is not"
        )
    return 0.5 * (R + R[..., perm[:, None], perm[None, :]].conj())


def ula_axis(array: Array) -> tuple[np.ndarray, float]:
    """For a uniform linear array: unit axis vector e (element 0 → M−1) and spacing d in metres."""
    if not array.is_ula:
        raise GeometryError(
            f"this method needs a uniform linear array; the {array.kind} array given is not one"
        )
    p = array.positions_enu_m
    step = p[1] - p[0]
    d = float(np.linalg.norm(step))
    return step / d, d


def spatial_smoothing(R: np.ndarray, array: Array, length: int) -> tuple[np.ndarray, Array]:
    """Average the covariances of the M−L+1 overlapping L-element subarrays of a ULA.

    Decorrelates coherent sources (up to M−L+1 of them; 2(M−L+1) with forward–backward).
    Returns the L×L covariance and the subarray (elements 0..L−1) it belongs to.
    """
    ula_axis(array)
    M = array.num_elements
    if not 2 <= length <= M:
        raise InputError(f"spatial smoothing subarray length must be in [2, {M}], got {length}")
    n = M - length + 1
    Rs = sum(R[..., i : i + length, i : i + length] for i in range(n)) / n
    sub = Array(array.elements_m[:length], array.heading_deg, array.kind)
    return Rs, sub


@lru_cache(maxsize=64)
def aperture_m(array: Array) -> float:
    """Largest horizontal distance between two elements, metres."""
    p = array.positions_enu_m[:, :2]
    return float(np.max(np.linalg.norm(p[:, None] - p[None], axis=-1)))


def horizontal_axis(array: Array) -> np.ndarray | None:
    """Unit horizontal axis (element 0 → last) if the elements are collinear in plan, else None."""
    p = array.positions_enu_m[:, :2]
    c = p - p.mean(axis=0)
    s = np.linalg.svd(c, compute_uv=False)
    if s[0] < 1e-9:
        raise GeometryError("all array elements are stacked vertically: azimuth is unobservable")
    if s[1] > 1e-9 * s[0]:
        return None
    e = p[-1] - p[0]
    e = e / np.linalg.norm(e)
    return np.array([e[0], e[1], 0.0])


@lru_cache(maxsize=64)
def scan_sector(array: Array) -> tuple[float, float, bool]:
    """(start_deg, stop_deg, circular) the array can tell apart.

    A planar array scans the full circle. A linear array cannot tell a bearing from its mirror
    image in the axis, so it scans the half-plane to the left of the axis walking from element 0
    to the last: for `Array.ula` (west → east) the half-plane north of the axis, i.e. broadside
    (the heading) ± 90°.
    """
    e = horizontal_axis(array)
    if e is None:
        return 0.0, 360.0, True
    axis_deg = float(np.degrees(np.arctan2(e[0], e[1])))
    return axis_deg - 180.0, axis_deg, False


MAX_STEP_DEG = 10.0  # the coarsest scan grid


def scan_grid(array: Array, step_deg: float = 0.1) -> np.ndarray:
    """Azimuths (degrees, true) of the scan: [0, 360) or the linear array's half-plane inclusive."""
    if not np.isfinite(step_deg) or not 0 < step_deg <= MAX_STEP_DEG:
        raise InputError(f"grid step must be in (0, {MAX_STEP_DEG:g}] degrees, got {step_deg!r}")
    a, b, circ = scan_sector(array)
    if circ:
        return np.arange(round(360 / step_deg)) * (360 / round(360 / step_deg))
    n = round((b - a) / step_deg)
    return np.linspace(a, b, n + 1)


@lru_cache(maxsize=32)
def _grid(
    array: Array, freq_hz: float, step_deg: float, elevation_deg: float
) -> tuple[np.ndarray, np.ndarray, bool]:
    grid = scan_grid(array, step_deg)
    A = array.steering(grid, freq_hz, elevation_deg).astype(np.complex64)
    A.setflags(write=False)
    grid.setflags(write=False)
    return grid, A, scan_sector(array)[2]


@lru_cache(maxsize=32)
def steering_planes(
    array: Array, freq_hz: float, step_deg: float = 0.1, elevation_deg: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """`steering_grid` with A split into contiguous float32 planes: (grid_deg, Re A, Im A,
    circular), for SIMD scans over the grid."""
    grid, A, circ = steering_grid(array, freq_hz, step_deg, elevation_deg)
    re, im = np.ascontiguousarray(A.real), np.ascontiguousarray(A.imag)
    re.setflags(write=False)
    im.setflags(write=False)
    return grid, re, im, circ


def steering_grid(
    array: Array, freq_hz: float, step_deg: float = 0.1, elevation_deg: float = 0.0
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Cached (grid_deg, A complex64 (M, G), circular) per (array, frequency, step, elevation)."""
    wavelength_m(freq_hz)
    return _grid(array, float(freq_hz), float(step_deg), float(elevation_deg))


def weights(method: str, evals: np.ndarray, evecs: np.ndarray, num_sources: int) -> np.ndarray:
    """W with Q = W·Wᴴ for `method` from R's eigenpairs (ascending eigenvalues)."""
    if method == "music":
        return evecs[..., : evecs.shape[-1] - num_sources]
    lam = np.maximum(evals, 1e-12 * np.max(evals, axis=-1, keepdims=True))[..., None, :]
    if method == "capon":
        return evecs / np.sqrt(lam)
    if method == "bartlett":
        return evecs * np.sqrt(lam)
    raise InputError(f"unknown spectrum {method!r}: expected one of {', '.join(SPECTRA)}")


def quadratic(W: np.ndarray, A: np.ndarray) -> np.ndarray:
    """q = ‖Wᴴ·A‖² per column of A (per scan direction)."""
    B = np.swapaxes(W, -1, -2).conj().astype(A.dtype) @ A
    return (B.real * B.real + B.imag * B.imag).sum(axis=-2).astype(np.float64)


def to_spectrum(method: str, q: np.ndarray, num_elements: int) -> np.ndarray:
    """The pseudo-spectrum P from the quadratic form q (see the module docstring)."""
    if method == "bartlett":
        return q / num_elements**2
    return 1.0 / np.maximum(q, 1e-300)


def spectrum(
    R: np.ndarray,
    array: Array,
    freq_hz: float,
    method: str = "music",
    num_sources: int = 1,
    step_deg: float = 0.1,
    elevation_deg: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(grid_deg, P): the pseudo-spectrum of covariance R over the array's scan grid."""
    lam, E = np.linalg.eigh(R)
    grid, A, _ = steering_grid(array, freq_hz, step_deg, elevation_deg)
    q = quadratic(weights(method, lam, E, num_sources), A)
    return grid, to_spectrum(method, q, array.num_elements)


def local_peaks(score: np.ndarray, circular: bool) -> np.ndarray:
    """Indices of strict-left local maxima of `score` (wrapping around if circular)."""
    if circular:
        left, right = np.roll(score, 1), np.roll(score, -1)
        return np.flatnonzero((score > left) & (score >= right))
    s = np.concatenate(([-np.inf], score, [-np.inf]))
    return np.flatnonzero((s[1:-1] > s[:-2]) & (s[1:-1] >= s[2:]))


def refine(
    W: np.ndarray,
    array: Array,
    freq_hz: float,
    az_deg: np.ndarray,
    maximise: bool,
    max_step_deg: float,
    elevation_deg: float = 0.0,
    iterations: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps on the exact q(θ) = ‖Wᴴa(θ)‖² from `az_deg`; returns (azimuths, q).

    q' = 2·Re(b₁ᴴb), q'' = 2·Re(b₂ᴴb) + 2‖b₁‖² with b = Wᴴa, b₁ = Wᴴa', b₂ = Wᴴa''. A step is
    taken only where q'' has the sign of the extremum sought, is clipped to `max_step_deg`, and
    kept only if it improves q.
    """
    th0 = np.radians(np.asarray(az_deg, dtype=float))
    Wh = np.ascontiguousarray(W.conj().T, dtype=np.complex128)
    k = 2 * np.pi / wavelength_m(freq_hz)
    el = np.radians(elevation_deg)
    kc, ks = k * np.cos(el), k * np.sin(el)
    pos = array.positions_enu_m
    sign = -1.0 if maximise else 1.0
    th, q = kernels.newton(Wh, pos, th0, kc, ks, np.radians(max_step_deg), sign, iterations)
    return np.degrees(th), q


def parabolic(score: np.ndarray, idx: np.ndarray, circular: bool) -> np.ndarray:
    """Sub-grid offsets (in grid steps, |δ| ≤ 0.5) of the vertex through the three samples."""
    n = score.size
    if circular:
        lo, hi = score[(idx - 1) % n], score[(idx + 1) % n]
    else:
        lo = score[np.maximum(idx - 1, 0)]
        hi = score[np.minimum(idx + 1, n - 1)]
    c = score[idx]
    den = lo - 2 * c + hi
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(den < 0, 0.5 * (lo - hi) / den, 0.0)
    edge = ~circular & ((idx == 0) | (idx == n - 1))
    return np.where(edge, 0.0, np.clip(d, -0.5, 0.5))
