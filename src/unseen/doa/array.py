"""Antenna array geometry and steering vectors.

Element positions are metres in a local east-north-up frame centred on the array. Directions are
azimuth (degrees clockwise from true north) and elevation (degrees above the horizon); the unit
vector toward the source is u = (sin az·cos el, cos az·cos el, sin el). The steering vector is
a_i = exp(+j·2π·(p_i·u)/λ): the element nearer the source sees the wavefront first.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from unseen import validate
from unseen.errors import AmbiguityWarning, FileFormatError, InputError

C_M_S = 299_792_458.0
MAX_ELEMENTS = 256


def wavelength_m(freq_hz: float) -> float:
    """Free-space wavelength λ = c / f in metres."""
    if not np.isfinite(freq_hz) or freq_hz <= 0:
        raise InputError(f"freq_hz must be a finite frequency > 0 Hz, got {freq_hz!r}")
    return C_M_S / freq_hz


def direction_enu(
    azimuth_deg: np.ndarray | float, elevation_deg: np.ndarray | float = 0.0
) -> np.ndarray:
    """Unit vectors toward the source, shape (..., 3): (sin az cos el, cos az cos el, sin el)."""
    az = np.radians(np.asarray(azimuth_deg, dtype=float))
    el = np.radians(np.asarray(elevation_deg, dtype=float))
    az, el = np.broadcast_arrays(az, el)
    return np.stack([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)], axis=-1)


@dataclass(frozen=True)
class Array:
    """An antenna array: element positions in the body frame and the heading of that frame.

    With heading h (degrees clockwise from north) a body-frame azimuth b points at true azimuth
    b + h; fixed arrays have h = 0 so body frame and ENU coincide.
    """

    elements_m: tuple[tuple[float, float, float], ...]
    heading_deg: float = 0.0
    kind: str = "custom"

    def __post_init__(self) -> None:
        pos = np.asarray(self.elements_m, dtype=float)
        if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] < 2:
            raise InputError(
                "array elements must be at least 2 [east, north, up] positions in metres, "
                f"got shape {pos.shape}"
            )
        if len(pos) > MAX_ELEMENTS:
            raise InputError(f"an array of {len(pos)} elements; at most {MAX_ELEMENTS} supported")
        if not np.all(np.isfinite(pos)):
            raise InputError("array element positions must be finite numbers")
        if not np.isfinite(self.heading_deg):
            raise InputError(f"heading_deg must be finite, got {self.heading_deg!r}")
        d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
        np.fill_diagonal(d, np.inf)
        if d.min() < 1e-6:
            raise InputError("two array elements share the same position")

    @classmethod
    def ula(cls, n: int, spacing_m: float, heading_deg: float = 0.0) -> Array:
        """Uniform linear array: n elements on the body east axis, centred, `spacing_m` apart."""
        validate.number(n, "ULA elements", lo=2, hi=MAX_ELEMENTS, integer=True)
        validate.number(spacing_m, "ULA spacing_m", lo=0, hi=1e4, lo_open=True)
        x = (np.arange(n) - (n - 1) / 2) * spacing_m
        return cls(tuple((float(e), 0.0, 0.0) for e in x), heading_deg, "ula")

    @classmethod
    def uca(cls, n: int, radius_m: float, heading_deg: float = 0.0) -> Array:
        """Uniform circular array: element 0 due north of the centre, then clockwise."""
        validate.number(n, "UCA elements", lo=3, hi=MAX_ELEMENTS, integer=True)
        validate.number(radius_m, "UCA radius_m", lo=0, hi=1e4, lo_open=True)
        ang = 2 * np.pi * np.arange(n) / n
        return cls(
            tuple((float(radius_m * np.sin(a)), float(radius_m * np.cos(a)), 0.0) for a in ang),
            heading_deg,
            "uca",
        )

    @classmethod
    def from_spec(cls, spec: str, heading_deg: float | None = None) -> Array:
        """Parse `uca:N:RADIUS_M`, `ula:N:SPACING_M` or a JSON file `{"elements_enu_m": [...]}`.

        `heading_deg` None means the file's own `heading_deg` (0 for uca/ula specs)."""
        parts = spec.split(":")
        if parts[0].lower() in ("uca", "ula") and len(parts) == 3:
            try:
                n, size = int(parts[1]), float(parts[2])
            except ValueError:
                raise InputError(
                    f"array spec {spec!r}: expected {parts[0]}:N:METRES with integer N"
                ) from None
            make = cls.uca if parts[0].lower() == "uca" else cls.ula
            return make(n, size, 0.0 if heading_deg is None else heading_deg)
        path = Path(spec)
        if not path.is_file():
            raise InputError(
                f"array spec {spec!r}: expected uca:N:RADIUS_M, ula:N:SPACING_M or a JSON file path"
            )
        text = validate.read_text(path, "array JSON", FileFormatError, max_bytes=1024**2)
        doc = validate.loads_json(text, str(path), FileFormatError)
        if not isinstance(doc, dict) or "elements_enu_m" not in doc:
            raise FileFormatError(
                f"{path}: missing field 'elements_enu_m' (list of [e, n, u] metres)"
            )
        return cls.from_dict(doc, heading_deg, source=str(path))

    @classmethod
    def from_dict(cls, doc: dict, heading_deg: float | None = None, source: str = "array") -> Array:
        """Build from `{"elements_enu_m": [[e, n, u], ...], "heading_deg": h, "kind": k}`."""
        pts = doc.get("elements_enu_m") if isinstance(doc, dict) else None
        if (
            not isinstance(pts, list)
            or not 2 <= len(pts) <= MAX_ELEMENTS
            or not all(isinstance(p, list) and len(p) in (2, 3) for p in pts)
        ):
            raise FileFormatError(
                f"{source}: field 'elements_enu_m' must be a list of 2 to {MAX_ELEMENTS} "
                "[east, north, up] positions"
            )
        elems = tuple(
            tuple(
                validate.number(
                    v,
                    f"{source}: elements_enu_m[{i}][{j}]",
                    lo=-1e4,
                    hi=1e4,
                    text=False,
                    error=FileFormatError,
                )
                for j, v in enumerate(p)
            )
            + ((0.0,) if len(p) == 2 else ())
            for i, p in enumerate(pts)
        )
        if heading_deg is None:
            heading_deg = validate.number(
                doc.get("heading_deg", 0.0),
                f"{source}: heading_deg",
                lo=-360,
                hi=360,
                text=False,
                error=FileFormatError,
            )
        kind = doc.get("kind", "custom")
        if not isinstance(kind, str) or len(kind) > 32:
            raise FileFormatError(f"{source}: field 'kind' must be a short string, got {kind!r}")
        return cls(elems, heading_deg, kind)

    def to_dict(self) -> dict:
        """JSON-ready description (body-frame elements and heading)."""
        return {
            "kind": self.kind,
            "elements_enu_m": [list(p) for p in self.elements_m],
            "heading_deg": self.heading_deg,
        }

    def rotated(self, heading_deg: float) -> Array:
        """The same array with another heading."""
        return Array(self.elements_m, heading_deg, self.kind)

    @property
    def num_elements(self) -> int:
        return len(self.elements_m)

    @cached_property
    def positions_enu_m(self) -> np.ndarray:
        """Element positions in ENU after rotating the body frame clockwise by the heading."""
        p = np.asarray(self.elements_m, dtype=float)
        h = np.radians(self.heading_deg)
        c, s = np.cos(h), np.sin(h)
        e = p[:, 0] * c + p[:, 1] * s
        n = p[:, 1] * c - p[:, 0] * s
        return np.stack([e, n, p[:, 2]], axis=1)

    @property
    def is_ula(self) -> bool:
        """True when the elements are equally spaced on one straight line."""
        p = self.positions_enu_m
        d = np.diff(p, axis=0)
        return bool(np.allclose(d, d[0], atol=1e-9 * max(1.0, np.abs(d).max())))

    def neighbour_spacing_m(self) -> float:
        """Largest distance from any element to its nearest neighbour, metres."""
        p = self.positions_enu_m
        d = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=-1)
        np.fill_diagonal(d, np.inf)
        return float(d.min(axis=1).max())

    def check_spacing(self, freq_hz: float) -> bool:
        """Warn (AmbiguityWarning) when neighbouring elements are more than λ/2 apart."""
        lam = wavelength_m(freq_hz)
        spacing = self.neighbour_spacing_m()
        if spacing > lam / 2 * (1 + 1e-9):
            warnings.warn(
                f"array element spacing {spacing:.3f} m exceeds λ/2 = {lam / 2:.3f} m at "
                f"{freq_hz:.6g} Hz: grating lobes may give ambiguous bearings",
                AmbiguityWarning,
                stacklevel=2,
            )
            return False
        return True

    def steering(
        self,
        azimuth_deg: np.ndarray | float,
        freq_hz: float,
        elevation_deg: np.ndarray | float = 0.0,
    ) -> np.ndarray:
        """Steering matrix A, shape (elements, directions): A[i, k] = exp(+j·2π·p_i·u_k/λ)."""
        lam = wavelength_m(freq_hz)
        u = direction_enu(azimuth_deg, elevation_deg).reshape(-1, 3)
        phase = (2 * np.pi / lam) * (self.positions_enu_m @ u.T)
        return np.exp(1j * phase)

    def steering_derivative(self, azimuth_deg: np.ndarray | float, freq_hz: float) -> np.ndarray:
        """∂A/∂azimuth per radian, same shape as `steering` (horizontal plane)."""
        lam = wavelength_m(freq_hz)
        az = np.radians(np.atleast_1d(np.asarray(azimuth_deg, dtype=float)))
        du = np.stack([np.cos(az), -np.sin(az), np.zeros_like(az)], axis=-1)
        A = self.steering(np.degrees(az), freq_hz)
        return 1j * (2 * np.pi / lam) * (self.positions_enu_m @ du.T) * A
