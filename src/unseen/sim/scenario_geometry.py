"""Scenario geometry without IQ: where stations are, who is on the air, which rays arrive.

Pure functions of a `Scenario` and time. Rays follow the image method on straight walls in a
local ENU plane at the area centre (fine over a few km): a wall reflects a ray when the mirror
image of the emitter seen from the station crosses the wall segment. Bearings are geodesic initial
azimuths (WGS84) from the station toward the emitter (direct ray) or the specular point.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from unseen.doa.array import C_M_S, wavelength_m
from unseen.geo import enu2geodetic, forward, geodetic2enu, inverse
from unseen.sim.scenario import Emitter, Propagation, Scenario, Station, Wall

ERP_TO_EIRP_DB = 2.15


@dataclass(frozen=True)
class Pose:
    """Station position and array heading at one time."""

    lat_deg: float
    lon_deg: float
    alt_m: float
    heading_deg: float
    time_s: float


@dataclass(frozen=True)
class Ray:
    """One propagation path from an emitter to a station.

    `azimuth_deg` is the true bearing of arrival at the station, `elevation_deg` the angle of
    arrival above the horizon (antenna heights over the unfolded path), `length_m` the unfolded
    path length (delay = length / c), `loss_db` the total loss from EIRP to the receiving antenna.
    """

    emitter: str
    station: str
    kind: str
    via: str
    azimuth_deg: float
    length_m: float
    loss_db: float
    power_dbm: float
    elevation_deg: float = 0.0

    @property
    def delay_s(self) -> float:
        return self.length_m / C_M_S


def azimuth_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial geodesic azimuth from point 1 to point 2, degrees clockwise from north, [0, 360)."""
    return float(inverse(lat1, lon1, lat2, lon2)[0])


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on WGS84 in metres."""
    return float(inverse(lat1, lon1, lat2, lon2)[2])


def route_length_m(route: tuple[tuple[float, float], ...]) -> float:
    """Total geodesic length of a route of (lat, lon) waypoints, metres."""
    return float(sum(distance_m(*a, *b) for a, b in itertools.pairwise(route)))


def pose(station: Station, time_s: float) -> Pose:
    """Where `station` is at `time_s`: fixed, or moving along its route at constant speed.

    A mobile station waits at the first waypoint until `start_s` and at the last after arriving;
    its heading is the geodesic azimuth of travel at that point (GNSS heading).
    """
    if not station.mobile:
        return Pose(station.lat_deg, station.lon_deg, station.alt_m, station.heading_deg, time_s)
    s = max(0.0, time_s - station.start_s) * station.speed_m_s
    last = len(station.route) - 2
    for i, (a, b) in enumerate(itertools.pairwise(station.route)):
        az, az_end, length = (float(v) for v in inverse(*a, *b))
        if s <= length or i == last:
            s = min(s, length)
            lat, lon = (float(v) for v in forward(*a, az, s)[:2])
            heading = az_end if length - s < 0.5 else float(inverse(lat, lon, *b)[0])
            return Pose(lat, lon, station.alt_m, heading, time_s)
        s -= length
    raise AssertionError("unreachable")


def on_air(emitter: Emitter, time_s: np.ndarray | float) -> np.ndarray:
    """True where `emitter` transmits at `time_s` (periodic on/off schedule)."""
    t = np.asarray(time_s, dtype=float)
    sch = emitter.schedule
    if sch.off_s == 0 or not math.isfinite(sch.on_s):
        return np.ones_like(t, dtype=bool)
    phase = np.mod(t - sch.offset_s, sch.on_s + sch.off_s)
    return phase < sch.on_s


def frame_times(sc: Scenario, station: Station) -> np.ndarray:
    """Start times (s) of the frames a station records over the scenario."""
    dt = station.receiver.frame_interval_s
    return np.arange(
        0.0,
        sc.duration_s - station.receiver.frame_samples / station.receiver.sample_rate_hz + 1e-12,
        dt,
    )


def path_loss_db(
    prop: Propagation, distance_m: float, freq_hz: float, h_tx_m: float, h_rx_m: float
) -> float:
    """Basic transmission loss in dB between isotropic antennas.

    free-space: 20·log10(4πd/λ); two-ray (plane earth): max(free space, 40·log10 d −
    20·log10(h_t·h_r)), the two meeting at the crossover distance 4π·h_t·h_r/λ; log-distance:
    free space at 1 m + 10·n·log10 d.
    """
    d = max(distance_m, 1.0)
    lam = wavelength_m(freq_hz)
    fspl = 20 * math.log10(4 * math.pi * d / lam)
    if prop.model == "free-space":
        return fspl
    if prop.model == "two-ray":
        plane = 40 * math.log10(d) - 20 * math.log10(max(h_tx_m, 0.1) * max(h_rx_m, 0.1))
        return max(fspl, plane)
    return 20 * math.log10(4 * math.pi / lam) + 10 * prop.exponent * math.log10(d)


class _Plane:
    """A local ENU plane at the area centre for the image method."""

    def __init__(self, sc: Scenario):
        self.lat0, self.lon0 = sc.area.center

    def enu(self, lat: float, lon: float) -> np.ndarray:
        return geodetic2enu(lat, lon, 0.0, self.lat0, self.lon0)[:2]

    def wall(self, w: Wall) -> tuple[np.ndarray, np.ndarray]:
        return self.enu(*w.a), self.enu(*w.b)

    def geodetic(self, p: np.ndarray) -> tuple[float, float]:
        lat, lon, _ = enu2geodetic(np.array([p[0], p[1], 0.0]), self.lat0, self.lon0)
        return float(lat), float(lon)


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def _intersect(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Parameters (t along p→q, u along a→b) of the crossing of two segments (nan if parallel)."""
    r, s = q - p, b - a
    den = _cross(r, s)
    if abs(den) < 1e-12:
        return math.nan, math.nan
    return _cross(a - p, s) / den, _cross(a - p, r) / den


def _blocked_db(
    plane: _Plane, prop: Propagation, p: np.ndarray, q: np.ndarray, skip: str = ""
) -> float:
    loss = 0.0
    for w in prop.blockers:
        if w.id == skip:
            continue
        a, b = plane.wall(w)
        t, u = _intersect(p, q, a, b)
        if 0 < t < 1 and 0 <= u <= 1:
            loss += w.loss_db
    return loss


def rays(sc: Scenario, emitter: Emitter, station: Station, at: Pose) -> list[Ray]:
    """Direct ray and the single-bounce wall reflections from `emitter` to `station` at `at`.

    Losses: path loss over the (unfolded) length, plus `loss_db` of each blocker a leg crosses,
    plus the reflector's `loss_db`. Received power = ERP + 2.15 dB (dipole → isotropic) − loss.
    """
    prop = sc.propagation
    plane = _Plane(sc)
    h_rx = station.receiver.antenna_height_m
    tx = plane.enu(emitter.lat_deg, emitter.lon_deg)
    rx = plane.enu(at.lat_deg, at.lon_deg)
    eirp_dbm = 10 * math.log10(emitter.erp_w * 1e3) + ERP_TO_EIRP_DB
    d = distance_m(at.lat_deg, at.lon_deg, emitter.lat_deg, emitter.lon_deg)
    loss = path_loss_db(prop, d, emitter.freq_hz, emitter.height_m, h_rx)
    loss += _blocked_db(plane, prop, rx, tx)
    out = [
        Ray(
            emitter.id,
            station.id,
            "direct",
            "",
            azimuth_deg(at.lat_deg, at.lon_deg, emitter.lat_deg, emitter.lon_deg),
            d,
            loss,
            eirp_dbm - loss,
            _elevation(emitter.height_m, h_rx, d),
        )
    ]
    if not prop.multipath:
        return out
    for w in prop.reflectors:
        a, b = plane.wall(w)
        s = b - a
        nrm = np.array([-s[1], s[0]]) / np.linalg.norm(s)
        side_tx = float(np.dot(tx - a, nrm))
        side_rx = float(np.dot(rx - a, nrm))
        if side_tx * side_rx <= 0:
            continue
        image = tx - 2 * side_tx * nrm
        t, u = _intersect(rx, image, a, b)
        if not (0 < t < 1 and 0 <= u <= 1):
            continue
        spec = a + u * s
        slat, slon = plane.geodetic(spec)
        length = distance_m(at.lat_deg, at.lon_deg, slat, slon) + distance_m(
            slat, slon, emitter.lat_deg, emitter.lon_deg
        )
        rl = path_loss_db(prop, length, emitter.freq_hz, emitter.height_m, h_rx) + w.loss_db
        rl += _blocked_db(plane, prop, rx, spec) + _blocked_db(plane, prop, spec, tx)
        out.append(
            Ray(
                emitter.id,
                station.id,
                "reflected",
                w.id,
                azimuth_deg(at.lat_deg, at.lon_deg, slat, slon),
                length,
                rl,
                eirp_dbm - rl,
                _elevation(emitter.height_m, h_rx, length),
            )
        )
    return out


def _elevation(h_tx_m: float, h_rx_m: float, length_m: float) -> float:
    """Angle of arrival above the horizon, degrees, for antennas at these heights above ground."""
    return math.degrees(math.atan2(h_tx_m - h_rx_m, max(length_m, 1.0)))


def noise_dbm(station: Station) -> float:
    """Thermal noise power in the receiver bandwidth: −174 dBm/Hz + 10·log10(fs) + NF."""
    rx = station.receiver
    return -174.0 + 10 * math.log10(rx.sample_rate_hz) + rx.noise_figure_db
