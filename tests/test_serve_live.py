"""The live WebSocket on a real uvicorn server: refusals are WebSocket closes with a reason."""

from __future__ import annotations

import contextlib
import secrets

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from unseen.serve.process import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    admin = secrets.token_urlsafe(32)
    with ServerProcess(tmp_path_factory.mktemp("live") / "live.sqlite", admin) as srv:
        yield srv, admin


@pytest.mark.parametrize(
    ("query", "headers", "why"),
    [
        ("", {}, "missing token"),
        ("?token=wrong", {}, "unknown token"),
        ("", {"Authorization": "Bearer wrong"}, "unknown token"),
    ],
)
def test_no_or_unknown_token_is_closed_with_4401_and_a_reason(server, query, headers, why):
    srv, _ = server
    url = srv.url.replace("http://", "ws://") + "/api/v1/hunts/h/live" + query
    # the handshake succeeds (not a bare HTTP 403), then the server closes with code and reason
    with (
        pytest.raises(ConnectionClosed) as exc,
        connect(url, additional_headers=headers, open_timeout=5) as ws,
    ):
        ws.recv(timeout=5)
    assert exc.value.rcvd.code == 4401
    assert why in exc.value.rcvd.reason


def test_a_known_token_gets_the_live_stream(server):
    srv, admin = server
    url = srv.url.replace("http://", "ws://") + f"/api/v1/hunts/h/live?token={admin}"
    with connect(url, open_timeout=5) as ws:
        ws.ping().wait(5)  # open and answering; nothing to push yet


@pytest.mark.timing
def test_slow_and_idle_clients_are_timed_out_and_never_block_the_others(tmp_path):
    import socket
    import time

    import httpx

    admin = secrets.token_urlsafe(32)
    args = ["--header-timeout-s", "1", "--body-timeout-s", "1", "--max-connections", "40"]
    with ServerProcess(tmp_path / "slow.sqlite", admin, args=args) as srv:
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(60)]
        half = socket.create_connection(("127.0.0.1", srv.port))
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        socks = [*idle, half]
        live = srv.url.replace("http://", "ws://") + f"/api/v1/hunts/h/live?token={admin}"
        with contextlib.ExitStack() as stack:
            stack.callback(lambda: [s.close() for s in socks])
            ws = stack.enter_context(connect(live, open_timeout=5))
            time.sleep(0.3)
            # over the connection cap: refused at once with 503, not left hanging
            r = httpx.get(srv.url + "/healthz", timeout=2, trust_env=False)
            assert r.status_code == 503
            time.sleep(1.7)
            # every idle or half-sent connection was closed by the server
            for s in [*idle[:5], half]:
                s.settimeout(2)
                assert s.recv(100) == b""
            slow = socket.create_connection(("127.0.0.1", srv.port))
            socks.append(slow)
            head = b"POST /api/v1/observations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            slow.sendall(head + b"Content-Type: application/json\r\n\r\n{")  # body stalls
            slow.settimeout(3)
            got = b""
            while chunk := slow.recv(4096):  # head and body may arrive in separate segments
                got += chunk
            assert b" 408 " in got.split(b"\r\n")[0] and b"nothing received" in got
            r = httpx.get(srv.url + "/healthz", timeout=2, trust_env=False)
            assert r.status_code == 200
            ws.ping().wait(5)  # a WebSocket is not an idle HTTP request: it stays open
