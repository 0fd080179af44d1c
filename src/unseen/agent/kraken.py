"""Follow a KrakenSDR DoA DSP (krakenrf/krakensdr_doa) through the bearing output it publishes.

The DSP rewrites its output every update, in one of two formats, told apart by content (since
upstream PR #127, Feb 2024, `DOA_value.html` is always the CSV and the XML is a separate
`doa.xml`; before, `DOA_value.html` held whichever the user chose):

- XML (`doa.xml`, "DF Aggregator"): `<DATA>` with STATION_ID, TIME (epoch ms), FREQUENCY (MHz),
  LOCATION/{LATITUDE, LONGITUDE, HEADING}, DOA, PWR (power dB + 100, floored at 0), CONF
  (confidence × 100). DOA has always been θ.
- CSV ("Kraken App"), one line per VFO: `epoch_ms, DOA, confidence, power_db, freq_hz,
  array_type, latency_ms, station_id, lat, lon, heading, heading, GPS, R, R, R, R`, then the
  DOA spectrum: 360 values (dB above its minimum) indexed by θ = 0..359°. Its DOA field has been
  θ before 1751873 (2022-05-16), 360 − θ until c0bfd3e (2023-05-04), θ until 4de18a0
  (2024-07-04) and 360 − θ since; so each line's convention is read from its own spectrum: the
  DOA field is θ when it lies nearer the spectrum's peak than its mirror 360 − peak, 360 − θ
  when nearer the mirror, within 2° either way (at a peak of 0° or 180° both give one bearing).
  A line that agrees with neither takes the spectrum's peak as θ, with one warning. A line
  without the 360 values cannot tell, unless `[source] csv_convention` ("theta" or
  "360-theta") says.

θ is counter-clockwise from the array's reference direction (unit circle), so the bearing is
(360 − θ + heading) mod 360, heading being the reference's azimuth clockwise from true north:
the Kraken's GNSS/compass heading when it reports a valid position, else `[station]
heading_deg` (with no GNSS fix the Kraken reports lat = lon = 0 and heading 0.0).

Confidence: the DSP's figure is the spectrum's peak-to-average power ratio in dB,
10·log10(max P/mean P) (≥ 0; tens of dB for a clean MUSIC peak), written as is in the CSV and
×100 in the XML. It is mapped to [0, 1] as PAPR_dB / `confidence_full_db` (default 10 dB),
clipped, so `min_confidence = 0.3` keeps readings whose peak stands ≥ 3 dB above the average.
"""

from __future__ import annotations

import logging
import math
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unseen.errors import FileFormatError

log = logging.getLogger("unseen.kraken")

NAMESPACE = uuid.UUID("5b0f2f5e-63a4-4c55-9a0e-6a1d3c1c7a10")
HEADER_FIELDS = 17  # fields before the DOA spectrum in a CSV line
SPECTRUM_BINS = 360
AGREE_DEG = 2.0  # the DOA field is an int() of θ or 360 − θ; the peak is on a 1° grid
CONFIDENCE_FULL_DB = 10.0
CONVENTIONS = ("auto", "theta", "360-theta")


@dataclass(frozen=True)
class KrakenReading:
    """One bearing output: `relative_deg` clockwise from the array reference, `papr_db` the DSP's
    confidence figure (dB), `convention` how the line's angle was read."""

    time_ms: int
    relative_deg: float
    papr_db: float
    power_db: float
    freq_hz: float
    station_id: str
    lat_deg: float | None
    lon_deg: float | None
    heading_deg: float | None
    convention: str = "theta"

    def confidence(self, full_db: float = CONFIDENCE_FULL_DB) -> float:
        """PAPR mapped to [0, 1]: PAPR_dB / full_db, clipped."""
        return float(min(max(self.papr_db / full_db, 0.0), 1.0))


def _num(text: str | None, field: str, source: str) -> float:
    try:
        v = float((text or "").strip())
    except ValueError:
        raise FileFormatError(f"{source}: field {field} = {text!r}: expected a number") from None
    if not math.isfinite(v):
        raise FileFormatError(f"{source}: field {field} = {text!r}: expected a finite number")
    return v


def _position(lat: float, lon: float, heading: float | None):
    """(lat, lon, heading) when the Kraken has a GNSS fix (lat = lon = 0 means none), else
    (None, None, None): its heading is then not the array's."""
    valid = -90 <= lat <= 90 and -180 <= lon <= 180 and not (lat == 0.0 and lon == 0.0)
    return (lat, lon, heading % 360.0 if heading is not None else None) if valid else (None,) * 3


def is_xml(text: str) -> bool:
    """Is this output the XML form (as opposed to CSV lines)?"""
    return text.lstrip().startswith("<")


def parse_doa_xml(text: str, source: str = "doa.xml") -> KrakenReading:
    """Parse the DSP's XML output; its DOA is θ (counter-clockwise), so relative = 360 − θ."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FileFormatError(f"{source}: not valid XML: {exc}") from None
    if root.tag != "DATA":
        raise FileFormatError(f"{source}: root element <{root.tag}>: expected <DATA>")

    def get(path: str) -> str:
        el = root.find(path)
        if el is None or el.text is None:
            raise FileFormatError(f"{source}: missing element <{path}>")
        return el.text

    theta = _num(get("DOA"), "DOA", source)
    loc = root.find("LOCATION")
    lat = _num(get("LOCATION/LATITUDE"), "LATITUDE", source) if loc is not None else 0.0
    lon = _num(get("LOCATION/LONGITUDE"), "LONGITUDE", source) if loc is not None else 0.0
    hd = root.find("LOCATION/HEADING")
    heading = _num(hd.text, "HEADING", source) if hd is not None and hd.text else None
    conf_el = root.find("CONF")
    papr = _num(conf_el.text, "CONF", source) / 100.0 if conf_el is not None else math.inf
    pwr_el = root.find("PWR")
    pwr = _num(pwr_el.text, "PWR", source) - 100.0 if pwr_el is not None else float("nan")
    time_ms = _num(get("TIME"), "TIME", source)
    freq = _num(get("FREQUENCY"), "FREQUENCY", source) * 1e6
    if not 0 <= time_ms < 1e14 or not 0 <= freq <= 1e12:
        raise FileFormatError(f"{source}: TIME {time_ms:g} ms or FREQUENCY out of range")
    lat, lon, heading = _position(lat, lon, heading)
    return KrakenReading(
        time_ms=int(time_ms),
        relative_deg=(360.0 - theta) % 360.0,
        papr_db=papr,
        power_db=pwr,
        freq_hz=freq,
        station_id=(root.findtext("STATION_ID") or "").strip(),
        lat_deg=lat,
        lon_deg=lon,
        heading_deg=heading,
        convention="theta",
    )


def _wrap(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


def line_theta(doa: float, spectrum: np.ndarray | None, convention: str) -> tuple[float, str]:
    """θ of a CSV line and the convention it was read with ("theta", "360-theta", "either" when
    the peak is where both agree, "spectrum" when the field agrees with neither)."""
    if spectrum is None or convention != "auto":
        if convention == "theta":
            return doa % 360.0, "theta"
        if convention == "360-theta":
            return (360.0 - doa) % 360.0, "360-theta"
        raise ValueError("no spectrum")
    peak = float(np.argmax(spectrum))
    d_theta, d_mirror = abs(_wrap(doa - peak)), abs(_wrap(360.0 - doa - peak))
    if min(d_theta, d_mirror) > AGREE_DEG:
        return peak, "spectrum"
    if d_theta == d_mirror:
        return doa % 360.0, "either"
    if d_theta < d_mirror:
        return doa % 360.0, "theta"
    return (360.0 - doa) % 360.0, "360-theta"


def parse_kraken_csv(
    text: str, source: str = "DOA_value.html", *, convention: str = "auto"
) -> list[KrakenReading]:
    """Parse "Kraken App" output: one reading per non-empty line (see the module docstring)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = [x.strip() for x in line.split(",")]
        where = f"{source} line {n}"
        if len(f) < 12:
            raise FileFormatError(
                f"{where}: {len(f)} fields; expected at least 12 (epoch_ms, DOA, confidence, "
                "power, freq_hz, array, latency, station_id, lat, lon, heading, heading)"
            )
        lat, lon, heading = _position(
            _num(f[8], "latitude", where),
            _num(f[9], "longitude", where),
            _num(f[10], "heading", where),
        )
        spectrum = None
        if len(f) >= HEADER_FIELDS + SPECTRUM_BINS:
            spectrum = np.array(
                [_num(v, f"spectrum[{k}]", where)
                 for k, v in enumerate(f[HEADER_FIELDS : HEADER_FIELDS + SPECTRUM_BINS])]
            )  # fmt: skip
        doa = _num(f[1], "DOA", where)
        try:
            theta, conv = line_theta(doa, spectrum, convention)
        except ValueError:
            raise FileFormatError(
                f"{where}: no 360-value DOA spectrum to tell θ from 360 − θ "
                f'({len(f)} fields); set [source] csv_convention = "theta" or "360-theta"'
            ) from None
        time_ms = _num(f[0], "epoch_ms", where)
        freq = _num(f[4], "freq_hz", where)
        if not 0 <= time_ms < 1e14 or not 0 <= freq <= 1e12:
            raise FileFormatError(f"{where}: epoch_ms {f[0]!r} or freq_hz {f[4]!r} out of range")
        out.append(
            KrakenReading(
                time_ms=int(time_ms),
                relative_deg=(360.0 - theta) % 360.0,
                papr_db=_num(f[2], "confidence", where),
                power_db=_num(f[3], "power", where),
                freq_hz=freq,
                station_id=f[7],
                lat_deg=lat,
                lon_deg=lon,
                heading_deg=heading,
                convention=conv,
            )
        )
    return out


def reading_to_row(
    r: KrakenReading,
    *,
    station: str,
    hunt: str,
    lat_deg: float,
    lon_deg: float,
    alt_m: float,
    heading_deg: float,
    sigma_deg: float,
    use_gnss: bool = True,
    confidence_full_db: float = CONFIDENCE_FULL_DB,
) -> dict:
    """An observation row: bearing = (relative + heading) mod 360, from the Kraken's GNSS
    position and heading when it reports a fix (and `use_gnss`), else from the station's."""
    gnss = use_gnss and r.lat_deg is not None
    lat, lon = (r.lat_deg, r.lon_deg) if gnss else (lat_deg, lon_deg)
    heading = r.heading_deg if (gnss and r.heading_deg is not None) else heading_deg
    az = (r.relative_deg + heading) % 360.0
    key = f"kraken|{hunt}|{station}|{r.time_ms}|{r.freq_hz:.0f}"
    row = {
        "id": str(uuid.uuid5(NAMESPACE, key)),
        "hunt": hunt,
        "kind": "bearing",
        "station": station,
        "time_s": r.time_ms / 1000.0,
        "lat": lat,
        "lon": lon,
        "alt_m": alt_m,
        "bearing_deg": az if az < 360.0 else 0.0,
        "sigma_deg": sigma_deg,
        "confidence": r.confidence(confidence_full_db),
    }
    if r.freq_hz > 0:
        row["freq_hz"] = r.freq_hz
    return row


class KrakenFollower:
    """Polls a KrakenSDR output (http URL or local file) and yields new observation rows."""

    def __init__(self, cfg, client=None, *, once: bool = False):
        src = cfg.source
        self.cfg = cfg
        self.url: str = src["url"]
        self.poll_s = float(src.get("poll_s", 1.0))
        self.sigma_deg = max(float(src.get("sigma_deg", 5.0)), float(src.get("min_sigma_deg", 0.5)))
        self.min_conf = float(src.get("min_confidence", 0.0))
        self.full_db = float(src.get("confidence_full_db", CONFIDENCE_FULL_DB))
        self.convention = str(src.get("csv_convention", "auto"))
        self.use_gnss = bool(src.get("use_gnss", True))
        self.client = client
        self.once = once
        self.exhausted = False
        self.warned = False
        self.seen: set[tuple[int, float]] = set()

    def fetch(self) -> str:
        if self.url.startswith(("http://", "https://")):
            import httpx

            if self.client is None:
                self.client = httpx.Client(timeout=5.0, trust_env=False)
            try:
                r = self.client.get(self.url)
                r.raise_for_status()
            except httpx.HTTPError as exc:
                raise OSError(f"KrakenSDR output {self.url}: {exc}") from None
            return r.text
        path = Path(self.url.removeprefix("file://"))
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"{path}: not UTF-8 text: {exc.reason}") from None

    def poll(self) -> list[dict]:
        """Rows for readings not seen before (the DSP rewrites the same output repeatedly)."""
        self.exhausted = self.once
        text = self.fetch()
        if not text.strip():
            return []
        if is_xml(text):
            readings = [parse_doa_xml(text, self.url)]
        else:
            readings = parse_kraken_csv(text, self.url, convention=self.convention)
        rows = []
        for r in readings:
            if r.convention == "spectrum" and not self.warned:
                self.warned = True
                log.warning(
                    "%s: a line's DOA agrees with neither θ nor 360 − θ of its spectrum's peak; "
                    "taking the peak (warned once)", self.url,
                )  # fmt: skip
            key = (r.time_ms, r.freq_hz)
            if key in self.seen or r.confidence(self.full_db) < self.min_conf:
                continue
            self.seen.add(key)
            rows.append(
                reading_to_row(
                    r,
                    station=self.cfg.name,
                    hunt=self.cfg.hunt,
                    lat_deg=self.cfg.lat_deg,
                    lon_deg=self.cfg.lon_deg,
                    alt_m=self.cfg.alt_m,
                    heading_deg=self.cfg.heading_deg or 0.0,
                    sigma_deg=self.sigma_deg,
                    use_gnss=self.use_gnss,
                    confidence_full_db=self.full_db,
                )
            )
        if len(self.seen) > 10_000:
            self.seen = set(sorted(self.seen)[-1000:])
        return rows
