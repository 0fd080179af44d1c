"""Which receivers to pair, and TDOAs per on-air window from frames two receivers share.

    pairs(n)                       every pair (i, j), i < j: closures can be checked
    pairs(n, independent=True)     the n − 1 pairs (0, j): no observation counted twice in a fix
    windowed_tdoas(a, b, ...)      per window of common frames, the median TDOA and its σ

`unseen tdoa` and the hunt both pair receivers through `pairs`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from unseen.types import IqBlock, Site, Tdoa


def pairs(n: int, *, independent: bool = False) -> list[tuple[int, int]]:
    """Receiver index pairs: all i < j, or the independent (0, j) for j = 1..n−1."""
    if independent:
        return [(0, j) for j in range(1, n)]
    return list(itertools.combinations(range(n), 2))


def redundancy(n: int) -> float:
    """σ factor for the TDOAs of all n(n−1)/2 pairs of n receivers when they are used as if
    independent: √(n/2). The pairs share each receiver's noise; with one noise σ_r per
    receiver the pairs' information taken as independent, Dᵀ D/(2σ_r²) = (n/2)(I − 11ᵀ/n)/σ_r²
    (D the pair-receiver incidence), is n/2 times the true (I − 11ᵀ/n)/σ_r², so a fix from them
    would claim √(n/2) too small an ellipse. 1 for two receivers."""
    return float(np.sqrt(max(n, 2) / 2))


@dataclass(frozen=True)
class TimedFrame:
    """A frame of one receiver: its time (s, common clock), where the receiver was, the IQ."""

    time_s: float
    site: Site
    block: IqBlock


def windowed_tdoas(
    a: Sequence[TimedFrame],
    b: Sequence[TimedFrame],
    *,
    gap_s: float,
    freq_hz: float | None,
    band_hz: tuple[float, float] | None,
    sigma_sys_s: float,
) -> list[Tdoa]:
    """GCC TDOAs (arrival at a minus at b) on frames at the same time (to 1 ms), one per run of
    common frames closer than `gap_s`: the median, σ = max(median σ_k, 1.4826·MAD)."""
    from unseen.locate.aggregate import windows
    from unseen.tdoa.measure import measure

    at = {round(f.time_s, 3): i for i, f in enumerate(a)}
    common = [(at[round(f.time_s, 3)], j) for j, f in enumerate(b) if round(f.time_s, 3) in at]
    out: list[Tdoa] = []
    for run in windows([a[i].time_s for i, _ in common], gap_s):
        vals, sig = [], []
        for k in run:
            i, j = common[k]
            m = measure(a[i].block, b[j].block, sigma_sys_s=sigma_sys_s, band_hz=band_hz)
            vals.append(m.tdoa_s)
            sig.append(m.sigma_s)
        v = np.array(vals)
        mad = 1.4826 * float(np.median(np.abs(v - np.median(v))))
        fa, fb = a[common[run[-1]][0]], b[common[run[-1]][1]]
        out.append(Tdoa(fa.site, fb.site, float(np.median(v)), max(float(np.median(sig)), mad),
                        fa.time_s, freq_hz))  # fmt: skip
    return out
