"""The plain, immutable values that flow between stages.

Units are in the field names. Angles are degrees, azimuths clockwise from true north. Positions
are WGS84 latitude/longitude in degrees with altitude in metres above the ellipsoid. Times are
seconds (`time_s`); absolute times, where known, are POSIX nanoseconds (`utc_ns`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Site:
    """Where a receiver was when it observed: station id and WGS84 position."""

    station: str
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0


@dataclass(frozen=True, eq=False)
class IqBlock:
    """A frame of complex baseband samples, shape (channels, samples), complex64.

    `start_s` is the time of sample 0 in seconds from the start of the recording; `utc_ns` is
    the same instant as POSIX nanoseconds when the source knows it (GNSS-stamped receivers).
    """

    samples: np.ndarray
    sample_rate_hz: float
    center_freq_hz: float
    start_s: float = 0.0
    utc_ns: int | None = None
    site: Site | None = None

    @property
    def num_channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])


@dataclass(frozen=True)
class Detection:
    """An occupied channel found in a recording; `licensed` is None when no registry was given.

    `repetition_s` is the period of a pulsed signal's envelope (None when not pulsed);
    `start_utc_ns`/`stop_utc_ns` are POSIX ns of start/stop when the recording has absolute time.
    """

    freq_hz: float
    bandwidth_hz: float
    snr_db: float
    power_dbfs: float
    start_s: float
    stop_s: float
    modulation: str
    licensed: bool | None = None
    assignment: str | None = None
    repetition_s: float | None = None
    start_utc_ns: int | None = None
    stop_utc_ns: int | None = None


@dataclass(frozen=True)
class DoaEstimate:
    """Bearings of the sources seen by one array in one frame, relative to true north."""

    azimuths_deg: tuple[float, ...]
    sigma_deg: tuple[float, ...]
    confidence: tuple[float, ...]
    method: str
    time_s: float = 0.0
    frame: int = 0

    @property
    def num_sources(self) -> int:
        return len(self.azimuths_deg)


@dataclass(frozen=True)
class Bearing:
    """A line of bearing: initial azimuth of the geodesic from the site to the transmitter."""

    site: Site
    azimuth_deg: float
    sigma_deg: float
    time_s: float = 0.0
    freq_hz: float | None = None
    magnetic: bool = False


@dataclass(frozen=True)
class Tdoa:
    """Time difference of arrival: `tdoa_s` = arrival time at `site` minus arrival at `site_b`."""

    site: Site
    site_b: Site
    tdoa_s: float
    sigma_s: float
    time_s: float = 0.0
    freq_hz: float | None = None


@dataclass(frozen=True)
class SignalStrength:
    """Received power at a site; `path_loss_exponent` None means estimate it."""

    site: Site
    rssi_dbm: float
    sigma_db: float
    time_s: float = 0.0
    freq_hz: float | None = None
    path_loss_exponent: float | None = None


Observation = Bearing | Tdoa | SignalStrength


@dataclass(frozen=True)
class Ellipse:
    """Confidence ellipse: semi-axes in metres, major axis orientation clockwise from north."""

    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float


@dataclass(frozen=True)
class Fix:
    """A located transmitter with its uncertainty in the local east-north(-up) frame at the fix."""

    lat_deg: float
    lon_deg: float
    alt_m: float
    cov_enu_m2: tuple[tuple[float, ...], ...]
    ellipse50: Ellipse
    ellipse95: Ellipse
    cep50_m: float
    method: str
    n_used: int
    rejected: tuple[str, ...] = ()
    crb_rmse_m: float | None = None
    group: str = ""
    time_s: float = 0.0
    extra: dict = field(default_factory=dict, compare=False)
