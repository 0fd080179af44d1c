"""The live WebSocket on a real uvicorn server: refusals are WebSocket closes with a reason."""

from __future__ import annotations

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
