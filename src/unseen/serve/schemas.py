"""Request and response bodies of the HTTP API (pydantic), kept apart from `unseen.types`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

# printable, no slash or backslash, no leading/trailing space (names appear in URL paths);
# written without \s so that JSON Schema (ECMAScript) and pydantic (Rust) regexes agree
_C = r"/\\\x00-\x1f\x7f-\x9f"
NAME_PATTERN = rf"^[^ {_C}]([^{_C}]*[^ {_C}])?$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NAME_PATTERN)]
# hunt names go into URL paths as they are: letters, digits, '.', '_', '-', starting with a
# letter or digit (so never '.' or '..'), at most 64 characters; enforced on write
HUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Hunt = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=HUNT_PATTERN)]


def num(**bounds) -> object:
    """A finite JSON number (not a bool or a string) within `bounds` (ge/gt/le/lt)."""
    return Annotated[float, Strict(), Field(allow_inf_nan=False, **bounds)]


Lat = num(ge=-90.0, le=90.0)
Lon = num(ge=-180.0, le=180.0)
Alt = num(ge=-1000.0, le=100_000.0)
Positive = num(gt=0.0)
Time = num(ge=0.0, le=1e11)
Freq = num(gt=0.0, le=1e12)
Flag = Annotated[bool, Strict()]

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
    token: str = Field(description="Shown once; only its keyed digest is stored.")


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
    token: str = Field(description="Shown once; only its keyed digest is stored.")
    id: int | None = Field(None, description="The token's id (to list, revoke or rotate it).")


class TokenPublic(BaseModel):
    """A token's record; the token itself is never stored or shown again."""

    id: int
    role: str
    station: str | None = None
    origin: str | None = Field(
        None, description="env, generated, issued, station or rotated (None: before 0002)."
    )
    created_s: float
    revoked_s: float | None = Field(None, description="When it was revoked, POSIX s.")


class TokenRotated(TokenPublic):
    token: str = Field(description="The successor, shown once; the old token is revoked.")


class _Obs(BaseModel):
    """Fields common to every observation row: `unseen locate` row fields plus `id`, `hunt`."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(
        description="Chosen by the station, unique among its observations; re-sending an id "
        "with the same content is a no-op."
    )
    hunt: Hunt = Field(description=f"Hunt name, pattern {HUNT_PATTERN}.")
    station: Name = Field(description="Must be the submitting token's station.")
    time_s: Time
    lat: Lat
    lon: Lon
    alt_m: Alt = 0.0
    freq_hz: Freq | None = None
    group: Annotated[str, StringConstraints(max_length=64)] | None = None
    confidence: num(ge=0.0, le=1.0) | None = None

    def row(self) -> dict[str, Any]:
        """The stored row: JSON-ready, without unset optional fields."""
        return self.model_dump(mode="json", exclude_none=True)


class BearingIn(_Obs):
    kind: Literal["bearing"]
    bearing_deg: num(ge=0.0, lt=360.0) = Field(description="Degrees clockwise from true north.")
    sigma_deg: num(gt=0.0, le=180.0)
    magnetic: Flag = False
    sigma_sys_deg: num(ge=0.0, le=180.0) | None = Field(
        None,
        description="Error common to every bearing of this station (its calibration's), "
        "degrees: the server fuses such bearings as the hunt does (`unseen.locate.aggregate`).",
    )


class TdoaIn(_Obs):
    kind: Literal["tdoa"]
    station_b: Name
    lat_b: Lat
    lon_b: Lon
    alt_b_m: Alt = 0.0
    tdoa_s: num(ge=-1.0, le=1.0) = Field(description="Arrival at station minus at station_b.")
    sigma_s: num(gt=0.0, le=1.0)


class RssiIn(_Obs):
    kind: Literal["rssi"]
    rssi_dbm: num(ge=-250.0, le=100.0)
    sigma_db: num(gt=0.0, le=100.0)
    path_loss_exponent: num(ge=1.0, le=8.0) | None = None


class DetectionIn(_Obs):
    kind: Literal["detection"]
    freq_hz: Freq
    bandwidth_hz: Positive | None = None
    snr_db: num(ge=-100.0, le=300.0) | None = None
    power_dbfs: num(ge=-400.0, le=100.0) | None = None
    modulation: Annotated[str, StringConstraints(max_length=32)] | None = None
    licensed: Flag | None = Field(None, description="None: no registry was consulted.")
    assignment: Annotated[str, StringConstraints(max_length=128)] | None = None


KINDS = ("bearing", "tdoa", "rssi", "detection")
ObservationIn = Annotated[BearingIn | TdoaIn | RssiIn | DetectionIn, Field(discriminator="kind")]


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


class EllipseOut(BaseModel):
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float = Field(description="Major axis, degrees clockwise from true north.")


class FixOut(BaseModel):
    """A fix: exactly the keys of the `unseen locate` output object, plus the hunt's metadata
    (`hunt`, `id`, `time_s`, `last_seq`, `n_obs`, `computed_s`)."""

    group: str
    lat: float
    lon: float
    alt_m: float
    cov_enu_m2: list[list[float]] = Field(description="East-north(-up) covariance, m².")
    ellipse50: EllipseOut
    ellipse95: EllipseOut
    cep50_m: float
    method: str
    n_used: int
    rejected: list[str]
    crb_rmse_m: float | None = None
    chi2: float | None = Field(None, description="χ² of the normalised residuals at the fix.")
    dof: int | None = Field(None, description="Its degrees of freedom (used minus unknowns).")
    p_value: float | None = Field(None, description="P(χ²(dof) ≥ chi2); 1 when dof is 0.")
    rejected_index: list[int] = Field(default_factory=list, description="Rejected input rows.")
    hunt: str
    id: int = Field(description="The fix's number in the hunt's history.")
    time_s: float = Field(description="Time of the latest observation fused, s.")
    last_seq: int = Field(description="Observations up to this sequence number were available.")
    n_obs: int = Field(description="How many observations (the bounded window) were fused.")
    computed_s: float = Field(description="When the server computed it, POSIX s.")
    stale: bool = Field(
        False, description="True when newer observations could not be fused (see `reason`)."
    )
    reason: str | None = Field(None, description="Why the newest observations were not fused.")


class Heatmap(BaseModel):
    hunt: str
    fix_id: int
    lat_deg: list[float]
    lon_deg: list[float]
    values: list[list[float]] = Field(description="Normalised likelihood, rows by latitude.")


class Problem(BaseModel):
    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(BaseModel):
    """422: `detail` names the fields at fault in one line; `errors` itemises them."""

    detail: str
    errors: list[ValidationIssue]
