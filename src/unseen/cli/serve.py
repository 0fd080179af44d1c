"""CLI commands: `unseen serve` (server + live map) and `unseen station` (DF site agent)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from unseen.cli.app import app, simulate_app  # noqa: F401


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    db: Annotated[
        str | None,
        typer.Option(help="SQLite file path or database URL (default: file in user data dir)."),
    ] = None,
    header_timeout_s: Annotated[
        float, typer.Option(min=0.1, max=3600, help="Seconds a client has to send its headers.")
    ] = 10.0,
    body_timeout_s: Annotated[
        float, typer.Option(min=0.1, max=3600, help="Seconds allowed between body chunks.")
    ] = 30.0,
    max_connections: Annotated[
        int, typer.Option(min=1, max=100_000, help="Connections served at once (503 beyond).")
    ] = 200,
) -> int:
    """Run the server: HTTP API (/docs), live WebSocket and the web map at /.

    The admin token comes from UNSEEN_ADMIN_TOKEN (refused if weak); without it a token is
    generated at first start and printed once.
    """
    import uvicorn

    from unseen.serve import Settings, bootstrap_admin, create_app
    from unseen.store import Repo

    settings = Settings(
        db=db,
        host=host,
        port=port,
        admin_token=os.environ.get("UNSEEN_ADMIN_TOKEN") or None,
        header_timeout_s=header_timeout_s,
        body_timeout_s=body_timeout_s,
        max_connections=max_connections,
    )
    if settings.admin_token:
        from unseen.serve import check_admin_token

        check_admin_token(settings.admin_token)
    sock = _bind(host, port)  # held from here on: a port in use is reported before the database
    try:
        repo = Repo.open(db, secret_file=settings.secret_file)
        fresh = bootstrap_admin(repo, settings)
        if fresh:
            typer.echo(f"admin token (shown once, keep it safe): {fresh}")
        typer.echo(
            f"unseen: serving {repo.engine.url.render_as_string(hide_password=True)} "
            f"on http://{host}:{port}/",
            err=True,
        )
        config = uvicorn.Config(create_app(settings, repo), **uvicorn_options(settings))
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def uvicorn_options(settings) -> dict:
    """uvicorn's limits from `settings` (the README's server policy states them)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from unseen.serve.limits import header_timeout_protocol

    return {
        "log_level": "warning",
        "http": header_timeout_protocol(H11Protocol, settings.header_timeout_s),
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": 16 * 1024,
        "ws_max_size": 64 * 1024,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "timeout_graceful_shutdown": 5,
    }


def _bind(host: str, port: int):
    """A listening-ready TCP socket on host:port (as uvicorn binds), or a one-line ConfigError."""
    import errno
    import socket

    from unseen.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio turns Nagle off (TCP_NODELAY) only on accepted sockets
    # whose proto says TCP; with proto 0 every response waits for a delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"{where} is already in use; stop the other server or choose another --port"
            ) from None
        raise ConfigError(f"--host {host} --port {port}: cannot listen on {where}: "
                          f"{exc.strerror or exc}") from None  # fmt: skip
    return sock


@app.command()
def station(
    config: Annotated[Path, typer.Option("--config", "-c", help="station.toml")],
    once: Annotated[
        bool, typer.Option(help="Read what is there, deliver, and exit (no following).")
    ] = False,
) -> int:
    """Run a DF station agent: read IQ (or follow a KrakenSDR), post observations, spool offline."""
    from unseen.agent import load_config, run
    from unseen.cli.kernels import notice

    cfg = load_config(config)
    notice(("unseen.doa._kernels",))
    return run(cfg, once=once)
