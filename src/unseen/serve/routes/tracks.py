"""Tracks of a hunt: moving transmitters followed over time (`unseen.track` on its observations).

GET /api/v1/hunts/{hunt}/tracks gives each track's latest state (`history=true`: every update in
time order); after each fix update the live socket also carries `{"type": "track", ...}`, one
message per track's latest state. Tracks are recomputed from the hunt's latest `WINDOW` rows.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel

from unseen.errors import UnseenError
from unseen.serve.deps import Anyone, RepoDep
from unseen.serve.schemas import NAME_PATTERN, Problem

router = APIRouter(prefix="/api/v1/hunts", tags=["hunts"])
HuntName = Annotated[str, Path(min_length=1, max_length=64, pattern=NAME_PATTERN)]
WINDOW = 2000


class Ellipse95(BaseModel):
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float


class TrackOut(BaseModel):
    """One track update: the `unseen track --json` object."""

    track: int
    time_s: float
    lat: float
    lon: float
    alt_m: float
    vel_east_m_s: float
    vel_north_m_s: float
    cov_enu_m2: list[list[float]]
    ellipse95: Ellipse95
    speed_m_s: float
    status: str
    n_obs: int
    freq_hz: float | None


def hunt_tracks(rows: list[dict], *, history: bool = False) -> list[dict]:
    """Track updates from API observation rows: the latest per track, or all in time order."""
    from unseen.serve.locating import observations
    from unseen.track import run, update_to_dict

    obs = observations(rows)
    if not obs:
        return []
    ups, _ = run(obs)
    if history:
        return [update_to_dict(u) for u in ups]
    last = {u.track: u for u in ups}
    return [update_to_dict(u) for u in sorted(last.values(), key=lambda u: u.track)]


def publish(repo, hub, hunt: str) -> None:
    """Push every track's latest state of `hunt` on the live socket (`{"type": "track"}`)."""
    rows = repo.observations(hunt, latest=True, limit=WINDOW)
    try:
        tracks = hunt_tracks(rows)
    except UnseenError as exc:
        hub.publish_threadsafe(hunt, {"type": "status", "message": f"tracks: {exc}"})
        return
    for t in tracks:
        hub.publish_threadsafe(hunt, {"type": "track", **t})


@router.get(
    "/{hunt}/tracks",
    response_model=list[TrackOut],
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
    summary="Moving transmitters of a hunt: each track's latest state (or its whole history)",
)
def tracks(
    hunt: HuntName,
    repo: RepoDep,
    _: Anyone,
    history: Annotated[bool, Query()] = False,
) -> list[dict]:
    rows = repo.observations(hunt, latest=True, limit=WINDOW)
    try:
        return hunt_tracks(rows, history=history)
    except UnseenError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
