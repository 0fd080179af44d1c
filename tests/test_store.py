"""Storage on both back ends: migrations, hashed tokens, idempotent observations, fixes."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import uuid

import pytest
import sqlalchemy as sa

from unseen.errors import ConfigError
from unseen.store import ConflictError, NotFoundError, Repo, digest, legacy_digest, to_url
from unseen.store.engine import HEAD, current_revision


@pytest.fixture
def repo(db_url):
    r = Repo.open(db_url)
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _pg_secret_in_tmp(request, tmp_path, monkeypatch):
    """With PostgreSQL the token secret defaults to the user data dir: keep tests out of it."""
    spec = getattr(request.node, "callspec", None)
    if spec is not None and spec.params.get("db_url") == "postgres":
        monkeypatch.setenv("UNSEEN_SECRET_FILE", str(tmp_path / "server.secret"))


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


def test_tokens_are_stored_as_keyed_digests_and_resolve_to_their_principal(repo):
    st, token = repo.add_station("paramé", 48.657, -1.99)
    viewer = repo.add_token("viewer")
    admin = repo.add_token("admin")
    with repo.engine.connect() as c:
        stored = [r[0] for r in c.execute(sa.text("SELECT digest FROM tokens"))]
    assert token not in stored and viewer not in stored and admin not in stored
    assert digest(token, repo.secret) in stored and len(stored) == 3
    # keyed: the plain SHA-256 (what an offline guesser could test) is not what is stored
    assert legacy_digest(token) not in stored
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


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_sqlite_wal_shm_and_secret_are_0600_in_a_0700_directory(tmp_path):
    old = os.umask(0o022)  # the usual umask: without care files would be 0644 in a 0755 dir
    try:
        _check_private_files(tmp_path)
    finally:
        os.umask(old)


def _check_private_files(tmp_path):
    db = tmp_path / "srv" / "unseen.sqlite"
    r = Repo.open(str(db))
    r.add_station("a", 48.6, -2.0)
    with r.engine.connect() as c:  # an open connection keeps the WAL and SHM files
        c.execute(sa.text("SELECT 1"))
        files = [db, db.parent / "unseen.sqlite-wal", db.parent / "unseen.sqlite-shm",
                 db.parent / "unseen.sqlite.secret"]  # fmt: skip
        assert all(f.exists() for f in files)
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert _mode(db.parent) == 0o700
    r.close()
    os.chmod(db, 0o644)  # e.g. a database from before: tightened on the next start
    Repo.open(str(db)).close()
    assert _mode(db) == 0o600


def test_a_stolen_database_without_the_secret_authenticates_nothing(tmp_path):
    db = tmp_path / "a.sqlite"
    r = Repo.open(str(db))
    _, token = r.add_station("a", 48.6, -2.0)
    r.close()
    (tmp_path / "a.sqlite.secret").rename(tmp_path / "elsewhere")
    thief = Repo.open(str(db))  # a new secret is made: the stored digests mean nothing to it
    assert thief.principal(token) is None
    thief.close()
    (tmp_path / "elsewhere").replace(tmp_path / "a.sqlite.secret")
    again = Repo.open(str(db))
    assert again.principal(token).station == "a"
    again.close()


def test_tokens_from_before_the_keyed_digests_still_work_and_are_rekeyed(db_url):
    from unseen.store import engine as eng

    old = eng.create_engine(to_url(db_url))
    eng.migrate(old, "0001")  # the first schema, as an old server left it
    with old.begin() as c:
        c.execute(sa.text("INSERT INTO tokens (sha256, role, created_s) VALUES (:d, 'viewer', 0)"),
                  {"d": legacy_digest("old-viewer-token")})  # fmt: skip
    old.dispose()
    r = Repo.open(db_url)
    assert current_revision(r.engine) == HEAD
    assert r.principal("old-viewer-token").role == "viewer"
    with r.engine.connect() as c:
        assert tuple(c.execute(sa.text("SELECT digest, scheme FROM tokens")).one()) == (
            digest("old-viewer-token", r.secret), "hmac")  # fmt: skip
    r.close()


def test_tokens_are_listed_revoked_and_rotated(repo):
    st, station_token = repo.add_station("a", 48.6, -2.0)
    admin = repo.add_token("admin")
    viewer = repo.add_token("viewer")
    listed = repo.tokens()
    assert [(t["role"], t["station"], t["revoked_s"]) for t in listed] == [
        ("station", "a", None), ("admin", None, None), ("viewer", None, None)]  # fmt: skip
    vid = repo.principal(viewer).token_id
    assert repo.revoke_token(vid)["revoked_s"] is not None
    assert repo.principal(viewer) is None
    with pytest.raises(NotFoundError):
        repo.revoke_token(999)
    aid = repo.principal(admin).token_id
    with pytest.raises(ConflictError, match="last admin token"):
        repo.revoke_token(aid)
    rec, admin2 = repo.rotate_token(aid)
    assert repo.principal(admin) is None and repo.principal(admin2).role == "admin"
    assert rec["role"] == "admin" and rec["origin"] == "rotated"
    rec, station2 = repo.rotate_station_token(st["id"])
    assert repo.principal(station_token) is None
    assert repo.principal(station2).station_id == st["id"]
    with pytest.raises(NotFoundError):
        repo.rotate_station_token(999)


def test_a_new_environment_admin_token_revokes_the_previous_ones(repo):
    first, second = (f"{uuid.uuid4().hex}{uuid.uuid4().hex}" for _ in range(2))
    generated = repo.add_token("admin", origin="generated")
    assert repo.use_env_admin(first) == 1  # the generated one goes
    assert repo.principal(generated) is None and repo.principal(first).role == "admin"
    assert repo.use_env_admin(first) == 0  # a restart with the same token changes nothing
    assert repo.use_env_admin(second) == 1
    assert repo.principal(first) is None and repo.principal(second).role == "admin"
    with pytest.raises(ConfigError, match="revoked"):
        repo.use_env_admin(first)  # a revoked token never comes back


def test_observation_ids_are_per_station(repo):
    a, _ = repo.add_station("a", 48.6, -2.0)
    b, _ = repo.add_station("b", 48.7, -2.1)
    mine = rows(2, station="a")
    theirs = [dict(mine[0], station="b", bearing_deg=200.0)]  # B reuses A's (predictable) id
    assert repo.add_observations(b["id"], theirs)[1] == 0
    fresh, dups = repo.add_observations(a["id"], mine)
    assert (len(fresh), dups) == (2, 0)  # A's batch is not refused because of B
    assert repo.count_observations("h") == 3
    with pytest.raises(ConflictError) as exc:
        repo.add_observations(a["id"], [dict(mine[0], bearing_deg=7.0)])
    assert "200" not in str(exc.value)  # A's own stored row is quoted, never B's
