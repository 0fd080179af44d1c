"""The station agent's pipeline: one recording (or live IQ) → observation rows for the server.

    recording ─▶ the station chain (`unseen.pipeline.chain`, the hunt's): band scan → carriers
                 against the registry → calibration on a licensed transmitter of known position
                 → channelize the target → DOA in each frame it is on the air
              ─▶ detection rows (one per carrier) + bearing rows (one per frame on the air)

The target is `freq_hz` when given, else the strongest carrier the registry does not license;
with neither a registry nor `freq_hz` the whole band is DFed in every frame (said in the log).
Bearing rows carry `sigma_sys_deg`, the error the station's calibration leaves common to all its
bearings, so the server fuses them as the hunt does (`unseen.locate.aggregate`). `time_s` is
absolute (POSIX s, UTC) from the recording's `core:datetime`; a recording without one is posted
with seconds from its start and a warning naming the file.

Live IQ (SoapySDR) is cut into windows of `[source] window_s` (10 s) held in memory, each run
through the same chain as a recording, with absolute time from the device's clock or the host's
(`unseen.sources.soapy`); the calibration made on the first window that holds a licensed
transmitter of known site is carried to the later ones (with its σ_sys). A window's capture key
is the device, its first sample's time and the SHA-256 of its samples.

Row ids are UUIDv5 of (hunt, station, capture, frame, source), the capture being the recording's
name, its start time (core:datetime) and the SHA-256 of its samples: reprocessing the same
recording for the same hunt after a crash only produces duplicates the server ignores, while new
data or another hunt gets new ids.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from unseen.doa.array import Array
from unseen.doa.calibrate import Calibration
from unseen.errors import ConfigError, InputError
from unseen.locate.floors import FIELD_MIN_SIGMA_DEG, TRUSTED_SIGMA_DEG
from unseen.types import Detection, IqBlock, Site

log = logging.getLogger("unseen.station")

NAMESPACE = uuid.UUID("9c1d0b7e-2f0e-4b7a-8f5e-3f4f7f0a51c2")
PATTERNS = ("*.sigmf-meta", "*.sigmf", "*.wav")
WINDOW_S = 10.0  # live IQ is cut into windows this long, each run through the chain


@dataclass(frozen=True)
class StationSetup:
    """What the pipeline needs to know about the site (from station.toml).

    `calibration`: a file's calibration (applied as is); `calibrate`: else calibrate on a
    licensed transmitter of known position (False: `calibration = "none"`). `sigma_floor_deg`
    is the hunt's floor (same name, same default); `min_sigma_deg` the floor for every source.
    """

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
    calibrate: bool = True
    sigma_floor_deg: float = TRUSTED_SIGMA_DEG
    min_sigma_deg: float = FIELD_MIN_SIGMA_DEG


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


def block_time_s(block: IqBlock) -> float:
    """POSIX seconds of the block when the source knows them, else seconds from its start."""
    return block.utc_ns / 1e9 if block.utc_ns is not None else block.start_s


def _bearing_row(
    setup: StationSetup, key: str, frame: int, k: int, site: Site, time_s: float, az: float,
    sigma: float, conf: float, freq_hz: float, sys_deg: float | None,
) -> dict:  # fmt: skip
    row = {
        "id": row_id(setup.hunt, setup.station, key, frame, k),
        "hunt": setup.hunt,
        "kind": "bearing",
        "station": setup.station,
        "time_s": time_s,
        "lat": site.lat_deg,
        "lon": site.lon_deg,
        "alt_m": site.alt_m,
        "bearing_deg": float(az) % 360.0,
        "sigma_deg": float(min(max(sigma, setup.min_sigma_deg), 180.0)),
        "confidence": float(min(max(conf, 0.0), 1.0)),
        "freq_hz": float(freq_hz),
    }
    if sys_deg is not None:
        row["sigma_sys_deg"] = float(min(sys_deg, 180.0))
    return row


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


def chain_options(setup: StationSetup):
    """The station chain's options from the site's setup."""
    from unseen.pipeline.chain import ChainOptions

    return ChainOptions(
        method=setup.method,
        sigma_floor_deg=max(setup.sigma_floor_deg, setup.min_sigma_deg),
        target_freq_hz=setup.freq_hz,
        channel_bandwidth_hz=setup.bandwidth_hz,
        calibrate=setup.calibrate,
        calibration=setup.calibration,
    )


def process_recording(path: Path, setup: StationSetup) -> list[dict]:
    """Detection rows and one bearing row per frame the target is on the air, through the
    station chain (the hunt's)."""
    from unseen.pipeline.layout import open_station

    path = Path(path)
    st = open_station(path, station=setup.station, site=setup.site, frame_samples=setup.frame,
                      array=setup.array)  # fmt: skip
    rec = st.recording
    try:
        if st.array.heading_deg == 0.0 and setup.heading_deg and not st.mobile:
            st.array = st.array.rotated(setup.heading_deg)
        registry = load_registry(setup)
        if rec.utc_ns_at(0) is None:
            log.warning("%s: no core:datetime: posting time_s as seconds from its start, not UTC",
                        path)  # fmt: skip
        rows, _ = station_rows(st, setup, registry, capture_key(path, rec.utc_ns), str(path))
        return rows
    finally:
        rec.close()


def load_registry(setup: StationSetup) -> list | None:
    """The licence registry named in the setup (None without one)."""
    if not setup.registry:
        return None
    from unseen.detect.registry import load_registry as load

    return load(setup.registry)


Carried = tuple[Calibration, str, float]
"""A calibration made earlier on this station: (calibration, source name, σ_sys degrees)."""


def station_rows(
    st, setup: StationSetup, registry: list | None, key: str, name: str,
    carried: Carried | None = None,
):  # fmt: skip
    """Rows of one station's data through the chain: detections, then a bearing per frame the
    target is on the air. `carried` is a calibration made on an earlier window (live sources):
    applied as is, its σ_sys posted with each bearing. Returns (rows, the chain's run)."""
    from dataclasses import replace

    from unseen.pipeline.chain import run_station

    rec = st.recording
    utc0 = rec.utc_ns_at(0)
    opt = chain_options(setup)
    if carried is not None:
        opt = replace(opt, calibration=carried[0], calibrate=False)
    whole = registry is None and setup.freq_hz is None
    if whole:
        log.warning("%s: no registry and no freq_hz: DF the whole band in every frame", name)
        opt = replace(opt, target_freq_hz=float(rec.center_freq_hz),
                      channel_bandwidth_hz=float(rec.sample_rate_hz))  # fmt: skip
    run = run_station(st, registry, opt)
    sys_deg = run.sigma_sys_deg if carried is None else carried[2]
    if run.calibration_source:
        log.info("%s: array calibrated on %s (σ_sys %.2f°)", name, run.calibration_source,
                 run.sigma_sys_deg)  # fmt: skip
    elif setup.calibration is None and setup.calibrate and carried is None:
        log.warning("%s: no licensed transmitter with a known site detected: uncalibrated",
                    name)  # fmt: skip
    t0 = utc0 / 1e9 if utc0 is not None else 0.0
    rows = detection_rows(list(run.detections), setup, key, t0)
    if run.target is None:
        log.warning("%s: no unlicensed carrier among %d detected: no bearings", name,
                    len(run.detections))  # fmt: skip
        return rows, run
    if not whole:
        log.info("%s: target %.4f MHz%s; on the air in %d of %d frames", name,
                 run.target.freq_hz / 1e6,
                 "" if math.isfinite(run.target.snr_db) else " (not detected: every frame)",
                 sum(run.on_air), len(run.on_air))  # fmt: skip
    freq = run.target.freq_hz
    if whole:
        freq = float(rec.center_freq_hz)
    low = 0
    for b in run.bearings:
        if b.confidence < setup.min_confidence:
            low += 1
            continue
        t = b.utc_ns / 1e9 if b.utc_ns is not None else b.time_s
        rows.append(
            _bearing_row(setup, key, b.frame, 0, b.site, t, b.azimuth_deg, b.sigma_deg,
                         b.confidence, freq, sys_deg)
        )  # fmt: skip
    if low:
        log.info("%s: %d bearing(s) below min_confidence %.2f not posted", name, low,
                 setup.min_confidence)  # fmt: skip
    return rows, run


def setup_from_config(cfg) -> StationSetup:
    """A StationSetup from a station.toml (`unseen.agent.StationConfig`, already checked)."""
    src = cfg.source
    where = f"{cfg.path}: [source]"
    array = None
    if "array" in src:
        try:
            array = Array.from_spec(str(src["array"]))
        except InputError as exc:
            raise ConfigError(f"{where} array = {src['array']!r}: {exc}") from None
        if cfg.heading_deg is not None and cfg.heading_deg != array.heading_deg:
            if array.heading_deg != 0.0:
                log.warning("%s: [station] heading_deg %g replaces the array file's heading_deg %g",
                            cfg.path, cfg.heading_deg, array.heading_deg)  # fmt: skip
            array = array.rotated(cfg.heading_deg)
    cal_opt = src.get("calibration")
    cal = None
    if cal_opt is not None and cal_opt != "none":
        try:
            cal = Calibration.load(cal_opt)
        except (InputError, OSError) as exc:
            raise ConfigError(f"{where} calibration = {cal_opt!r}: {exc}") from None
    return StationSetup(
        station=cfg.name,
        hunt=cfg.hunt,
        site=Site(cfg.name, cfg.lat_deg, cfg.lon_deg, cfg.alt_m),
        heading_deg=cfg.heading_deg or 0.0,
        array=array,
        freq_hz=float(src["freq_hz"]) if "freq_hz" in src else None,
        bandwidth_hz=float(src.get("bandwidth_hz", 200e3)),
        method=str(src.get("method", "music")),
        num_sources=int(src.get("sources", 1)),
        frame=int(src.get("frame", 4096)),
        min_confidence=float(src.get("min_confidence", 0.0)),
        registry=src.get("registry"),
        calibration=cal,
        calibrate=cal_opt != "none",
        sigma_floor_deg=float(src.get("sigma_floor_deg", TRUSTED_SIGMA_DEG)),
        min_sigma_deg=float(src.get("min_sigma_deg", FIELD_MIN_SIGMA_DEG)),
    )


class IqFollower:
    """The agent's IQ source: a recording (`file`), a directory being written to, or SoapySDR.

    `poll()` returns the rows of the next unit of work; `exhausted` turns True when a finite
    source is done (a `file` once read; a `directory`, with `once`, when every recording there
    has been processed). A directory's file is processed once its size has stopped changing.
    With a `state` store (the spool), recordings already processed are remembered across
    restarts: `mark_done()`, called once their rows are durably spooled, records them.
    An unreadable recording in a directory is skipped with one line naming it.
    """

    def __init__(self, cfg, *, state=None, once: bool = False):
        self.cfg = cfg
        self.kind = cfg.source["kind"]
        self.setup = setup_from_config(cfg)
        self.poll_s = float(cfg.source.get("poll_s", 1.0))
        self.path = Path(cfg.source.get("path", ""))
        self.state = state
        self.once = once
        self.exhausted = False
        self.done: set[str] = set()
        self.sizes: dict[str, int] = {}
        self.pending: list[str] = []
        self.live = None
        self.window = 0
        self.registry: list | None = None
        self.carried: Carried | None = None

    def _key(self, f: Path) -> str:
        data = f.with_suffix(".sigmf-data") if f.suffix == ".sigmf-meta" else f
        st = data.stat()
        return f"done|{self.cfg.hunt}|{f.resolve()}|{st.st_size}|{st.st_mtime_ns}"

    def _delivered(self, key: str) -> bool:
        return self.state is not None and self.state.get_state(key) is not None

    def mark_done(self) -> None:
        """Remember the recordings whose rows were just spooled (survives restarts)."""
        if self.state is not None:
            for key in self.pending:
                self.state.set_state(key, str(time.time()))
        self.pending = []

    def poll(self) -> list[dict]:
        if self.kind == "file":
            if not self.path.is_file():
                raise ConfigError(
                    f"{self.cfg.path}: [source] path = {str(self.path)!r}: no such file"
                )
            self.exhausted = True
            key = self._key(self.path)
            if self._delivered(key):
                log.info("%s: already processed (spool state); nothing new", self.path)
                return []
            rows = process_recording(self.path, self.setup)
            self.pending.append(key)
            return rows
        if self.kind == "directory":
            return self._poll_directory()
        return self._poll_soapy()

    def _poll_directory(self) -> list[dict]:
        if not self.path.is_dir():
            raise ConfigError(
                f"{self.cfg.path}: [source] path = {str(self.path)!r}: not a directory"
            )
        waiting = False
        for pattern in PATTERNS:
            for f in sorted(self.path.glob(pattern)):
                if f.name in self.done:
                    continue
                data = f.with_suffix(".sigmf-data") if f.suffix == ".sigmf-meta" else f
                size = data.stat().st_size if data.exists() else -1
                if self.sizes.get(f.name) != size:
                    self.sizes[f.name] = size  # still being written: look again next poll
                    waiting = True
                    continue
                self.done.add(f.name)
                if size <= 0:
                    log.error("%s: skipped, unreadable: no samples (%s missing or empty)", f,
                              data.name)  # fmt: skip
                    continue
                key = self._key(f)
                if self._delivered(key):
                    continue
                try:
                    rows = process_recording(f, self.setup)
                except Exception as exc:  # one bad recording must not stop the others
                    why = (str(exc).splitlines() or [""])[0]
                    if not isinstance(exc, InputError | OSError):
                        why = f"{type(exc).__name__}: {why}"
                    log.error("%s: skipped, unreadable: %s", f, why)
                    continue
                self.pending.append(key)
                return rows
        if self.once and not waiting:
            self.exhausted = True
        return []

    def _open_soapy(self) -> None:
        """Open the device, once: the window's memory is checked against the budget first."""
        from unseen import validate
        from unseen.sources.soapy import SoapySource

        src, where = self.cfg.source, f"{self.cfg.path}: [source]"
        if self.setup.array is None:
            raise ConfigError(f"{where} array is required for soapy")
        center = src.get("center_freq_hz", self.setup.freq_hz)
        if center is None:
            raise ConfigError(f"{where} center_freq_hz (or freq_hz) is required for soapy")
        n = self.setup.array.num_elements
        rate = float(src.get("sample_rate_hz", 2.4e6))
        window_s = float(src.get("window_s", WINDOW_S))
        count = round(window_s * rate)
        if count < self.setup.frame:
            raise ConfigError(f"{where} window_s = {window_s:g}: shorter than one frame of "
                              f"{self.setup.frame} samples at {rate:g} Hz")  # fmt: skip
        validate.budget(n * count * 8.0, f"{where} window_s = {window_s:g}: a window of {n} "
                        f"channels × {rate:g} Hz × {window_s:g} s (complex64)",
                        ConfigError)  # fmt: skip
        self.window = count
        self.registry = load_registry(self.setup)
        self.live = SoapySource(str(src.get("args", "")), rate, float(center),
                                channels=tuple(range(n)), gain_db=src.get("gain_db"),
                                site=self.setup.site)  # fmt: skip

    def _poll_soapy(self) -> list[dict]:
        """The next window of live IQ through the station chain (as a recording would go).

        Calibration is made on the first window where a licensed transmitter of known site is
        detected and carried to the later ones. With `once`, one window, then the device closes.
        """
        from unseen.pipeline.layout import FrameRef, StationData

        if self.live is None:
            self._open_soapy()
        try:
            win = self.live.window(self.window)
        finally:
            if self.once:
                self.exhausted = True
                self.live.close()
        digest = hashlib.sha256(memoryview(win.samples).cast("B")).hexdigest()
        key = f"{win.path.name}|{win.utc_ns}|{digest}"
        done = f"done|{self.cfg.hunt}|{key}"
        if self._delivered(done):
            log.info("%s: already processed (spool state); nothing new", win.path)
            return []
        site, f = self.setup.site, self.setup.frame
        frames = [
            FrameRef(s, f, win.time_s(s), win.utc_ns_at(s), site.lat_deg, site.lon_deg,
                     site.alt_m, 0.0)
            for s in range(0, win.num_samples - f + 1, f)
        ]  # fmt: skip
        st = StationData(self.setup.station, self.setup.station, False,
                         self.live.disciplined, win, self.setup.array, frames)  # fmt: skip
        rows, run = station_rows(st, self.setup, self.registry, key, str(win.path), self.carried)
        if self.carried is None and run.calibration_source and run.calibration is not None:
            self.carried = (run.calibration, run.calibration_source, run.sigma_sys_deg)
            log.info("%s: calibration on %s kept for the following windows", win.path,
                     run.calibration_source)  # fmt: skip
        self.pending.append(done)
        return rows
