"""Time differences of arrival: GCC-PHAT / cross-correlation between receivers, sub-sample
peaks, honest sigmas (vs the CRB), clock correction with a reference transmitter, closure checks,
DCF77 arrival times from its phase-modulation sequence (`unseen.tdoa.dcf77`).

`tdoa_s` = arrival at the first station minus arrival at the second.
"""

from unseen.tdoa.align import on_grid, overlap_ns
from unseen.tdoa.measure import (
    C_M_S,
    METHODS,
    Closure,
    Measurement,
    closures,
    correct_clock,
    cross_check,
    max_lag_from,
    measure,
    suspect_receivers,
    to_tdoa,
    true_tdoa,
    widen_by_closures,
)

__all__ = [
    "C_M_S",
    "METHODS",
    "Closure",
    "Measurement",
    "closures",
    "correct_clock",
    "cross_check",
    "max_lag_from",
    "measure",
    "on_grid",
    "overlap_ns",
    "suspect_receivers",
    "to_tdoa",
    "true_tdoa",
    "widen_by_closures",
]
