"""Live receiver through SoapySDR (optional: the bindings come from the system, not PyPI).

Uses this subset of the SoapySDR Device API: ``Device(args)``, ``setSampleRate``,
``setFrequency``, ``setGain``, ``setupStream(RX, CF32, channels)``, ``activateStream``,
``readStream(stream, buffers, n, timeoutUs=)`` (→ ``ret``, ``flags``, ``timeNs``),
``deactivateStream``, ``closeStream`` and, when present, ``getTimeSource``.

Time: the device's hardware time (``SOAPY_SDR_HAS_TIME``) when it gives one that reads as UTC
(after 2000-01-01; a counter from power-up does not), else the host clock at the first sample
(read time − samples read / rate): NTP-grade at best, so it is said in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from unseen.errors import InputError
from unseen.types import IqBlock, Site

log = logging.getLogger("unseen.sources.soapy")

MISSING = (
    "the live SoapySDR source needs the SoapySDR Python bindings, which are not installed "
    "(Debian/Ubuntu: apt install python3-soapysdr plus a driver module such as "
    "soapysdr-module-rtlsdr)"
)
UTC_MIN_NS = 946_684_800 * 10**9  # 2000-01-01: device times before are counters, not UTC
TIMEOUT = -1
OVERFLOW = -4
MAX_TIMEOUTS = 10  # consecutive 1 s read time-outs before the device is declared silent
DISCIPLINED = ("gps", "gnss", "pps", "external")


def _soapy():
    try:
        import SoapySDR  # type: ignore[import-not-found]
    except ImportError:
        raise InputError(MISSING) from None
    return SoapySDR


class LiveWindow:
    """Consecutive live samples held in memory, read like a `Recording` (the chain's view).

    `stamps` are (sample index, POSIX ns) of each read: the time of sample i is that of the
    last stamp at or before it plus (i − index)/rate, so a gap the device reports is kept.
    """

    def __init__(
        self, samples: np.ndarray, sample_rate_hz: float, center_freq_hz: float,
        stamps: list[tuple[int, int]], *, name: str, site: Site | None = None,
    ) -> None:  # fmt: skip
        self.samples = samples
        self.sample_rate_hz = float(sample_rate_hz)
        self.center_freq_hz = float(center_freq_hz)
        self._idx = np.array([s[0] for s in stamps], np.int64)
        self._ns = np.array([s[1] for s in stamps], np.int64)
        self.utc_ns = int(self._ns[0])
        self.path = Path(name)
        self.site = site
        self.station = site.station if site else name
        self.extensions: dict = {}
        self.captures: list = []
        self.annotations: list = []

    @property
    def num_channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])

    def utc_ns_at(self, index: int) -> int:
        """POSIX ns of sample `index`."""
        j = max(0, int(np.searchsorted(self._idx, index, side="right")) - 1)
        return int(self._ns[j]) + round((index - int(self._idx[j])) * 1e9 / self.sample_rate_hz)

    def time_s(self, index: int) -> float:
        return (self.utc_ns_at(index) - self.utc_ns) / 1e9

    def read(self, start: int = 0, count: int | None = None) -> IqBlock:
        n = self.num_samples
        count = n - start if count is None else count
        if start < 0 or count < 0 or start + count > n:
            raise InputError(f"{self.path}: read of samples [{start}, {start + count}) outside "
                             f"the window's {n} samples")  # fmt: skip
        return IqBlock(self.samples[:, start : start + count], self.sample_rate_hz,
                       self.center_freq_hz, self.time_s(start), self.utc_ns_at(start),
                       self.site)  # fmt: skip

    def close(self) -> None:
        """Nothing held but memory."""


class SoapySource:
    """Stream complex64 samples from a SoapySDR device (`args` like ``"driver=rtlsdr"``).

    Channels are read together so their phases stay coherent. `clock` says where the time
    stamps come from ("device" or "host") once the first samples are read; `disciplined` is
    True when the device's time source names GNSS/PPS/external.
    """

    def __init__(
        self,
        args: str,
        sample_rate_hz: float,
        center_freq_hz: float,
        *,
        channels: tuple[int, ...] = (0,),
        gain_db: float | None = None,
        site: Site | None = None,
    ) -> None:
        soapy = _soapy()
        self._soapy = soapy
        self.args = args
        self.sample_rate_hz = float(sample_rate_hz)
        self.center_freq_hz = float(center_freq_hz)
        self.channels = tuple(channels)
        self.site = site
        self.clock: str | None = None
        try:
            self._dev = soapy.Device(args)
        except Exception as exc:
            raise InputError(f"SoapySDR device {args!r}: cannot open ({exc})") from None
        for ch in self.channels:
            self._dev.setSampleRate(soapy.SOAPY_SDR_RX, ch, self.sample_rate_hz)
            self._dev.setFrequency(soapy.SOAPY_SDR_RX, ch, self.center_freq_hz)
            if gain_db is not None:
                self._dev.setGain(soapy.SOAPY_SDR_RX, ch, float(gain_db))
        try:
            src = str(self._dev.getTimeSource())
        except Exception:
            src = ""
        self.disciplined = any(w in src.lower() for w in DISCIPLINED)
        self._stream = self._dev.setupStream(
            soapy.SOAPY_SDR_RX, soapy.SOAPY_SDR_CF32, list(self.channels)
        )
        self._dev.activateStream(self._stream)
        self._count = 0
        self._closed = False

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    def _stamp(self, sr) -> int:
        has = sr.flags & getattr(self._soapy, "SOAPY_SDR_HAS_TIME", 4)
        if has and int(sr.timeNs) >= UTC_MIN_NS:
            clock = "device"
            ns = int(sr.timeNs)
        else:
            clock = "host"
            ns = time.time_ns() - round(sr.ret * 1e9 / self.sample_rate_hz)
        if clock != self.clock:
            if clock == "device":
                log.info("SoapySDR %s: time stamps from the device's clock%s", self.args,
                         "" if self.disciplined else " (not GNSS-disciplined: as set)")  # fmt: skip
            else:
                log.warning("SoapySDR %s: the device gives no UTC time: time_s is the host clock "
                            "at the first sample (not GNSS-disciplined; NTP-grade at best)",
                            self.args)  # fmt: skip
            self.clock = clock
        return ns

    def read(self, count: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """`count` consecutive samples of every channel (channels, count) complex64, and the
        (sample index, POSIX ns) stamp of each read. An overflow (samples dropped) restarts
        the read so the samples returned are contiguous."""
        buf = np.empty((self.num_channels, count), np.complex64)
        stamps: list[tuple[int, int]] = []
        got = timeouts = 0
        while got < count:
            views = [b[got:] for b in buf]
            sr = self._dev.readStream(self._stream, views, count - got, timeoutUs=1_000_000)
            if sr.ret == getattr(self._soapy, "SOAPY_SDR_OVERFLOW", OVERFLOW):
                log.info("SoapySDR %s: overflow (samples dropped); window restarted", self.args)
                got, stamps = 0, []
                continue
            if sr.ret == getattr(self._soapy, "SOAPY_SDR_TIMEOUT", TIMEOUT) or sr.ret == 0:
                timeouts += 1
                if timeouts >= MAX_TIMEOUTS:
                    raise InputError(f"SoapySDR {self.args}: no samples for {MAX_TIMEOUTS} s")
                continue
            if sr.ret < 0:
                raise InputError(f"SoapySDR {self.args}: readStream failed with code {sr.ret}")
            timeouts = 0
            ns = self._stamp(sr)
            if self.clock == "device" or not stamps:  # host time: only the first read's
                stamps.append((got, ns))
            got += sr.ret
        return buf, stamps

    def window(self, count: int) -> LiveWindow:
        """The next `count` samples as an in-memory recording with absolute time."""
        buf, stamps = self.read(count)
        self._count += count
        name = f"soapy:{self.args or 'default'}@{stamps[0][1]}"
        return LiveWindow(buf, self.sample_rate_hz, self.center_freq_hz, stamps, name=name,
                          site=self.site)  # fmt: skip

    def frames(self, frame_len: int, hop: int | None = None) -> Iterator[IqBlock]:
        """Frames of `frame_len` samples until closed (hop other than frame_len is unsupported)."""
        if hop not in (None, frame_len):
            raise InputError("SoapySource.frames: live frames cannot overlap; leave hop unset")
        while True:
            buf, stamps = self.read(frame_len)
            yield IqBlock(buf, self.sample_rate_hz, self.center_freq_hz,
                          start_s=self._count / self.sample_rate_hz, utc_ns=stamps[0][1],
                          site=self.site)  # fmt: skip
            self._count += frame_len

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._dev.deactivateStream(self._stream)
        self._dev.closeStream(self._stream)

    def __enter__(self) -> SoapySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
