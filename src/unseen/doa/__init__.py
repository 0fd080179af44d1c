"""Direction finding: array geometry, spatial spectra, subspace methods, bounds, calibration.

    from unseen.doa import Array, estimate, pseudo_spectrum
    est = estimate(block, Array.uca(5, 1.0), method="music")   # -> DoaEstimate
    grid_deg, p = pseudo_spectrum(block, Array.uca(5, 1.0))      # for polar plots

Modules: `array` (geometry, steering), `spectra` (covariance, FB averaging, smoothing, Bartlett/
Capon/MUSIC, peak refinement), `subspace` (root-MUSIC, ESPRIT), `ml` (WSF / deterministic ML,
any geometry), `order` (MDL/AIC), `bounds` (stochastic CRB), `calibrate` (gain/phase calibration,
JSON files), `stage` (estimate, pseudo_spectrum).
"""

from unseen.doa.array import Array, direction_enu, wavelength_m
from unseen.doa.bounds import crb_single, crb_stochastic
from unseen.doa.calibrate import Calibration, calibrate
from unseen.doa.order import count_sources
from unseen.doa.spectra import covariance
from unseen.doa.stage import (
    METHODS,
    DoaOptions,
    estimate,
    estimate_frames,
    estimate_raw,
    pseudo_spectrum,
)

__all__ = [
    "METHODS",
    "Array",
    "Calibration",
    "DoaOptions",
    "calibrate",
    "count_sources",
    "covariance",
    "crb_single",
    "crb_stochastic",
    "direction_enu",
    "estimate",
    "estimate_frames",
    "estimate_raw",
    "pseudo_spectrum",
    "wavelength_m",
]
