"""Observations: stations submit batches; idempotent by observation id."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from unseen.serve.deps import RepoDep, StationAuth
from unseen.serve.schemas import IngestResult, ObservationBatch, Problem

router = APIRouter(prefix="/api/v1/observations", tags=["observations"])


@router.post(
    "",
    response_model=IngestResult,
    responses={
        400: {"model": Problem},
        401: {"model": Problem},
        403: {"model": Problem},
        413: {"model": Problem},
    },
    summary="Submit observations (station token); re-sending an id is counted as a duplicate",
)
def submit(
    body: ObservationBatch, request: Request, repo: RepoDep, me: StationAuth
) -> IngestResult:
    for i, o in enumerate(body.observations):
        if o.station != me.station:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"observations[{i}].station: {o.station!r} is not this token's station "
                f"{me.station!r}; a station may only submit its own observations",
            )
    rows = [o.row() for o in body.observations]
    fresh, dups = repo.add_observations(me.station_id, rows)
    if fresh:
        app = request.app
        by_hunt: dict[str, list[dict]] = {}
        for r in fresh:
            by_hunt.setdefault(r["hunt"], []).append(r)
        for hunt, got in by_hunt.items():
            app.state.hub.publish_threadsafe(hunt, {"type": "observations", "rows": got})
            if app.state.fixer is not None:
                app.state.fixer.mark(hunt)
    return IngestResult(accepted=len(fresh), duplicates=dups)
