"""Stations: registered by the admin; each gets its own token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from unseen.serve.deps import Admin, Anyone, RepoDep
from unseen.serve.schemas import (
    Problem,
    StationCreate,
    StationCreated,
    StationPublic,
    TokenRotated,
)
from unseen.store import ConflictError, NotFoundError

router = APIRouter(prefix="/api/v1/stations", tags=["stations"])

AUTH = {401: {"model": Problem}, 403: {"model": Problem}, 429: {"model": Problem}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=StationCreated,
    responses={**AUTH, 400: {"model": Problem}, 409: {"model": Problem}},
    summary="Register a DF station (admin); its token is shown once",
)
def create_station(body: StationCreate, repo: RepoDep, _: Admin) -> StationCreated:
    try:
        st, token = repo.add_station(body.name, body.lat, body.lon, body.alt_m)
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return StationCreated(id=st["id"], name=st["name"], token=token)


@router.get("", response_model=list[StationPublic], responses=AUTH, summary="List stations")
def list_stations(repo: RepoDep, _: Anyone) -> list[StationPublic]:
    return [
        StationPublic(
            id=s["id"], name=s["name"], lat=s["lat_deg"], lon=s["lon_deg"], alt_m=s["alt_m"]
        )
        for s in repo.stations()
    ]


@router.post(
    "/{station_id}/token",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenRotated,
    responses={**AUTH, 404: {"model": Problem}},
    summary="Rotate a station's token (admin): its tokens are revoked, a new one shown once",
)
def rotate_station_token(
    station_id: Annotated[int, Path(ge=1, le=2**31 - 1)], repo: RepoDep, _: Admin
) -> dict:
    try:
        record, token = repo.rotate_station_token(station_id)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return {**record, "token": token}
