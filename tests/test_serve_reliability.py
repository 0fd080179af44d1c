"""Crash safety: kill -9 the server in the middle of an ingest stream, restart, lose nothing."""

from __future__ import annotations

import secrets
import threading
import time
import uuid

import httpx
import pytest

from unseen.serve.process import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _pg_secret_in_tmp(request, tmp_path, monkeypatch):
    """With PostgreSQL the token secret defaults to the user data dir: keep tests out of it."""
    spec = getattr(request.node, "callspec", None)
    if spec is not None and spec.params.get("db_url") == "postgres":
        monkeypatch.setenv("UNSEEN_SECRET_FILE", str(tmp_path / "server.secret"))


def batch(n: int, k: int) -> list[dict]:
    return [
        {
            "id": str(uuid.uuid4()),
            "hunt": "h",
            "kind": "bearing",
            "station": "dinard",
            "time_s": float(k),
            "lat": 48.6325,
            "lon": -2.06,
            "bearing_deg": float((k * 7 + i) % 360),
            "sigma_deg": 2.0,
        }
        for i in range(n)
    ]


def stored_ids(url: str, token: str) -> list[str]:
    got, after = [], 0
    with httpx.Client(trust_env=False, headers={"Authorization": f"Bearer {token}"}) as c:
        while True:
            page = c.get(
                f"{url}/api/v1/hunts/h/observations", params={"after_seq": after, "limit": 10000}
            ).json()
            if not page:
                return got
            got += [r["id"] for r in page]
            after = page[-1]["seq"]


def test_kill_minus_9_mid_ingest_keeps_every_acknowledged_observation(db_url):
    admin = secrets.token_urlsafe(32)
    srv = ServerProcess(db_url, admin).start()
    try:
        r = httpx.post(
            f"{srv.url}/api/v1/stations",
            json={"name": "dinard", "lat": 48.6325, "lon": -2.06},
            headers={"Authorization": f"Bearer {admin}"},
            trust_env=False,
        )
        token = r.json()["token"]
        sent: list[list[dict]] = []
        acked: set[str] = set()
        done = threading.Event()

        def stream() -> None:
            with httpx.Client(
                trust_env=False, timeout=5.0, headers={"Authorization": f"Bearer {token}"}
            ) as c:
                k = 0
                deadline = time.monotonic() + 30
                while not done.is_set() and time.monotonic() < deadline:
                    b = batch(50, k)
                    sent.append(b)
                    k += 1
                    try:
                        resp = c.post(f"{srv.url}/api/v1/observations", json={"observations": b})
                    except httpx.HTTPError:
                        return  # the server died under us: this batch is unacknowledged
                    if resp.status_code == 200:
                        acked.update(o["id"] for o in b)

        t = threading.Thread(target=stream)
        t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 2000 and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.kill()  # SIGKILL while batches are in flight
        done.set()
        t.join(30)
        assert len(acked) >= 2000

        srv = ServerProcess(db_url, admin, port=srv.port).start()
        ids = stored_ids(srv.url, admin)
        assert len(ids) == len(set(ids))  # nothing duplicated
        assert acked <= set(ids)  # nothing acknowledged lost
        all_sent = {o["id"] for b in sent for o in b}
        assert set(ids) <= all_sent
        # the client re-sends everything it is unsure of: the server counts them as duplicates
        with httpx.Client(trust_env=False, headers={"Authorization": f"Bearer {token}"}) as c:
            acc = dup = 0
            for b in sent:
                body = c.post(f"{srv.url}/api/v1/observations", json={"observations": b}).json()
                acc, dup = acc + body["accepted"], dup + body["duplicates"]
        assert acc == len(all_sent) - len(ids) and dup == len(ids)
        final = stored_ids(srv.url, admin)
        assert len(final) == len(set(final)) == len(all_sent)
    finally:
        srv.stop()
