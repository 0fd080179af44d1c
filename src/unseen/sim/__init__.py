"""Simulator: emitters, waveforms, multipath and receivers → N-channel complex64 IQ with truth.

    from unseen.sim import Emitter, Path, Receiver, simulate
    block = simulate(Array.uca(5, 1.0), [Emitter(40.0, snr_db=10, waveform="fm")],
                     num_samples=16384, sample_rate_hz=1e6, center_freq_hz=94.2e6, seed=1)

`unseen.sim.waveforms` holds the generators (cw, am, fm with speech/music audio, noise, qpsk);
`gaussian_snapshots` draws many Monte Carlo trials of the narrowband model at once.
"""

from unseen.sim import waveforms
from unseen.sim.emitters import Emitter, Path, Receiver, simulate
from unseen.sim.snapshots import gaussian_snapshots

__all__ = ["Emitter", "Path", "Receiver", "gaussian_snapshots", "simulate", "waveforms"]
