"""IQ for a whole scenario: what each station's coherent receiver records, frame by frame.

Each station records a frame of `frame_samples` every `frame_interval_s` (only those frames are
simulated; the rate stays the scenario's). For every emitter on the air the frame holds the
direct ray and the wall reflections from `scenario_geometry.rays`, with the received power
(dBm) turned into receiver units relative to full scale (dBFS), thermal noise at
−174 dBm/Hz + NF, per-channel gain/phase errors and an LO offset drawn once per station. All
stations see the same emitted waveform at the same absolute time, delayed by their own path
lengths, so time differences between synchronised stations are physical.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from unseen.sim import emitters as em
from unseen.sim import waveforms
from unseen.sim.scenario import Emitter, Scenario, Station
from unseen.sim.scenario_geometry import Pose, Ray, frame_times, noise_dbm, pose, rays
from unseen.types import IqBlock, Site

REFLECTION_PHASE_DEG = 180.0
UNSYNCED_CLOCK_SIGMA_S = 5e-3


@dataclass(frozen=True)
class Impairments:
    """Per-station receiver errors: channel gains (dB), phases (deg), LO offset (Hz), clock (s)."""

    gain_db: tuple[float, ...]
    phase_deg: tuple[float, ...]
    cfo_hz: float
    clock_offset_s: float


@dataclass(frozen=True)
class Frame:
    """One recorded frame: the true pose and rays (the truth), the block, and `reported`, the
    pose the station's GNSS reports (true pose plus its position/heading errors)."""

    station: str
    index: int
    time_s: float
    pose: Pose
    block: IqBlock
    rays: tuple[Ray, ...]
    reported: Pose


def reported_pose(sc: Scenario, station: Station, index: int, true: Pose) -> Pose:
    """The pose a station records for frame `index`: GNSS errors drawn from the scenario seed."""
    if station.heading_sigma_deg == 0 and station.position_sigma_m == 0:
        return true
    k = [s.id for s in sc.stations].index(station.id)
    rng = np.random.default_rng([sc.seed, 17, k, index])
    de, dn = rng.normal(0.0, station.position_sigma_m, 2)
    dh = rng.normal(0.0, station.heading_sigma_deg)
    m_per_deg = 111_320.0
    return Pose(
        true.lat_deg + dn / m_per_deg,
        true.lon_deg + de / (m_per_deg * math.cos(math.radians(true.lat_deg))),
        true.alt_m,
        (true.heading_deg + dh) % 360.0,
        true.time_s,
    )


def impairments(sc: Scenario, station: Station) -> Impairments:
    """Draw a station's receiver errors from the scenario seed (same seed, same errors)."""
    k = [s.id for s in sc.stations].index(station.id)
    rng = np.random.default_rng([sc.seed, 7, k])
    rx = station.receiver
    m = station.array.num_elements
    gain = rng.normal(0.0, rx.gain_sigma_db, m)
    phase = rng.normal(0.0, rx.phase_sigma_deg, m)
    gain[0] = phase[0] = 0.0  # channel 0 is the reference
    cfo = rng.normal(0.0, rx.cfo_ppm * 1e-6 * rx.center_freq_hz)
    clock = 0.0 if station.gnss_sync else rng.normal(0.0, UNSYNCED_CLOCK_SIGMA_S)
    return Impairments(tuple(gain), tuple(phase), float(cfo), float(clock))


def gates(emitter: Emitter, t0_s: float, t1_s: float) -> tuple[tuple[float, float], ...] | None:
    """The on-air intervals of `emitter` overlapping [t0, t1), absolute seconds (None: always)."""
    sch = emitter.schedule
    if sch.off_s == 0 or not math.isfinite(sch.on_s):
        return None
    period = sch.on_s + sch.off_s
    k0 = math.floor((t0_s - sch.offset_s) / period) - 1
    k1 = math.ceil((t1_s - sch.offset_s) / period) + 1
    starts = (sch.offset_s + k * period for k in range(k0, k1))
    return tuple((a, a + sch.on_s) for a in starts if a + sch.on_s > t0_s and a < t1_s)


def _lead_samples(sc: Scenario, fs: float) -> int:
    """History needed before a frame so that the longest path still sees the waveform."""
    lat0, lon0 = sc.area.center
    span = math.hypot(
        (sc.area.north_deg - sc.area.south_deg) * 111_200,
        (sc.area.east_deg - sc.area.west_deg) * 111_200 * math.cos(math.radians(lat0)),
    )
    far = max(
        span,
        *(
            math.hypot((e.lat_deg - lat0) * 111_200, (e.lon_deg - lon0) * 75_000)
            for e in sc.emitters
        ),
    )
    return math.ceil(4 * far / 299_792_458.0 * fs) + 64


class _Waveforms:
    """The emitted baseband of each emitter around each frame time, shared by all stations."""

    def __init__(self, sc: Scenario, fs: float, n: int):
        self.sc, self.fs, self.n = sc, fs, n
        self.lead = _lead_samples(sc, fs)
        self._cache: dict[tuple[str, float], np.ndarray] = {}

    def get(self, e: Emitter, time_s: float) -> np.ndarray:
        key = (e.id, round(time_s, 9))
        w = self._cache.get(key)
        if w is None:
            k = [x.id for x in self.sc.emitters].index(e.id)
            seed = int(
                np.random.SeedSequence([self.sc.seed, 11, k, round(time_s * 1e6)]).generate_state(
                    1
                )[0]
            )
            total = self.n + self.lead
            if e.waveform == "fm":
                audio = e.audio.split("+")[round(time_s) % len(e.audio.split("+"))]
                audio = "speech" if audio == "tone" else audio
                w = waveforms.fm(total, self.fs, seed, audio=audio, deviation_hz=e.deviation_hz)
            elif e.waveform == "am":
                audio = e.audio.split("+")[0]
                audio = "speech" if audio == "tone" else audio
                w = waveforms.am(total, self.fs, seed, audio=audio, depth=e.modulation_index)
            elif e.waveform == "noise":
                w = waveforms.noise(total, self.fs, seed, bandwidth_hz=e.bandwidth_hz)
            else:
                w = waveforms.cw(total, self.fs, seed)
            if len(self._cache) > 4 * len(self.sc.emitters):
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = w
        return w


def station_frames(
    sc: Scenario, station: Station, *, times_s: np.ndarray | None = None
) -> Iterator[Frame]:
    """Simulate `station`'s frames (default: every frame of the scenario) in time order."""
    rx = station.receiver
    fs, n = rx.sample_rate_hz, rx.frame_samples
    wf = _Waveforms(sc, fs, n)
    imp = impairments(sc, station)
    receiver = em.Receiver(
        noise_power_db=noise_dbm(station) - rx.full_scale_dbm,
        gain_db=imp.gain_db,
        phase_deg=imp.phase_deg,
        cfo_hz=imp.cfo_hz,
    )
    times = frame_times(sc, station) if times_s is None else np.asarray(times_s, dtype=float)
    k_station = [s.id for s in sc.stations].index(station.id)
    for i, t in enumerate(times):
        t = float(t)
        p = pose(station, t)
        arr = station.array.rotated(p.heading_deg) if station.mobile else station.array
        sources = []
        all_rays: list[Ray] = []
        for e in sc.emitters:
            e = e.at(t)  # a moving emitter where it is at this frame
            g = gates(e, t - wf.lead / fs, t + n / fs)
            if g == () or abs(e.freq_hz - rx.center_freq_hz) >= fs / 2:
                continue  # off the air, or outside the band the receiver's filters pass
            rs = rays(sc, e, station, p)
            all_rays.extend(rs)
            direct, refl = rs[0], rs[1:]
            sources.append(
                em.Emitter(
                    azimuth_deg=direct.azimuth_deg,
                    power_db=direct.power_dbm - rx.full_scale_dbm,
                    waveform=wf.get(e, t),
                    freq_offset_hz=e.freq_hz - rx.center_freq_hz,
                    delay_s=direct.delay_s,
                    elevation_deg=direct.elevation_deg,
                    gate_s=g,
                    multipath=tuple(
                        em.Path(
                            azimuth_deg=r.azimuth_deg,
                            gain_db=r.power_dbm - direct.power_dbm,
                            delay_s=r.delay_s - direct.delay_s,
                            phase_deg=REFLECTION_PHASE_DEG,
                            elevation_deg=r.elevation_deg,
                        )
                        for r in refl
                    ),
                )
            )
        utc_ns = sc.start_utc_ns + round((t + imp.clock_offset_s) * 1e9)
        site = Site(station.id, p.lat_deg, p.lon_deg, p.alt_m)
        seed = int(np.random.SeedSequence([sc.seed, 13, k_station, i]).generate_state(1)[0])
        block = em.simulate(
            arr,
            sources,
            num_samples=n,
            sample_rate_hz=fs,
            center_freq_hz=rx.center_freq_hz,
            receiver=receiver,
            seed=seed,
            start_s=t,
            utc_ns=utc_ns,
            site=site,
        )
        yield Frame(station.id, i, t, p, block, tuple(all_rays), reported_pose(sc, station, i, p))
