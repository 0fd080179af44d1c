"""Channelizer: shift one signal to baseband, low-pass and decimate, coherently across channels.

y_c[m] = Σ h[k] · x_c[mD − k] · e^{−j2π(f − f_c)(t_0 + (mD − k)/fs)} for every channel c, with the
same real linear-phase filter h and the same mixer, so relative phases between channels (what
DOA needs) are untouched; the mixer is referenced to absolute time t_0 = block.start_s, so
consecutive frames join without phase jumps.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from unseen.errors import InputError
from unseen.types import IqBlock

OVERSAMPLE = 2.5


def decimation_for(
    sample_rate_hz: float, bandwidth_hz: float, oversample: float = OVERSAMPLE
) -> int:
    """Largest integer factor D keeping the output rate ≥ oversample × bandwidth."""
    return max(1, int(sample_rate_hz // (oversample * bandwidth_hz)))


def channelize(
    block: IqBlock,
    freq_hz: float,
    bandwidth_hz: float,
    *,
    decimation: int | None = None,
) -> IqBlock:
    """The part of `block` within freq_hz ± bandwidth_hz/2, at baseband and a reduced rate.

    The output's `center_freq_hz` is `freq_hz`, its rate fs/D (D from `decimation_for` unless
    given), its sample 0 at the same instant as the input's (zero-delay polyphase filter).
    """
    fs = block.sample_rate_hz
    offset = freq_hz - block.center_freq_hz
    if not (bandwidth_hz > 0) or bandwidth_hz > fs:
        raise InputError(f"bandwidth_hz={bandwidth_hz}; expected 0 < bandwidth ≤ {fs} Hz")
    if abs(offset) + bandwidth_hz / 2 > fs / 2 * 1.0001:
        raise InputError(
            f"channel {freq_hz} Hz ± {bandwidth_hz / 2} Hz lies outside the recording's band "
            f"{block.center_freq_hz} ± {fs / 2} Hz"
        )
    D = decimation or decimation_for(fs, bandwidth_hz)
    n = block.num_samples
    t = block.start_s + np.arange(n) / fs
    mixer = np.exp(-2j * np.pi * offset * t).astype(np.complex64) if offset else None
    x = block.samples * mixer if mixer is not None else block.samples
    cutoff = min(bandwidth_hz / 2 / (fs / 2), 1.0)
    if D == 1 and cutoff >= 0.999:
        y = np.asarray(x, np.complex64)
    else:
        taps = scipy.signal.firwin(20 * D + 1 if D > 1 else 129, cutoff, window=("kaiser", 8.0))
        if D == 1:
            y = scipy.signal.filtfilt(taps, [1.0], x, axis=1, padlen=min(3 * len(taps), n - 1))
            y = np.asarray(y, np.complex64)
        else:
            y = scipy.signal.resample_poly(x, 1, D, axis=1, window=taps).astype(np.complex64)
    return IqBlock(
        samples=np.ascontiguousarray(y),
        sample_rate_hz=fs / D,
        center_freq_hz=float(freq_hz),
        start_s=block.start_s,
        utc_ns=block.utc_ns,
        site=block.site,
    )
