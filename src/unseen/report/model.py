"""What a hunt produces: plain values the report, the CLI summary and the tests read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from unseen.types import Bearing, Detection, Fix, Tdoa


@dataclass(frozen=True)
class StationTrack:
    """A station's positions and array headings at its frame times (one entry if fixed);
    `equipment` describes its array and receiver in words (the printed case summary)."""

    id: str
    name: str
    mobile: bool
    times_s: tuple[float, ...]
    lat_deg: tuple[float, ...]
    lon_deg: tuple[float, ...]
    heading_deg: tuple[float, ...]
    equipment: str = ""


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Power spectral density seen by one station (dBFS per bin) over absolute frequency."""

    station: str
    freq_hz: np.ndarray
    power_db: np.ndarray


@dataclass(frozen=True, eq=False)
class DoaSpectrum:
    """A station's DOA pseudo-spectrum (peak 1) over true azimuth, with its bearing."""

    station: str
    time_s: float
    azimuth_deg: np.ndarray
    power: np.ndarray
    bearing_deg: float


@dataclass(frozen=True, eq=False)
class Heatmap:
    """Normalised likelihood (peak 1) of the emitter position on a lat/lon grid (rows = lat)."""

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    likelihood: np.ndarray


@dataclass(frozen=True)
class Truth:
    """Where the emitter really is (known only to the simulator and the demo)."""

    name: str
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True, eq=False)
class HuntResult:
    """Everything one hunt found, in time order where it has a time.

    `fixes` is the sequence of fixes as observations accumulate (last = final fix);
    `naive_fix` the final fix without robust rejection and `naive_fixes` the same sequence without
    it (None where no consistent fix exists without rejection), for comparison; `rejected` maps a
    rejected station id to the reason. `heatmap` is the final fix's likelihood, `heatmap_first`
    the first fix's. `t0_utc_s` is the UTC (POSIX seconds) of time_s = 0 when the recordings
    carry `core:datetime` (None otherwise).
    """

    title: str
    area: tuple[float, float, float, float]
    outlines: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]
    stations: tuple[StationTrack, ...]
    detections: tuple[Detection, ...]
    target: Detection | None
    spectrum: Spectrum | None
    bearings: tuple[Bearing, ...]
    tdoas: tuple[Tdoa, ...]
    fixes: tuple[Fix, ...]
    naive_fix: Fix | None = None
    naive_fixes: tuple[Fix | None, ...] = ()
    rejected: dict[str, str] = field(default_factory=dict)
    doa_spectra: tuple[DoaSpectrum, ...] = ()
    heatmap: Heatmap | None = None
    heatmap_first: Heatmap | None = None
    t0_utc_s: float | None = None
    truth: Truth | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    frame_bearings: tuple[Bearing, ...] = ()  # every frame's bearing, not averaged (tracking)

    @property
    def final(self) -> Fix | None:
        return self.fixes[-1] if self.fixes else None

    @property
    def group(self) -> str:
        """The `unseen locate` group in every report file (the final fix's, or "hunt")."""
        return (self.final.group if self.final else "") or "hunt"
