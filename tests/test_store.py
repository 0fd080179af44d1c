"""Storage on both back ends: migrations, hashed tokens, idempotent observations, fixes."""

from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest
import sqlalchemy as sa

from unseen.errors import ConfigError
from unseen.store import ConflictError, Repo, digest, to_url
from unseen.store.engine import HEAD, current_revision


@pytest.fixture
def repo(db_url):
    r = Repo.open(db_url)
    yield r
    r.close()


def rows(n: int, hunt: str = "h", station: str = "a", t0: float = 0.0) -> list[dict]:
    return [
        {
            "id": str(uuid.uuid4()),
            "hunt": hunt,
            "kind": "bearing",
            "station": station,
            "time_s": t0 + i,
            "lat": 48.6,
            "lon": -2.0,
            "bearing_deg": float(i % 360),
            "sigma_deg": 2.0,
        }
        for i in range(n)
    ]


def test_migrations_create_schema_at_head_and_reopen_is_a_no_op(db_url):
    r = Repo.open(db_url)
    assert current_revision(r.engine) == HEAD
    names = set(sa.inspect(r.engine).get_table_names())
    assert {"stations", "tokens", "hunts", "observations", "fixes", "alembic_version"} <= names
    st, _ = r.add_station("dinard", 48.6325, -2.06, 10.0)
    r.close()
    again = Repo.open(db_url)
    assert current_revision(again.engine) == HEAD
    assert again.station("dinard")["id"] == st["id"]
    again.close()


def test_sqlite_is_wal_and_default_file_lives_in_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    url = to_url(None)
    assert url == f"sqlite:///{tmp_path / 'xdg' / 'unseen' / 'unseen.sqlite'}"
    r = Repo.open(None)
    r.add_station("x", 0.0, 0.0)
    r.close()
    path = tmp_path / "xdg" / "unseen" / "unseen.sqlite"
    assert path.exists()
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bad_database_urls_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unsupported database URL"):
        to_url("mysql://x/y")
    with pytest.raises(ConfigError, match="is a directory"):
        to_url(tmp_path)
    assert to_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


def test_tokens_are_stored_hashed_and_resolve_to_their_principal(repo):
    st, token = repo.add_station("paramé", 48.657, -1.99)
    viewer = repo.add_token("viewer")
    admin = repo.add_token("admin")
    with repo.engine.connect() as c:
        stored = [r[0] for r in c.execute(sa.text("SELECT sha256 FROM tokens"))]
    assert token not in stored and viewer not in stored and admin not in stored
    assert digest(token) in stored and len(stored) == 3
    who = repo.principal(token)
    assert (who.role, who.station, who.station_id) == ("station", "paramé", st["id"])
    assert repo.principal(viewer).role == "viewer"
    assert repo.principal(admin).role == "admin"
    assert repo.principal("not-a-token") is None
    assert repo.has_admin()


def test_station_names_are_unique(repo):
    repo.add_station("dinard", 48.6, -2.0)
    with pytest.raises(ConflictError, match="dinard"):
        repo.add_station("dinard", 48.6, -2.0)


def test_observations_are_idempotent_by_id_within_and_across_batches(repo):
    st, _ = repo.add_station("a", 48.6, -2.0)
    batch = rows(50)
    fresh, dups = repo.add_observations(st["id"], batch + batch[:10])
    assert (len(fresh), dups) == (50, 10)
    fresh, dups = repo.add_observations(st["id"], batch[20:30] + rows(5))
    assert (len(fresh), dups) == (5, 10)
    got = repo.observations("h", limit=1000)
    assert len(got) == 55 == repo.count_observations("h")
    assert len({g["id"] for g in got}) == 55
    seqs = [g["seq"] for g in got]
    assert seqs == sorted(seqs)
    assert got[0] == dict(batch[0], seq=seqs[0])


def test_an_id_reused_for_other_content_is_a_conflict_and_stores_nothing(repo):
    st, _ = repo.add_station("a", 48.6, -2.0)
    batch = rows(3)
    repo.add_observations(st["id"], batch)
    same = dict(batch[1], bearing_deg=1)  # 1 == 1.0: the same observation, a duplicate
    assert repo.add_observations(st["id"], [same]) == ([], 1)
    other_hunt = dict(batch[1], hunt="h2")
    with pytest.raises(ConflictError, match=rf"{batch[1]['id']}.*already stored.*hunt"):
        repo.add_observations(st["id"], [*rows(2), other_hunt])
    with pytest.raises(ConflictError, match=r"twice in this batch.*bearing_deg"):
        repo.add_observations(st["id"], [batch[0], dict(batch[0], bearing_deg=9.0)])
    assert repo.count_observations() == 3  # the conflicting batches left nothing behind


def test_observation_paging_and_latest_window(repo):
    st, _ = repo.add_station("a", 48.6, -2.0)
    repo.add_observations(st["id"], rows(30))
    repo.add_observations(st["id"], rows(3, hunt="other"))
    first = repo.observations("h", limit=10)
    after = repo.observations("h", after_seq=first[-1]["seq"], limit=1000)
    assert len(first) == 10 and len(after) == 20
    latest = repo.observations("h", latest=True, limit=5)
    assert [r["time_s"] for r in latest] == [25.0, 26.0, 27.0, 28.0, 29.0]
    assert repo.last_seq("h") == latest[-1]["seq"]
    assert sorted(repo.hunts()) == ["h", "other"]
    assert repo.observations("nope") == []


def test_concurrent_writers_never_duplicate(repo):
    st, _ = repo.add_station("a", 48.6, -2.0)
    batch = rows(200)
    results = []

    def send():
        results.append(repo.add_observations(st["id"], batch)[1])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert repo.count_observations("h") == 200
    assert sum(results) == 3 * 200


def test_fix_history_keeps_order_and_latest(repo):
    assert repo.latest_fix("h") is None
    for i in range(3):
        repo.add_fix("h", {"lat": 48.0 + i, "lon": -2.0, "time_s": i}, last_seq=i, n_obs=i)
    latest = repo.latest_fix("h")  # the locate object with the metadata beside its keys
    assert (latest["lat"], latest["time_s"], latest["hunt"], latest["n_obs"]) == (50.0, 2, "h", 2)
    hist = repo.fixes("h")
    assert [f["last_seq"] for f in hist] == [0, 1, 2]
    assert [f["last_seq"] for f in repo.fixes("h", limit=2, latest=True)] == [1, 2]


def test_migrations_match_the_table_definitions(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from unseen.store.schema import metadata

    r = Repo.open(db_url)
    with r.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    r.close()
    assert diff == []
