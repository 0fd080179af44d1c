"""Per-channel gain/phase calibration of an array receiver.

Channel m records G_m·x_m, G_m unknown complex. With one dominant source the covariance is
R ≈ p·(G⊙a)(G⊙a)ᴴ + σ²·I, so its principal eigenvector v ∝ G⊙a and G_m = v_m / a_m up to one
common complex factor, fixed by G_0 = 1:

  - known source: a = a(θ_known) at the recording's frequency;
  - noise source (KrakenSDR style): the same noise injected into every channel, a = 1.

Applying divides channel m by G_m (covariance: R ← C·R·Cᴴ with C = diag(1/G)).

The JSON file (`save` / `load`) is one object::

    {"format": "unseen-calibration", "version": 1, "num_channels": 5,
     "gain_db": [0.0, 0.7, ...], "phase_deg": [0.0, -23.1, ...],
     "method": "known-source" | "noise-source", "azimuth_deg": 40.0 | null,
     "freq_hz": 94200000.0, "num_snapshots": 65536}

gain_db and phase_deg are G_m relative to channel 0 (so both start at 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unseen import validate
from unseen.doa.array import MAX_ELEMENTS, Array
from unseen.errors import FileFormatError, InputError

FORMAT = "unseen-calibration"
METHODS = ("known-source", "noise-source")


@dataclass(frozen=True)
class Calibration:
    """Channel responses G_m = 10^(gain_db/20)·e^{j·phase_deg} relative to channel 0."""

    gain_db: tuple[float, ...]
    phase_deg: tuple[float, ...]
    method: str = "known-source"
    azimuth_deg: float | None = None
    freq_hz: float | None = None
    num_snapshots: int = 0

    @property
    def num_channels(self) -> int:
        return len(self.gain_db)

    @property
    def response(self) -> np.ndarray:
        """G, complex (channels,)."""
        g = np.asarray(self.gain_db, dtype=float)
        return 10 ** (g / 20) * np.exp(1j * np.radians(np.asarray(self.phase_deg, dtype=float)))

    def _check(self, m: int) -> None:
        if m != self.num_channels:
            raise InputError(
                f"calibration is for {self.num_channels} channels but the data has {m}"
            )

    def apply(self, samples: np.ndarray) -> np.ndarray:
        """Corrected samples x_m / G_m (same dtype), shape (..., channels, n)."""
        self._check(samples.shape[-2])
        c = (1 / self.response).astype(samples.dtype)
        return samples * c[:, None]

    def apply_covariance(self, R: np.ndarray) -> np.ndarray:
        """C·R·Cᴴ with C = diag(1/G)."""
        self._check(R.shape[-1])
        c = 1 / self.response
        return R * (c[:, None] * c.conj()[None, :])

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": 1,
            "num_channels": self.num_channels,
            "gain_db": list(self.gain_db),
            "phase_deg": list(self.phase_deg),
            "method": self.method,
            "azimuth_deg": self.azimuth_deg,
            "freq_hz": self.freq_hz,
            "num_snapshots": self.num_snapshots,
        }

    @classmethod
    def from_dict(cls, doc: dict, source: str = "calibration") -> Calibration:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise FileFormatError(f"{source}: field 'format' must be {FORMAT!r}")
        g, ph = doc.get("gain_db"), doc.get("phase_deg")
        if not (
            isinstance(g, list)
            and isinstance(ph, list)
            and len(g) == len(ph)
            and 2 <= len(g) <= MAX_ELEMENTS
        ):
            raise FileFormatError(
                f"{source}: 'gain_db' and 'phase_deg' must be lists of equal length, 2 to "
                f"{MAX_ELEMENTS} numbers"
            )
        gain = tuple(
            validate.number(
                v, f"{source}: gain_db[{i}]", lo=-200, hi=200, text=False, error=FileFormatError
            )
            for i, v in enumerate(g)
        )
        phase = tuple(
            validate.number(v, f"{source}: phase_deg[{i}]", text=False, error=FileFormatError)
            for i, v in enumerate(ph)
        )
        if "num_channels" in doc and doc["num_channels"] != len(gain):
            raise FileFormatError(
                f"{source}: 'num_channels' is {doc['num_channels']} but 'gain_db' has "
                f"{len(gain)} entries"
            )
        method = doc.get("method", "known-source")
        if method not in METHODS:
            raise FileFormatError(f"{source}: 'method' must be one of {METHODS}, got {method!r}")
        az, f = doc.get("azimuth_deg"), doc.get("freq_hz")
        return cls(
            gain,
            phase,
            method,
            None
            if az is None
            else validate.number(
                az, f"{source}: azimuth_deg", lo=-360, hi=360, text=False, error=FileFormatError
            ),
            None
            if f is None
            else validate.number(
                f, f"{source}: freq_hz", lo=0, lo_open=True, text=False, error=FileFormatError
            ),
            int(
                validate.number(
                    doc.get("num_snapshots", 0),
                    f"{source}: num_snapshots",
                    lo=0,
                    integer=True,
                    text=False,
                    error=FileFormatError,
                )
            ),
        )

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        if not np.all(np.isfinite(self.gain_db + self.phase_deg)):
            raise InputError(f"{p}: calibration has non-finite gain or phase; not written")
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        p = Path(path)
        text = validate.read_text(p, "calibration file", FileFormatError, max_bytes=1024**2)
        return cls.from_dict(validate.loads_json(text, str(p), FileFormatError), str(p))


DEAD_DB_FLOOR = 1e-6
"""A channel with less than this fraction (−60 dB) of the strongest channel's power is dead."""


def _db(p: float, ref: float) -> str:
    return "-inf dB" if p <= 0 else f"{10 * np.log10(p / ref):.1f} dB"


def _from_vector(v: np.ndarray, a: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    g = v / a
    g = g / g[0]
    return (
        tuple(float(x) for x in 20 * np.log10(np.abs(g))),
        tuple(float(x) for x in np.degrees(np.angle(g))),
    )


def calibrate(
    R: np.ndarray,
    num_snapshots: int,
    *,
    array: Array | None = None,
    azimuth_deg: float | None = None,
    freq_hz: float | None = None,
) -> Calibration:
    """Estimate G from covariance R of a known source (array, azimuth_deg, freq_hz given) or of
    a common noise source injected into all channels (azimuth_deg None)."""
    R = np.asarray(R)
    M = R.shape[-1]
    if azimuth_deg is not None and not np.isfinite(azimuth_deg):
        raise InputError(
            f"known source azimuth must be a finite number of degrees, got {azimuth_deg}"
        )
    if not np.isfinite(R).all():
        raise InputError("calibration covariance contains NaN or Inf values")
    power = np.real(np.diag(R))
    dead = np.flatnonzero(power <= DEAD_DB_FLOOR * power.max()) if power.max() > 0 else [0]
    if len(dead):
        raise InputError(
            f"channel {int(dead[0])} carries no signal (power {_db(power[dead[0]], power.max())} "
            "relative to the strongest channel): a dead channel cannot be calibrated"
        )
    lam, E = np.linalg.eigh(R)
    if lam[-1] <= 0 or not np.isfinite(lam).all():
        raise InputError("calibration covariance has no positive principal eigenvalue")
    v = E[:, -1]
    if np.abs(v).min() <= 1e-6 * np.abs(v).max():
        raise InputError(
            f"channel {int(np.argmin(np.abs(v)))} does not see the calibration source (its "
            "share of the principal eigenvector is ~0): cannot calibrate it"
        )
    if azimuth_deg is None:
        gain, phase = _from_vector(v, np.ones(M))
        return Calibration(gain, phase, "noise-source", None, freq_hz, num_snapshots)
    if array is None or freq_hz is None:
        raise InputError("known-source calibration needs the array and freq_hz")
    if array.num_elements != M:
        raise InputError(f"array has {array.num_elements} elements but the data has {M} channels")
    a = array.steering(azimuth_deg, freq_hz)[:, 0]
    gain, phase = _from_vector(v, a)
    return Calibration(gain, phase, "known-source", float(azimuth_deg), freq_hz, num_snapshots)
