"""Hunts: observations, the latest fix, fix history, likelihood heatmap, live WebSocket."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import (
    APIRouter,
    HTTPException,
    Path,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    status,
)

from unseen.errors import UnseenError
from unseen.serve.deps import Anyone, RepoDep, authenticate, client_address
from unseen.serve.schemas import NAME_PATTERN, FixOut, Heatmap, ObservationOut, Problem

router = APIRouter(prefix="/api/v1/hunts", tags=["hunts"])

# reads accept the older, looser name pattern so that hunts stored before HUNT_PATTERN stay
# readable; new hunts are created only by observations, whose `hunt` must match HUNT_PATTERN
HuntName = Annotated[str, Path(min_length=1, max_length=64, pattern=NAME_PATTERN)]
AUTH = {401: {"model": Problem}, 403: {"model": Problem}, 429: {"model": Problem}}
FOUND = {**AUTH, 404: {"model": Problem}}


def known(repo, hunt: str) -> None:
    """404 "no such hunt" unless some observation created `hunt`."""
    if repo.hunt_id(hunt) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such hunt: {hunt!r}")


@router.get("", response_model=list[str], responses=AUTH, summary="Names of hunts")
def list_hunts(repo: RepoDep, _: Anyone) -> list[str]:
    return repo.hunts()


@router.get(
    "/{hunt}/observations",
    response_model=list[ObservationOut],
    responses=FOUND,
    summary="Observations of a hunt in arrival order (page with after_seq)",
)
def hunt_observations(
    hunt: HuntName,
    repo: RepoDep,
    _: Anyone,
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict]:
    known(repo, hunt)
    return repo.observations(hunt, after_seq=after_seq, limit=limit)


@router.get(
    "/{hunt}/fix",
    response_model=FixOut,
    responses={**AUTH, 404: {"model": Problem}},
    summary="The latest fix, recomputed in the background as observations arrive",
    description="404 'no such hunt' for a hunt nobody posted to; 404 'has no fix yet' (with "
    "the reason when a solve failed) until the first fix. When the newest observations could "
    "not be fused, the last good fix is returned with `stale: true` and the `reason`.",
)
def hunt_fix(hunt: HuntName, repo: RepoDep, _: Anyone, request: Request) -> dict:
    known(repo, hunt)
    got = repo.latest_fix(hunt)
    fixer = request.app.state.fixer
    if got is None:
        why = fixer.errors.get(hunt) if fixer is not None else None
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"hunt {hunt!r} has no fix yet" + (f": {why}" if why else "")
        )
    if fixer is not None:
        got["stale"], got["reason"] = fixer.stale(hunt, got)
    return got


@router.get(
    "/{hunt}/fixes",
    response_model=list[FixOut],
    responses=FOUND,
    summary="Fix history of a hunt (for replay)",
)
def hunt_fixes(
    hunt: HuntName,
    repo: RepoDep,
    _: Anyone,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict]:
    known(repo, hunt)
    return repo.fixes(hunt, limit=limit, latest=True)


@router.get(
    "/{hunt}/heatmap",
    response_model=Heatmap,
    responses={**AUTH, 404: {"model": Problem}},
    summary="Likelihood of the transmitter position around the latest fix",
)
async def hunt_heatmap(hunt: HuntName, repo: RepoDep, _: Anyone, request: Request) -> dict:
    from unseen.serve import locating

    await asyncio.to_thread(known, repo, hunt)
    fix = await asyncio.to_thread(repo.latest_fix, hunt)
    if fix is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"hunt {hunt!r} has no fix yet")
    cache = request.app.state.heatmaps
    hit = cache.get(hunt)
    if hit is not None and hit["fix_id"] == fix["id"]:
        return hit
    settings = request.app.state.settings
    rows = await asyncio.to_thread(repo.observations, hunt, latest=True, limit=settings.fix_window)
    e95 = (fix.get("ellipse95") or {}).get("semi_major_m") or 0.0
    half = float(min(max(4.0 * e95, 60.0), 20_000.0))
    try:
        lat, lon, values = await asyncio.to_thread(
            locating.heatmap, rows, (fix["lat"], fix["lon"]), half, settings.heatmap_size
        )
    except UnseenError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no heatmap for {hunt!r}: {exc}") from exc
    out = {
        "hunt": hunt,
        "fix_id": fix["id"],
        "lat_deg": lat.tolist(),
        "lon_deg": lon.tolist(),
        "values": values.round(4).tolist(),
    }
    cache[hunt] = out
    return out


@router.websocket("/{hunt}/live")
async def hunt_live(websocket: WebSocket, hunt: str, token: str | None = None) -> None:
    """Push `{"type": "observations", "rows": [...]}`, `{"type": "fix", ...}` and
    `{"type": "status", "stale", "reason", ...}` messages; a subscriber that falls more than
    the backlog behind gets `{"type": "lagged", "dropped": n}` where messages were dropped.

    Browsers cannot set headers on a WebSocket, so the token may come as `?token=`. A refusal
    is a WebSocket close after the handshake, so that browsers see its code and reason: 4401
    for a missing, unknown or revoked token (any role may read), 4429 when the address sent too
    many unknown tokens.
    """
    app = websocket.app
    auth = websocket.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    try:
        await asyncio.to_thread(authenticate, app, client_address(websocket), token)
        refused = None
    except HTTPException as exc:
        refused = exc
    await websocket.accept()
    if refused is not None:
        why = str(refused.detail)
        if refused.status_code == 401 and not token:
            why = "missing token: add ?token=TOKEN or the header 'Authorization: Bearer TOKEN'"
        await websocket.close(code=4000 + refused.status_code, reason=why[:120])
        return
    hub = app.state.hub
    q = hub.subscribe(hunt)

    async def reader() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    listening = asyncio.create_task(reader())
    try:
        latest = await asyncio.to_thread(app.state.repo.latest_fix, hunt)
        if latest is not None:
            if app.state.fixer is not None:
                latest["stale"], latest["reason"] = app.state.fixer.stale(hunt, latest)
            await websocket.send_json({"type": "fix", **latest})
        while not listening.done():
            getter = asyncio.create_task(q.get())
            done, _ = await asyncio.wait({getter, listening}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            await websocket.send_json(getter.result())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        listening.cancel()
        hub.unsubscribe(hunt, q)
