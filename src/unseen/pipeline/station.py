"""The station pipeline: IQ as it arrives at one DF site → observation rows for the server.

    recording/receiver ──IqBlock──▶ [channelize to freq_hz] ──▶ doa.estimate ──▶ bearing rows
                                       (with the site's gain/phase calibration, if any)
                          └──────▶ detect (+ registry match) ─────────────────▶ detection rows

Rows are the server's observation rows (`unseen locate` rows plus `id` and `hunt`); ids are
UUIDv5 of (hunt, station, capture, frame, source), the capture being the recording's name, its
start time (core:datetime) and the SHA-256 of its samples: reprocessing the same recording for
the same hunt after a crash only produces duplicates the server ignores, while new data or
another hunt gets new ids.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unseen.doa.array import Array
from unseen.doa.calibrate import Calibration
from unseen.errors import ConfigError, InputError, UnseenError
from unseen.types import Detection, DoaEstimate, IqBlock, Site

log = logging.getLogger("unseen.station")

NAMESPACE = uuid.UUID("9c1d0b7e-2f0e-4b7a-8f5e-3f4f7f0a51c2")
PATTERNS = ("*.sigmf-meta", "*.sigmf", "*.wav")


@dataclass(frozen=True)
class StationSetup:
    """What the pipeline needs to know about the site (from station.toml)."""

    station: str
    hunt: str
    site: Site
    heading_deg: float = 0.0
    array: Array | None = None
    freq_hz: float | None = None
    bandwidth_hz: float = 200e3
    method: str = "music"
    num_sources: int = 1
    frame: int = 4096
    min_confidence: float = 0.0
    registry: str | None = None
    calibration: Calibration | None = None


def row_id(*parts: object) -> str:
    """Deterministic observation id: UUIDv5 of the parts."""
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


def capture_key(path: Path, utc_ns: int | None) -> str:
    """What identifies a recording's data: its name, start time (POSIX ns) and sample digest.

    The digest is SHA-256 of the sample file (`.sigmf-data` beside a `.sigmf-meta`, else the
    file itself), so a recording rewritten under the same name and time gets new ids.
    """
    data = path.with_suffix(".sigmf-data") if path.suffix == ".sigmf-meta" else path
    with open(data, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return f"{path.name}|{utc_ns}|{digest}"


def channelize(block: IqBlock, freq_hz: float, bandwidth_hz: float, taps: int = 129) -> IqBlock:
    """Shift `freq_hz` to 0 Hz and low-pass to ±bandwidth_hz/2 (windowed-sinc FIR, same rate)."""
    from scipy.signal import firwin, oaconvolve

    fs = block.sample_rate_hz
    off = freq_hz - block.center_freq_hz
    if abs(off) + bandwidth_hz / 2 > fs / 2:
        raise InputError(
            f"freq_hz={freq_hz:.0f}: outside the recorded band {block.center_freq_hz:.0f} "
            f"± {fs / 2:.0f} Hz"
        )
    n = np.arange(block.num_samples)
    x = block.samples * np.exp(-2j * np.pi * off / fs * n).astype(np.complex64)
    if bandwidth_hz < fs:
        h = firwin(taps, bandwidth_hz / 2, fs=fs).astype(np.float32)
        x = oaconvolve(x, h[None, :], mode="same", axes=1).astype(np.complex64)
    return IqBlock(x, fs, freq_hz, block.start_s, block.utc_ns, block.site)


def block_time_s(block: IqBlock) -> float:
    """POSIX seconds of the block when the source knows them, else seconds from its start."""
    return block.utc_ns / 1e9 if block.utc_ns is not None else block.start_s


def bearing_rows(
    est: DoaEstimate, block: IqBlock, setup: StationSetup, key: str, freq_hz: float
) -> list[dict]:
    """One bearing row per source found in the frame."""
    site = block.site or setup.site
    rows = []
    for k, (az, sig, conf) in enumerate(
        zip(est.azimuths_deg, est.sigma_deg, est.confidence, strict=True)
    ):
        if not (np.isfinite(az) and np.isfinite(sig) and sig > 0) or conf < setup.min_confidence:
            continue
        rows.append(
            {
                "id": row_id(setup.hunt, setup.station, key, est.frame, k),
                "hunt": setup.hunt,
                "kind": "bearing",
                "station": setup.station,
                "time_s": block_time_s(block),
                "lat": site.lat_deg,
                "lon": site.lon_deg,
                "alt_m": site.alt_m,
                "bearing_deg": float(az) % 360.0,
                "sigma_deg": float(min(sig, 180.0)),
                "confidence": float(min(max(conf, 0.0), 1.0)),
                "freq_hz": float(freq_hz),
            }
        )
    return rows


def detection_rows(dets: list[Detection], setup: StationSetup, key: str, t0_s: float) -> list[dict]:
    """Detection rows (licensed flag when a registry was given)."""
    out = []
    for i, d in enumerate(dets):
        row = {
            "id": row_id(setup.hunt, setup.station, key, "det", i),
            "hunt": setup.hunt,
            "kind": "detection",
            "station": setup.station,
            "time_s": t0_s + d.start_s,
            "lat": setup.site.lat_deg,
            "lon": setup.site.lon_deg,
            "alt_m": setup.site.alt_m,
            "freq_hz": d.freq_hz,
            "bandwidth_hz": d.bandwidth_hz,
            "snr_db": d.snr_db,
            "power_dbfs": d.power_dbfs,
            "modulation": d.modulation,
        }
        if d.licensed is not None:
            row["licensed"] = d.licensed
        if d.assignment:
            row["assignment"] = d.assignment
        out.append(row)
    return out


def process_recording(path: Path, setup: StationSetup) -> list[dict]:
    """Detections and per-frame bearings of one recording."""
    from unseen.detect.detect import detect
    from unseen.doa.stage import estimate
    from unseen.sources import open_recording

    rec = open_recording(path)
    try:
        array = setup.array
        if "unseen:array" in rec.extensions:
            array = Array.from_dict(rec.extensions["unseen:array"], source=str(path))
        if array is None:
            raise ConfigError(
                f"{path}: no `unseen:array` in the recording; set [source] array in station.toml"
            )
        if array.heading_deg == 0.0 and setup.heading_deg:
            array = array.rotated(setup.heading_deg)
        if rec.num_channels != array.num_elements:
            raise InputError(
                f"{path}: {rec.num_channels} channels but the array has {array.num_elements}"
            )
        key = capture_key(path, rec.utc_ns)
        t0 = rec.utc_ns / 1e9 if rec.utc_ns is not None else 0.0
        dets = detect(rec, max_rows=64)
        if setup.registry:
            from unseen.detect.registry import load_registry, match

            dets = match(dets, load_registry(setup.registry))
        rows = detection_rows(dets, setup, key, t0)
        freq = setup.freq_hz or rec.center_freq_hz
        for i, block in enumerate(rec.frames(setup.frame)):
            if setup.freq_hz is not None and setup.freq_hz != block.center_freq_hz:
                block = channelize(block, setup.freq_hz, setup.bandwidth_hz)
            try:
                est = estimate(
                    block, array, freq, setup.method, setup.num_sources, frame=i,
                    calibration=setup.calibration,
                )  # fmt: skip
            except UnseenError as exc:
                log.warning("%s frame %d: %s", path, i, exc)
                continue
            rows += bearing_rows(est, block, setup, key, freq)
        return rows
    finally:
        rec.close()


def setup_from_config(cfg) -> StationSetup:
    """A StationSetup from a station.toml (`unseen.agent.StationConfig`)."""
    src = cfg.source
    where = f"{cfg.path}: [source]"
    array = None
    if "array" in src:
        try:
            array = Array.from_spec(str(src["array"]), cfg.heading_deg)
        except InputError as exc:
            raise ConfigError(f"{where} array = {src['array']!r}: {exc}") from None
    types = {"freq_hz": (int, float), "bandwidth_hz": (int, float), "frame": int,
             "sources": int, "method": str, "registry": str, "calibration": str}  # fmt: skip
    for key, kind in types.items():
        if key in src and not isinstance(src[key], kind):
            raise ConfigError(f"{where} {key} = {src[key]!r}: wrong type")
    cal = Calibration.load(src["calibration"]) if "calibration" in src else None
    return StationSetup(
        station=cfg.name,
        hunt=cfg.hunt,
        site=Site(cfg.name, cfg.lat_deg, cfg.lon_deg, cfg.alt_m),
        heading_deg=cfg.heading_deg,
        array=array,
        freq_hz=float(src["freq_hz"]) if "freq_hz" in src else None,
        bandwidth_hz=float(src.get("bandwidth_hz", 200e3)),
        method=str(src.get("method", "music")),
        num_sources=int(src.get("sources", 1)),
        frame=int(src.get("frame", 4096)),
        min_confidence=float(src.get("min_confidence", 0.0)),
        registry=src.get("registry"),
        calibration=cal,
    )


class IqFollower:
    """The agent's IQ source: a recording (`file`), a directory being written to, or SoapySDR.

    `poll()` returns the rows of the next unit of work; `exhausted` turns True when a finite
    source is done. A directory's file is processed once its size has stopped changing.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.kind = cfg.source["kind"]
        self.setup = setup_from_config(cfg)
        self.poll_s = float(cfg.source.get("poll_s", 1.0))
        self.path = Path(cfg.source.get("path", ""))
        self.exhausted = False
        self.done: set[str] = set()
        self.sizes: dict[str, int] = {}
        self.live = None
        self.frame_no = 0

    def poll(self) -> list[dict]:
        if self.kind == "file":
            if not self.path.exists():
                raise ConfigError(
                    f"{self.cfg.path}: [source] path = {str(self.path)!r}: no such file"
                )
            self.exhausted = True
            return process_recording(self.path, self.setup)
        if self.kind == "directory":
            return self._poll_directory()
        return self._poll_soapy()

    def _poll_directory(self) -> list[dict]:
        if not self.path.is_dir():
            raise ConfigError(
                f"{self.cfg.path}: [source] path = {str(self.path)!r}: not a directory"
            )
        for pattern in PATTERNS:
            for f in sorted(self.path.glob(pattern)):
                if f.name in self.done:
                    continue
                data = f.with_suffix(".sigmf-data") if f.suffix == ".sigmf-meta" else f
                size = data.stat().st_size if data.exists() else -1
                if size <= 0 or self.sizes.get(f.name) != size:
                    self.sizes[f.name] = size  # still being written: look again next poll
                    continue
                self.done.add(f.name)
                try:
                    return process_recording(f, self.setup)
                except (InputError, OSError) as exc:
                    log.error("%s: skipped: %s", f, exc)
        return []

    def _poll_soapy(self) -> list[dict]:
        from unseen.doa.stage import estimate
        from unseen.sources.soapy import SoapySource

        src = self.cfg.source
        if self.live is None:
            if self.setup.array is None:
                raise ConfigError(f"{self.cfg.path}: [source] array is required for soapy")
            n = self.setup.array.num_elements
            self.live = SoapySource(
                str(src.get("args", "")),
                float(src.get("sample_rate_hz", 2.4e6)),
                float(src.get("center_freq_hz", self.setup.freq_hz or 0.0)),
                channels=tuple(range(n)),
                gain_db=src.get("gain_db"),
                site=self.setup.site,
            ).frames(self.setup.frame)
        block = next(self.live)
        freq = self.setup.freq_hz or block.center_freq_hz
        if freq != block.center_freq_hz:
            block = channelize(block, freq, self.setup.bandwidth_hz)
        self.frame_no += 1
        est = estimate(
            block, self.setup.array, freq, self.setup.method, self.setup.num_sources,
            frame=self.frame_no, calibration=self.setup.calibration,
        )  # fmt: skip
        key = f"soapy-{block.utc_ns or time.time_ns()}"
        return bearing_rows(est, block, self.setup, key, freq)
