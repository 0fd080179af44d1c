"""Observations: stations submit batches; idempotent by observation id."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from unseen.serve.deps import RepoDep, StationAuth
from unseen.serve.schemas import IngestResult, ObservationBatch, Problem
from unseen.store import ConflictError

router = APIRouter(prefix="/api/v1/observations", tags=["observations"])


@router.post(
    "",
    response_model=IngestResult,
    responses={
        400: {"model": Problem},
        401: {"model": Problem},
        403: {"model": Problem},
        409: {"model": Problem},
        413: {"model": Problem},
        429: {"model": Problem},
    },
    summary="Submit observations (station token); re-sending an id is counted as a duplicate",
    description="Idempotent by (station, `id`): re-sending an observation with the same content "
    "counts it as a duplicate; reusing one of this station's ids for different content is "
    "refused with 409 (nothing of the batch is stored). Ids of other stations are independent.",
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
    try:
        fresh, dups = repo.add_observations(me.station_id, rows)
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
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
