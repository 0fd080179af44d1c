"""The HTTP API contract: roles, tokens, idempotent ingest, clear 4xx errors, live WebSocket."""

from __future__ import annotations

import secrets
import uuid

import pytest
from fastapi.testclient import TestClient

from unseen.cli import main
from unseen.errors import ConfigError
from unseen.serve import Settings, bootstrap_admin, check_admin_token, create_app
from unseen.serve.process import free_port
from unseen.store import Repo

ADMIN = secrets.token_urlsafe(32)


@pytest.fixture
def repo(tmp_path):
    r = Repo.open(str(tmp_path / "srv.sqlite"))
    yield r
    r.close()


@pytest.fixture
def client(repo):
    settings = Settings(admin_token=ADMIN, solve_fix=False, max_body_bytes=256 * 1024)
    bootstrap_admin(repo, settings)
    with TestClient(create_app(settings, repo)) as c:
        yield c


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def station(client, name="dinard", lat=48.6325, lon=-2.06) -> str:
    r = client.post(
        "/api/v1/stations",
        json={"name": name, "lat": lat, "lon": lon, "alt_m": 5},
        headers=auth(ADMIN),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == name and isinstance(body["id"], int) and len(body["token"]) >= 40
    return body["token"]


def bearing(station="dinard", hunt="h", az=45.0, **kw) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "hunt": hunt,
        "kind": "bearing",
        "station": station,
        "time_s": 10.0,
        "lat": 48.6325,
        "lon": -2.06,
        "bearing_deg": az,
        "sigma_deg": 3.0,
        **kw,
    }


def post(client, token, obs):
    return client.post("/api/v1/observations", json={"observations": obs}, headers=auth(token))


def test_station_registration_and_roles(client):
    tok = station(client)
    r = client.post(
        "/api/v1/stations", json={"name": "dinard", "lat": 1, "lon": 1}, headers=auth(ADMIN)
    )
    assert r.status_code == 409 and "dinard" in r.json()["detail"]
    r = client.post("/api/v1/stations", json={"name": "x", "lat": 1, "lon": 1}, headers=auth(tok))
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    r = client.post("/api/v1/stations", json={"name": "x", "lat": 1, "lon": 1})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    r = client.post(
        "/api/v1/stations", json={"name": "x", "lat": 1, "lon": 1}, headers=auth("nope")
    )
    assert r.status_code == 401 and "unknown token" in r.json()["detail"]
    r = client.post(
        "/api/v1/stations",
        json={"name": "x", "lat": 1, "lon": 1},
        headers={"Authorization": "Basic eA=="},
    )
    assert r.status_code == 401

    r = client.post("/api/v1/tokens", json={"role": "viewer"}, headers=auth(ADMIN))
    assert r.status_code == 201
    viewer = r.json()["token"]
    assert client.get("/api/v1/stations", headers=auth(viewer)).json()[0]["name"] == "dinard"
    assert post(client, viewer, [bearing()]).status_code == 403
    r = client.post("/api/v1/tokens", json={"role": "admin"}, headers=auth(ADMIN))
    assert r.status_code == 422 and "role" in r.json()["detail"]
    assert (
        client.post("/api/v1/tokens", json={"role": "viewer"}, headers=auth(viewer)).status_code
        == 403
    )


def test_ingest_is_idempotent_and_stations_submit_only_their_own(client):
    tok = station(client)
    station(client, "paramé", 48.657, -1.99)
    a, b = bearing(), bearing(az=50.0, lat=48.64, lon=-2.05)  # a mobile station moved
    r = post(client, tok, [a, b, a])
    assert r.status_code == 200 and r.json() == {"accepted": 2, "duplicates": 1}
    assert post(client, tok, [a, b]).json() == {"accepted": 0, "duplicates": 2}
    r = post(client, tok, [bearing(station="paramé")])
    assert (
        r.status_code == 403 and "paramé" in r.json()["detail"] and "dinard" in r.json()["detail"]
    )
    got = client.get("/api/v1/hunts/h/observations", headers=auth(tok)).json()
    assert [g["id"] for g in got] == [a["id"], b["id"]]
    assert got[1]["lat"] == 48.64 and got[1]["bearing_deg"] == 50.0
    assert client.get("/api/v1/hunts", headers=auth(tok)).json() == ["h"]
    r = client.get("/api/v1/hunts/h/fix", headers=auth(tok))
    assert r.status_code == 404 and "no fix yet" in r.json()["detail"]
    for what in ("fix", "fixes", "observations", "heatmap"):
        r = client.get(f"/api/v1/hunts/nope/{what}", headers=auth(tok))
        assert r.status_code == 404 and r.json()["detail"] == "no such hunt: 'nope'", what


def test_an_id_reused_for_different_content_is_409_not_a_duplicate(client):
    tok = station(client)
    a = bearing()
    assert post(client, tok, [a]).json() == {"accepted": 1, "duplicates": 0}
    r = post(client, tok, [bearing(az=46.0, id=a["id"]), bearing()])
    assert r.status_code == 409
    assert a["id"] in r.json()["detail"] and "bearing_deg" in r.json()["detail"]
    r = post(client, tok, [dict(a, hunt="agent2")])
    assert r.status_code == 409 and "hunt" in r.json()["detail"]
    assert len(client.get("/api/v1/hunts/h/observations", headers=auth(tok)).json()) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bearing_deg": 360.0}, "observations[0].bearing_deg"),
        ({"lat": 91.0}, "observations[0].lat"),
        ({"lon": "west"}, "observations[0].lon"),
        ({"sigma_deg": -1.0}, "observations[0].sigma_deg"),
        ({"id": "not-a-uuid"}, "observations[0].id"),
        ({"kind": "guess"}, "observations[0].kind"),
        ({"bearing_deg": None}, "bearing_deg"),
        ({"colour": "red"}, "observations[0].colour"),
        ({"time_s": float("nan")}, "observations[0].time_s"),
    ],
)
def test_bad_fields_are_4xx_naming_the_field(client, change, field):
    tok = station(client)
    obs = {**bearing(), **change}
    if change.get("bearing_deg", 0) is None:
        obs.pop("bearing_deg")
    r = client.post(
        "/api/v1/observations",
        content=__import__("json").dumps({"observations": [obs]}).replace("NaN", '"NaN"'),
        headers={**auth(tok), "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
    assert client.get("/healthz").status_code == 200


def test_kind_specific_fields_are_required(client):
    tok = station(client)
    common = {k: v for k, v in bearing().items() if k not in ("bearing_deg", "sigma_deg")}
    r = post(client, tok, [{**common, "kind": "tdoa"}])
    detail = r.json()["detail"]
    assert r.status_code == 422 and "station_b" in detail and "tdoa_s" in detail
    tdoa = {**common, "kind": "tdoa", "station_b": "paramé", "lat_b": 48.657, "lon_b": -1.99,
            "tdoa_s": 1e-6, "sigma_s": 1e-8}  # fmt: skip
    r = post(client, tok, [{**tdoa, "bearing_deg": 3.0}])
    assert r.status_code == 422 and "bearing_deg" in r.json()["detail"]
    assert post(client, tok, [tdoa]).json()["accepted"] == 1
    det = {**common, "id": str(uuid.uuid4()), "kind": "detection", "freq_hz": 94.2e6,
           "licensed": False, "snr_db": 20.0}  # fmt: skip
    assert post(client, tok, [det]).json()["accepted"] == 1
    r = post(client, tok, [{**det, "id": str(uuid.uuid4()), "licensed": "no"}])
    assert r.status_code == 422 and "licensed" in r.json()["detail"]
    r = post(client, tok, [{**det, "id": str(uuid.uuid4()), "snr_db": True}])
    assert r.status_code == 422 and "snr_db" in r.json()["detail"]


def test_malformed_and_oversized_bodies(client):
    tok = station(client)
    h = {**auth(tok), "content-type": "application/json"}
    r = client.post("/api/v1/observations", content=b'{"observations": [', headers=h)
    assert r.status_code == 422 and "invalid JSON" in r.json()["detail"]
    r = client.post("/api/v1/observations", json={"observations": []}, headers=auth(tok))
    assert r.status_code == 422 and "observations" in r.json()["detail"]
    r = client.post("/api/v1/observations", json=[1, 2], headers=auth(tok))
    assert r.status_code == 422
    r = client.post("/api/v1/observations", content=b"x" * 300_000, headers=h)
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    chunks = (b"x" * 65_536 for _ in range(48))  # 3 MiB, Transfer-Encoding: chunked
    r = client.post("/api/v1/observations", content=chunks, headers=h)
    assert r.status_code == 413 and "limit of 262144 bytes" in r.json()["detail"]
    r = post(client, tok, [bearing() for _ in range(1001)])
    assert r.status_code in (413, 422)
    assert client.get("/healthz").status_code == 200


def test_openapi_documents_the_contract(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in (
        "/api/v1/stations",
        "/api/v1/tokens",
        "/api/v1/observations",
        "/api/v1/hunts/{hunt}/observations",
        "/api/v1/hunts/{hunt}/fix",
    ):
        assert p in paths
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert paths["/api/v1/stations"]["post"]["responses"].get("201")
    assert client.get("/docs").status_code == 200


def test_live_websocket_pushes_new_observations(client):
    tok = station(client)
    r = client.post("/api/v1/tokens", json={"role": "viewer"}, headers=auth(ADMIN))
    viewer = r.json()["token"]
    with client.websocket_connect(f"/api/v1/hunts/h/live?token={viewer}") as ws:
        b = bearing()
        assert post(client, tok, [b]).status_code == 200
        msg = ws.receive_json()
        assert msg["type"] == "observations" and msg["rows"][0]["id"] == b["id"]
    from starlette.websockets import WebSocketDisconnect

    with (
        pytest.raises(WebSocketDisconnect) as exc,
        client.websocket_connect("/api/v1/hunts/h/live?token=bad") as ws,
    ):
        ws.receive_json()
    assert exc.value.code == 4401


def test_the_map_page_and_offline_leaflet_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/leaflet/leaflet.js" in page.text
    js = client.get("/static/leaflet/leaflet.js")
    assert js.status_code == 200 and "Leaflet" in js.text[:2000]
    assert client.get("/static/app/app.js").status_code == 200
    assert 'rel="icon"' in page.text  # no /favicon.ico request, no console error


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_reference_pages_load_everything_from_this_server(client, path):
    import re

    page = client.get(path)
    assert page.status_code == 200
    assert re.findall(r"https?://|//[a-z]", page.text) == []  # no external host at all
    assets = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", page.text)
    assert any(a.endswith(".js") for a in assets)
    for a in assets:
        assert client.get(a).status_code == 200, a


@pytest.mark.parametrize(
    "token",
    [
        "short",
        "changeme" + "Q7x!k2Lp9zR4mW8vT1yB",
        "x9AdminToken_with_enough_length_123",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababababababababab",
        "abcdefghijklmnopqrstuvwxyz",  # a sequence
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "qwertyuiopasdfghjklzxcvbnm1234567890",  # keyboard rows
        "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",  # keyboard columns
        "thequickbrownfoxjumpsoverthelazydog",  # a phrase
        "correct horse battery staple is my boss today ok",  # a phrase with spaces
        "Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3",  # a repeat
    ],
)
def test_weak_admin_tokens_are_refused(token):
    with pytest.raises(ConfigError, match="UNSEEN_ADMIN_TOKEN"):
        check_admin_token(token)


def test_tokens_made_by_secrets_pass_the_strength_test():
    # zxcvbn finds no structure in random tokens: about 10 guesses per character, 43 characters
    for _ in range(20):
        t = secrets.token_urlsafe(32)
        assert check_admin_token(t) == t


def test_weak_token_message_gives_the_estimate():
    with pytest.raises(ConfigError, match=r"about 2\^\d+ guesses by zxcvbn, need 2\^128"):
        check_admin_token("a" * 36)


def serve_error(capsys, monkeypatch, *args) -> str:
    monkeypatch.setenv("UNSEEN_ADMIN_TOKEN", ADMIN)
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("unseen: error: ")
    return err


def test_serve_reports_a_port_in_use_in_one_line(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = serve_error(capsys, monkeypatch, "--port", str(port), "--db", str(tmp_path / "p.db"))
    assert f"unseen: error: 127.0.0.1:{port} is already in use" in err


def test_serve_reports_an_unreachable_postgresql_in_one_line_without_the_password(
    monkeypatch, capsys
):
    url = "postgresql://hunt:hunter2@127.0.0.1:1/unseen"  # port 1: connection refused
    err = serve_error(capsys, monkeypatch, "--port", str(free_port()), "--db", url)
    assert "127.0.0.1:1/unseen" in err and "hunter2" not in err


def test_strong_admin_token_is_accepted_and_generated_once(repo):
    assert check_admin_token(ADMIN) == ADMIN
    first = bootstrap_admin(repo, Settings())
    assert first and repo.principal(first).role == "admin"
    assert bootstrap_admin(repo, Settings()) is None


def test_serve_refuses_a_placeholder_token_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UNSEEN_ADMIN_TOKEN", "changeme")
    assert main(["serve", "--db", str(tmp_path / "x.sqlite")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "UNSEEN_ADMIN_TOKEN" in err


def test_admin_lists_revokes_and_rotates_tokens(client):
    tok = station(client)
    viewer = client.post("/api/v1/tokens", json={"role": "viewer"}, headers=auth(ADMIN)).json()
    listed = client.get("/api/v1/tokens", headers=auth(ADMIN)).json()
    assert {t["role"] for t in listed} == {"admin", "station", "viewer"}
    assert all("token" not in t and t["revoked_s"] is None for t in listed)
    assert client.get("/api/v1/tokens", headers=auth(viewer["token"])).status_code == 403
    r = client.delete(f"/api/v1/tokens/{viewer['id']}", headers=auth(ADMIN))
    assert r.status_code == 200 and r.json()["revoked_s"] is not None
    r = client.get("/api/v1/stations", headers=auth(viewer["token"]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert client.delete("/api/v1/tokens/9999", headers=auth(ADMIN)).status_code == 404
    admin_id = next(t["id"] for t in listed if t["role"] == "admin")
    r = client.delete(f"/api/v1/tokens/{admin_id}", headers=auth(ADMIN))
    assert r.status_code == 409 and "last admin token" in r.json()["detail"]
    # the station's token is rotated by the admin: the old one stops, the new one works
    sid = client.get("/api/v1/stations", headers=auth(ADMIN)).json()[0]["id"]
    r = client.post(f"/api/v1/stations/{sid}/token", headers=auth(ADMIN))
    assert r.status_code == 201 and r.json()["station"] == "dinard"
    assert post(client, tok, [bearing()]).status_code == 401
    assert post(client, r.json()["token"], [bearing()]).status_code == 200
    # the admin rotates its own token
    r = client.post(f"/api/v1/tokens/{admin_id}/rotate", headers=auth(ADMIN))
    assert r.status_code == 201 and r.json()["role"] == "admin"
    new_admin = r.json()["token"]
    assert client.get("/api/v1/tokens", headers=auth(ADMIN)).status_code == 401
    assert client.get("/api/v1/tokens", headers=auth(new_admin)).status_code == 200


def test_failed_authentication_is_rate_limited_per_address(repo):
    settings = Settings(admin_token=ADMIN, solve_fix=False, auth_failures=5, auth_window_s=60)
    bootstrap_admin(repo, settings)
    with TestClient(create_app(settings, repo)) as c:
        for _ in range(5):
            assert c.get("/api/v1/hunts", headers=auth("guess")).status_code == 401
        r = c.get("/api/v1/hunts", headers=auth("guess"))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        # while blocked, even a valid token from that address is refused (no oracle)
        assert c.get("/api/v1/hunts", headers=auth(ADMIN)).status_code == 429
        assert c.get("/healthz").status_code == 200
    with TestClient(create_app(settings, repo), client=("10.0.0.2", 5000)) as other:
        assert other.get("/api/v1/hunts", headers=auth(ADMIN)).status_code == 200


@pytest.mark.parametrize("name", [".", "..", "a/b", "a%2Fb", "-x", "a b", "é", "x" * 65, ""])
def test_hunt_names_outside_the_pattern_are_refused_on_write(client, name):
    tok = station(client)
    r = post(client, tok, [bearing(hunt=name)])
    assert r.status_code == 422 and "hunt" in r.json()["detail"]


def test_the_same_id_from_two_stations_is_two_observations_and_409_shows_only_your_own(client):
    a, b = station(client), station(client, "paramé", 48.657, -1.99)
    mine = bearing()
    assert post(client, b, [dict(mine, station="paramé", bearing_deg=123.0)]).status_code == 200
    assert post(client, a, [mine]).json() == {"accepted": 1, "duplicates": 0}
    assert len(client.get("/api/v1/hunts/h/observations", headers=auth(a)).json()) == 2
    r = post(client, a, [dict(mine, bearing_deg=50.0)])
    assert r.status_code == 409 and "123" not in r.json()["detail"]


def test_the_openapi_document_validates(client):
    from openapi_spec_validator import validate

    spec = client.get("/openapi.json").json()
    validate(spec)  # e.g. every $ref resolves (ValidationIssue did not)
    paths = spec["paths"]
    assert "delete" in paths["/api/v1/tokens/{token_id}"]
    assert "/api/v1/tokens/{token_id}/rotate" in paths
    assert "/api/v1/stations/{station_id}/token" in paths


def test_a_non_reading_subscriber_never_costs_the_others_a_message():
    import asyncio

    from unseen.serve.live import Hub

    async def go():
        hub = Hub(queue_size=16)
        slow, fast = hub.subscribe("h"), hub.subscribe("h")
        got = []
        for i in range(1000):
            hub.publish("h", {"type": "n", "i": i})  # never raises, whatever `slow` does
            got.append(await fast.get())
        assert [m["i"] for m in got] == list(range(1000))
        first = await slow.get()
        assert first == {"type": "lagged", "dropped": 1000 - 16}
        rest = [(await slow.get())["i"] for _ in range(16)]
        assert rest == list(range(1000 - 16, 1000))  # the newest are kept, in order

    asyncio.run(go())
