"""Request and response bodies of the HTTP API (pydantic), kept apart from `unseen.types`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# printable, no slash or backslash, no leading/trailing space (names appear in URL paths)
NAME_PATTERN = r"^[^\s/\\\x00-\x1f\x7f]([^/\\\x00-\x1f\x7f]*[^\s/\\\x00-\x1f\x7f])?$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NAME_PATTERN)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Alt = Annotated[float, Field(ge=-1000.0, le=100_000.0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Time = Annotated[float, Field(ge=0.0, le=1e11, allow_inf_nan=False)]
Freq = Annotated[float, Field(gt=0.0, le=1e12, allow_inf_nan=False)]

MAX_BATCH = 1000


class StationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    lat: Lat
    lon: Lon
    alt_m: Alt = 0.0


class StationCreated(BaseModel):
    id: int
    name: str
    token: str = Field(description="Shown once; only its SHA-256 digest is stored.")


class StationPublic(BaseModel):
    id: int
    name: str
    lat: float
    lon: float
    alt_m: float


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["viewer"] = "viewer"


class TokenCreated(BaseModel):
    role: str
    token: str = Field(description="Shown once; only its SHA-256 digest is stored.")


class ObservationIn(BaseModel):
    """One observation: the fields of an `unseen locate` row, plus `id` and `hunt`.

    `kind` selects the required fields: bearing → bearing_deg, sigma_deg; tdoa → station_b,
    lat_b, lon_b, tdoa_s, sigma_s; rssi → rssi_dbm, sigma_db; detection → freq_hz.
    """

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    hunt: Name
    kind: Literal["bearing", "tdoa", "rssi", "detection"]
    station: Name
    time_s: Time
    lat: Lat
    lon: Lon
    alt_m: Alt = 0.0
    freq_hz: Freq | None = None
    bearing_deg: Annotated[float, Field(ge=0.0, lt=360.0, allow_inf_nan=False)] | None = None
    sigma_deg: Annotated[float, Field(gt=0.0, le=180.0, allow_inf_nan=False)] | None = None
    magnetic: bool = False
    station_b: Name | None = None
    lat_b: Lat | None = None
    lon_b: Lon | None = None
    alt_b_m: Alt | None = None
    tdoa_s: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)] | None = None
    sigma_s: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | None = None
    rssi_dbm: Annotated[float, Field(ge=-250.0, le=100.0, allow_inf_nan=False)] | None = None
    sigma_db: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)] | None = None
    path_loss_exponent: Annotated[float, Field(ge=1.0, le=8.0, allow_inf_nan=False)] | None = None
    bandwidth_hz: Positive | None = None
    snr_db: Annotated[float, Field(ge=-100.0, le=300.0, allow_inf_nan=False)] | None = None
    power_dbfs: Annotated[float, Field(ge=-400.0, le=100.0, allow_inf_nan=False)] | None = None
    modulation: Annotated[str, StringConstraints(max_length=32)] | None = None
    licensed: bool | None = None
    assignment: Annotated[str, StringConstraints(max_length=128)] | None = None
    confidence: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
    group: Annotated[str, StringConstraints(max_length=64)] | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> ObservationIn:
        need = {
            "bearing": ("bearing_deg", "sigma_deg"),
            "tdoa": ("station_b", "lat_b", "lon_b", "tdoa_s", "sigma_s"),
            "rssi": ("rssi_dbm", "sigma_db"),
            "detection": ("freq_hz",),
        }[self.kind]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"kind {self.kind!r} needs field(s) {', '.join(missing)}")
        return self

    def row(self) -> dict[str, Any]:
        """The stored row: JSON-ready, without unset optional fields."""
        out = self.model_dump(mode="json", exclude_none=True)
        if not self.magnetic:
            out.pop("magnetic", None)
        return out


class ObservationBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observations: Annotated[list[ObservationIn], Field(min_length=1, max_length=MAX_BATCH)]


class IngestResult(BaseModel):
    accepted: int
    duplicates: int


class ObservationOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    hunt: str
    kind: str
    station: str
    time_s: float
    lat: float
    lon: float
    seq: int


class FixOut(BaseModel):
    """The latest fix: `fix` is the `unseen locate` output object."""

    hunt: str
    id: int
    last_seq: int = Field(description="Observations up to this sequence number were available.")
    n_obs: int = Field(description="How many observations (the bounded window) were fused.")
    computed_s: float
    fix: dict[str, Any]


class Heatmap(BaseModel):
    hunt: str
    fix_id: int
    lat_deg: list[float]
    lon_deg: list[float]
    values: list[list[float]] = Field(description="Normalised likelihood, rows by latitude.")


class Problem(BaseModel):
    detail: str
