"""Follow a KrakenSDR DoA DSP instance through the bearing output it publishes.

Two formats, both written (overwritten) by the DSP every update:

- `doa.xml` ("DF Aggregator"): `<DATA>` with STATION_ID, TIME (epoch ms), FREQUENCY (MHz),
  LOCATION/{LATITUDE, LONGITUDE, HEADING}, DOA, PWR (dB + 100), CONF (percent). DOA is the
  DSP's θ: counter-clockwise from the array's reference direction (unit-circle convention).
- the "Kraken App" CSV line (DOA_value.html), one line per VFO: `epoch_ms, DOA, confidence,
  power_db, freq_hz, array_type, latency_ms, station_id, lat, lon, heading, heading2, "GPS",
  R, R, R, R, spectrum...`, where DOA is 360 − θ, i.e. already clockwise from the reference.

So the true bearing is (360 − θ + heading) mod 360 from the XML and (DOA + heading) mod 360
from the CSV, heading being the array reference's azimuth clockwise from true north.
"""

from __future__ import annotations

import math
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from unseen.errors import FileFormatError

NAMESPACE = uuid.UUID("5b0f2f5e-63a4-4c55-9a0e-6a1d3c1c7a10")


@dataclass(frozen=True)
class KrakenReading:
    """One bearing output, with the DSP's angle converted to clockwise-from-reference."""

    time_ms: int
    relative_deg: float
    confidence: float
    power_db: float
    freq_hz: float
    station_id: str
    lat_deg: float | None
    lon_deg: float | None
    heading_deg: float | None


def _num(text: str | None, field: str, source: str) -> float:
    try:
        v = float((text or "").strip())
    except ValueError:
        raise FileFormatError(f"{source}: field {field} = {text!r}: expected a number") from None
    if not math.isfinite(v):
        raise FileFormatError(f"{source}: field {field} = {text!r}: expected a finite number")
    return v


def _position(lat: float, lon: float, heading: float | None):
    valid = -90 <= lat <= 90 and -180 <= lon <= 180 and not (lat == 0.0 and lon == 0.0)
    return (lat, lon, heading) if valid else (None, None, heading)


def parse_doa_xml(text: str, source: str = "doa.xml") -> KrakenReading:
    """Parse the DSP's XML output; its DOA (θ, counter-clockwise) becomes 360 − θ."""
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
    conf = _num(conf_el.text, "CONF", source) / 100.0 if conf_el is not None else 1.0
    pwr_el = root.find("PWR")
    pwr = _num(pwr_el.text, "PWR", source) - 100.0 if pwr_el is not None else float("nan")
    lat, lon, heading = _position(lat, lon, heading)
    return KrakenReading(
        time_ms=int(_num(get("TIME"), "TIME", source)),
        relative_deg=(360.0 - theta) % 360.0,
        confidence=min(max(conf, 0.0), 1.0),
        power_db=pwr,
        freq_hz=_num(get("FREQUENCY"), "FREQUENCY", source) * 1e6,
        station_id=(root.findtext("STATION_ID") or "").strip(),
        lat_deg=lat,
        lon_deg=lon,
        heading_deg=heading,
    )


def parse_kraken_csv(text: str, source: str = "DOA_value.html") -> list[KrakenReading]:
    """Parse "Kraken App" output: one reading per non-empty line; its DOA is 360 − θ already."""
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
        out.append(
            KrakenReading(
                time_ms=int(_num(f[0], "epoch_ms", where)),
                relative_deg=_num(f[1], "DOA", where) % 360.0,
                confidence=min(max(_num(f[2], "confidence", where), 0.0), 1.0),
                power_db=_num(f[3], "power", where),
                freq_hz=_num(f[4], "freq_hz", where),
                station_id=f[7],
                lat_deg=lat,
                lon_deg=lon,
                heading_deg=heading,
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
) -> dict:
    """An observation row: azimuth = (relative + heading) mod 360 from the GNSS position when
    the reading carries a valid one (and `use_gnss`), else from the station's fixed position."""
    gnss = use_gnss and r.lat_deg is not None
    lat, lon = (r.lat_deg, r.lon_deg) if gnss else (lat_deg, lon_deg)
    heading = r.heading_deg if (use_gnss and r.heading_deg is not None) else heading_deg
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
        "confidence": r.confidence,
    }
    if r.freq_hz > 0:
        row["freq_hz"] = r.freq_hz
    return row


class KrakenFollower:
    """Polls a KrakenSDR output (http URL or local file) and yields new observation rows."""

    def __init__(self, cfg, client=None):
        src = cfg.source
        self.cfg = cfg
        self.url: str = src["url"]
        self.format: str = src.get("format", "xml")
        self.poll_s = float(src.get("poll_s", 1.0))
        self.sigma_deg = float(src.get("sigma_deg", 5.0))
        self.min_conf = float(src.get("min_confidence", 0.0))
        self.use_gnss = bool(src.get("use_gnss", True))
        self.client = client
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
        return path.read_text()

    def poll(self) -> list[dict]:
        """Rows for readings not seen before (the DSP rewrites the same output repeatedly)."""
        text = self.fetch()
        if not text.strip():
            return []
        if self.format == "xml":
            readings = [parse_doa_xml(text, self.url)]
        else:
            readings = parse_kraken_csv(text, self.url)
        rows = []
        for r in readings:
            key = (r.time_ms, r.freq_hz)
            if key in self.seen or r.confidence < self.min_conf:
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
                    heading_deg=self.cfg.heading_deg,
                    sigma_deg=self.sigma_deg,
                    use_gnss=self.use_gnss,
                )
            )
        if len(self.seen) > 10_000:
            self.seen = set(sorted(self.seen)[-1000:])
        return rows
