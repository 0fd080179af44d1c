"""ML-class bearings for any array geometry: weighted subspace fitting (WSF) or deterministic ML.

Both minimise one subspace-fitting criterion over the K azimuths θ jointly,

    V(θ) = tr(Π⊥_A(θ)·Q),   Π⊥_A = I − A(AᴴA)⁻¹Aᴴ,

    DML  Q = R                                   (Ziskind & Wax 1988)
    WSF  Q = E_s·(Λ_s − σ̂²I)²·Λ_s⁻¹·E_sᴴ        (Viberg & Ottersten 1991; MODE for a ULA)

with E_s, Λ_s the K largest eigenpairs of R and σ̂² the mean of the others. WSF attains the
stochastic CRB for any source correlation (coherent sources get a weight → 0 instead of breaking
the subspace); DML is not efficient for random sources. On the correlated close pair of
`bench/resolution.py` the two resolve alike (within the binomial error) and sit on the CRB above
threshold; WSF is the default for its efficiency in general.

Search. Alternating projection (AP, Ziskind & Wax): sources are added one at a time, each
maximising tr(P_[B, a(θ)]·Q) with B the columns already chosen (the `beam` best partial sets
kept), then each θ_k in turn is re-optimised with the others fixed until a sweep changes
nothing. With U an orthonormal basis of B, c = Uᴴa, e = UᴴQa and ‖a‖² = M,

    tr(P_[B,a]·Q) − tr(P_B·Q) = (aᴴQa − 2·Re(eᴴc) + cᴴ(UᴴQU)c) / (M − ‖c‖²),

so a sweep costs O(K·M·G) after one Q·A_grid product. AP runs on a grid of 1/16 half-beamwidth
(or the scan step, if coarser; at most `spectra.MAX_STEP_DEG`, which a two-element array's
beam would exceed). Below the grid: the parabolic vertex of each coordinate's last scan, then
Gauss–Newton on V jointly (Viberg, Ottersten & Kailath 1991),

    ∂V/∂θ_k = −2·Re[(A⁺·Q·Π⊥·D)_kk],   H ≈ 2·Re[(Dᴴ·Π⊥·D) ⊙ (A⁺·Q·A⁺ᴴ)ᵀ],   D = ∂A/∂θ,

with steps halved until V decreases, from the AP point and from split starts (`refine`).

The numba kernels (AP, Gauss–Newton, `refine`) are in `_ml_kernels`, called through `_aot`
(compiled ahead of time at install, else just in time on first use).
"""

from __future__ import annotations

import numpy as np

from unseen.doa import _aot as kernels
from unseen.doa.array import Array, wavelength_m
from unseen.doa.spectra import MAX_STEP_DEG, aperture_m, scan_sector, steering_planes
from unseen.errors import InputError

WEIGHTINGS = ("wsf", "dml")
COARSE = 16  # AP grid steps per half beamwidth (Gauss–Newton refines below the grid)


def fit_matrix(R: np.ndarray, num_sources: int, weighting: str = "wsf") -> np.ndarray:
    """Q of the criterion V = tr(Π⊥_A·Q) (module docstring) from covariance R (M×M)."""
    if weighting not in WEIGHTINGS:
        raise InputError(f"ML weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    R = np.asarray(R, dtype=np.complex128)
    if weighting == "dml":
        return R
    M, K = R.shape[0], num_sources
    lam, E = np.linalg.eigh(R)
    noise = max(float(np.mean(lam[: M - K])), 1e-12 * float(lam[-1]))
    ls, Es = lam[M - K :], E[:, M - K :]
    w = np.maximum(ls - noise, 0.0) ** 2 / np.maximum(ls, 1e-300)
    return (Es * w) @ Es.conj().T


def bearings(
    R: np.ndarray,
    array: Array,
    freq_hz: float,
    num_sources: int,
    *,
    weighting: str = "wsf",
    step_deg: float = 0.1,
    elevation_deg: float = 0.0,
    max_sweeps: int = 30,
    iterations: int = 20,
    beam: int = 3,
) -> np.ndarray:
    """Azimuths (degrees in [0, 360), in no particular order) of `num_sources` sources
    minimising V = tr(Π⊥_A·Q) for covariance R (M×M): AP on a grid of max(step_deg, half
    beamwidth/16), then Gauss–Newton (module docstring). A linear array reports its scan
    half-plane (a bearing refined past endfire is mirrored back through the axis)."""
    M = array.num_elements
    R = np.asarray(R)
    if R.shape != (M, M):
        raise InputError(f"covariance must be {M}×{M} for this array, got shape {R.shape}")
    if not np.all(np.isfinite(R)):
        raise InputError("covariance contains NaN or Inf values")
    K = int(num_sources)
    if not 1 <= K <= M - 1:
        raise InputError(f"ML needs 1 <= num_sources <= {M - 1} for {M} elements, got {K}")
    Q = np.ascontiguousarray(fit_matrix(R, K, weighting))
    half_beam = 0.5 * wavelength_m(freq_hz) / aperture_m(array)
    coarse = min(max(float(step_deg), np.degrees(half_beam) / COARSE), MAX_STEP_DEG)
    grid, Ar, Ai, circ = steering_planes(array, freq_hz, coarse, elevation_deg)
    idx, off = kernels.alternating_projection(Q, Ar, Ai, K, circ, max_sweeps, beam)
    step = float(grid[1] - grid[0])
    th0 = np.radians(grid[idx] + off * step)
    k = 2 * np.pi / wavelength_m(freq_hz)
    el = np.radians(elevation_deg)
    pos = np.ascontiguousarray(array.positions_enu_m, dtype=float)
    th, _ = kernels.refine(Q, pos, th0, k * np.cos(el), k * np.sin(el), half_beam, iterations)
    az = np.degrees(th)
    a, b, circ = scan_sector(array)
    if not circ:
        az = np.where(np.mod(az - a, 360.0) <= b - a, az, 2 * b - az)
    return np.mod(az, 360.0)
