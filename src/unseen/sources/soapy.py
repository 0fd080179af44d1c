"""Live receiver through SoapySDR (optional: the bindings come from the system, not PyPI)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from unseen.errors import InputError
from unseen.types import IqBlock, Site

MISSING = (
    "the live SoapySDR source needs the SoapySDR Python bindings, which are not installed "
    "(Debian/Ubuntu: apt install python3-soapysdr plus a driver module such as "
    "soapysdr-module-rtlsdr)"
)


def _soapy():
    try:
        import SoapySDR  # type: ignore[import-not-found]
    except ImportError:
        raise InputError(MISSING) from None
    return SoapySDR


class SoapySource:
    """Stream complex64 frames from a SoapySDR device (`args` like ``"driver=rtlsdr"``).

    Each frame is stamped with the host's clock (or the device's hardware time when it gives
    one) as `utc_ns`; channels are read together so their phases stay coherent.
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
        self.sample_rate_hz = float(sample_rate_hz)
        self.center_freq_hz = float(center_freq_hz)
        self.channels = tuple(channels)
        self.site = site
        try:
            self._dev = soapy.Device(args)
        except Exception as exc:
            raise InputError(f"SoapySDR device {args!r}: cannot open ({exc})") from None
        for ch in self.channels:
            self._dev.setSampleRate(soapy.SOAPY_SDR_RX, ch, self.sample_rate_hz)
            self._dev.setFrequency(soapy.SOAPY_SDR_RX, ch, self.center_freq_hz)
            if gain_db is not None:
                self._dev.setGain(soapy.SOAPY_SDR_RX, ch, float(gain_db))
        self._stream = self._dev.setupStream(
            soapy.SOAPY_SDR_RX, soapy.SOAPY_SDR_CF32, list(self.channels)
        )
        self._dev.activateStream(self._stream)
        self._count = 0

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    def frames(self, frame_len: int, hop: int | None = None) -> Iterator[IqBlock]:
        """Frames of `frame_len` samples until closed (hop other than frame_len is unsupported)."""
        if hop not in (None, frame_len):
            raise InputError("SoapySource.frames: live frames cannot overlap; leave hop unset")
        buf = np.empty((self.num_channels, frame_len), np.complex64)
        while True:
            got = 0
            stamp = None
            while got < frame_len:
                views = [b[got:] for b in buf]
                sr = self._dev.readStream(self._stream, views, frame_len - got, timeoutUs=1_000_000)
                if sr.ret < 0:
                    raise InputError(f"SoapySDR readStream failed with code {sr.ret}")
                if stamp is None:
                    has_time = sr.flags & self._soapy.SOAPY_SDR_HAS_TIME
                    stamp = int(sr.timeNs) if has_time else time.time_ns()
                got += sr.ret
            yield IqBlock(
                buf.copy(),
                self.sample_rate_hz,
                self.center_freq_hz,
                start_s=self._count / self.sample_rate_hz,
                utc_ns=stamp,
                site=self.site,
            )
            self._count += frame_len

    def close(self) -> None:
        self._dev.deactivateStream(self._stream)
        self._dev.closeStream(self._stream)

    def __enter__(self) -> SoapySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
