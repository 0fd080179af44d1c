"""How far a receiver can hear a transmitter: the radio horizon, a physical bound on RSS geometry.

A direct (or diffracted) wave reaches at most the radio horizon of the two antennas over the
4/3 effective Earth: d ≤ 4.12 km · (√h_tx + √h_rx), heights in metres. With heights no real
antenna exceeds (HORIZON_ALT_M, the highest radios aloft: radiosondes burst at 30–40 km; a
receiver's own `alt_m` where higher) the bound is 1,648 km. A signal-strength reading from
farther has either a wrong position (a bad GPS fix: POWDER's shuttles report 0°, 0°) or arrived
by a path no path-loss model describes (tropospheric ducting, scatter): either way it is not a
sample of p = P0 − 10 n log10 d. Readings below HF_MAX_HZ (skywave) are exempt where `freq_hz`
says so; a reading without `freq_hz` is held to the bound.

Without the transmitter's position (`unseen locate`), two receivers that heard one transmitter
lie at most h_i + h_j apart (triangle inequality; a chord is shorter than its arc). When the
receivers with sound positions are a majority, each of them breaks that bound with fewer than
half of the others, so a receiver that breaks it with at least half cannot have heard the
transmitter the others heard.
"""

from __future__ import annotations

import math

import numpy as np

HORIZON_KM_PER_SQRT_M = 4.12  # 4/3-Earth radio horizon: d_km = 4.12 √h_m per antenna
HORIZON_ALT_M = 40_000.0
HF_MAX_HZ = 30e6


def horizon_m(rx_alt_m: float = 0.0) -> float:
    """The farthest a receiver at `rx_alt_m` (m) can hear any transmitter directly (m)."""
    h_rx = max(float(rx_alt_m), HORIZON_ALT_M)
    return 1e3 * HORIZON_KM_PER_SQRT_M * (math.sqrt(HORIZON_ALT_M) + math.sqrt(h_rx))


def bounded(freq_hz: float | None) -> bool:
    """Whether a reading at `freq_hz` is held to the horizon (all but known HF: skywave)."""
    return freq_hz is None or freq_hz >= HF_MAX_HZ


def apart(ecef_m: np.ndarray, alt_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((k, k) chord distances m between receivers (k, 3 ECEF m; altitudes m), and where a pair
    cannot both have heard one transmitter: chord > horizon_m(alt_i) + horizon_m(alt_j))."""
    d = np.linalg.norm(ecef_m[:, None] - ecef_m[None], axis=-1)
    h = np.array([horizon_m(a) for a in alt_m])
    return d, d > h[:, None] + h[None]
