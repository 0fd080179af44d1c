"""The repository: rows in, plain dicts and values out; no ORM object escapes.

Tokens are random 256-bit strings, so they are stored as SHA-256 digests (a slow password hash
buys nothing against a full-entropy secret). Observations are idempotent by their UUID.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from unseen.errors import InputError
from unseen.store import engine as eng
from unseen.store.schema import fixes, hunts, observations, stations, tokens

ROLES = ("admin", "station", "viewer")


class ConflictError(InputError):
    """A unique name is already taken."""


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to."""

    role: str
    station_id: int | None = None
    station: str | None = None


def digest(token: str) -> str:
    """SHA-256 hex digest of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh token: 32 random bytes, URL-safe base64 (43 characters, 256 bits)."""
    return secrets.token_urlsafe(32)


class Repo:
    """Storage for stations, tokens, hunts, observations and fixes on one engine."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._hunt_ids: dict[str, int] = {}
        self._principals: dict[str, Principal] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, db: str | None = None, *, migrate: bool = True) -> Repo:
        """Open (and by default create or upgrade) the database at a path or URL."""
        engine = eng.create_engine(eng.to_url(db))
        if migrate:
            eng.migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # stations and tokens

    def add_station(self, name: str, lat_deg: float, lon_deg: float, alt_m: float = 0.0):
        """Create a station and its token; returns (station dict, token shown once)."""
        token = new_token()
        now = time.time()
        with self.engine.begin() as conn:
            taken = conn.execute(sa.select(stations.c.id).where(stations.c.name == name)).first()
            if taken:
                raise ConflictError(f"station name {name!r} is already registered")
            sid = conn.execute(
                stations.insert().values(
                    name=name, lat_deg=lat_deg, lon_deg=lon_deg, alt_m=alt_m, created_s=now
                )
            ).inserted_primary_key[0]
            conn.execute(
                tokens.insert().values(
                    sha256=digest(token), role="station", station_id=sid, created_s=now
                )
            )
        return self.station(name), token

    def station(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(stations).where(stations.c.name == name)).first()
        return dict(row._mapping) if row else None

    def stations(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(stations).order_by(stations.c.id)).all()
        return [dict(r._mapping) for r in rows]

    def add_token(self, role: str, token: str | None = None) -> str:
        """Store a token of `role` (admin or viewer); returns it (generated when None)."""
        if role not in ("admin", "viewer"):
            raise InputError(f"role {role!r}: expected 'admin' or 'viewer'")
        token = token or new_token()
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(tokens.c.id).where(tokens.c.sha256 == digest(token))
            ).first()
            if not exists:
                conn.execute(
                    tokens.insert().values(sha256=digest(token), role=role, created_s=time.time())
                )
        return token

    def has_admin(self) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(sa.select(tokens.c.id).where(tokens.c.role == "admin")).first()
                is not None
            )

    def principal(self, token: str) -> Principal | None:
        """Who holds `token`, or None for an unknown token (results cached by digest)."""
        key = digest(token)
        hit = self._principals.get(key)
        if hit is not None:
            return hit
        q = (
            sa.select(tokens.c.role, tokens.c.station_id, stations.c.name)
            .select_from(tokens.outerjoin(stations, tokens.c.station_id == stations.c.id))
            .where(tokens.c.sha256 == key)
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        who = Principal(role=row.role, station_id=row.station_id, station=row.name)
        self._principals[key] = who
        return who

    # hunts

    def hunt_id(self, name: str, *, create: bool = False) -> int | None:
        """The id of hunt `name`; created on demand when `create`."""
        hid = self._hunt_ids.get(name)
        if hid is not None:
            return hid
        with self.engine.begin() as conn:
            if create:
                conn.execute(
                    self._insert(hunts)
                    .values(name=name, created_s=time.time())
                    .on_conflict_do_nothing(index_elements=["name"])
                )
            row = conn.execute(sa.select(hunts.c.id).where(hunts.c.name == name)).first()
        if row is None:
            return None
        self._hunt_ids[name] = row.id
        return row.id

    def hunts(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(hunts.c.name).order_by(hunts.c.id)).scalars())

    # observations

    def add_observations(self, station_id: int, rows: list[dict]) -> tuple[list[dict], int]:
        """Insert observation rows (each with `id` UUID string and `hunt`); skip known ids.

        Returns (the newly stored rows with their `seq`, number of duplicates). A duplicate is
        an id already stored with the same content; an id reused for different content raises
        ConflictError and nothing of the batch is stored. One transaction: when this returns,
        every row is durable.
        """
        if not rows:
            return [], 0
        now = time.time()
        params: dict[str, dict] = {}
        for r in rows:
            uid = str(r["id"])
            if uid in params:
                _check_same(uid, params[uid]["row"], r, "twice in this batch")
                continue
            params[uid] = {
                "uuid": uid,
                "hunt_id": self.hunt_id(r["hunt"], create=True),
                "station_id": station_id,
                "kind": r["kind"],
                "time_s": float(r["time_s"]),
                "received_s": now,
                "row": r,
            }
        stmt = (
            self._insert(observations)
            .on_conflict_do_nothing(index_elements=["uuid"])
            .returning(observations.c.seq, observations.c.uuid)
        )
        batch = list(params.values())
        with self.engine.begin() as conn:
            if len(batch) == 1:
                got = conn.execute(stmt.values(**batch[0])).all()
            else:
                got = conn.execute(stmt, batch).all()
            seq = {u: s for s, u in got}
            known = [p["uuid"] for p in batch if p["uuid"] not in seq]
            if known:
                q = sa.select(observations.c.uuid, observations.c.row).where(
                    observations.c.uuid.in_(known)
                )
                for uid, stored in conn.execute(q).all():
                    _check_same(uid, stored, params[uid]["row"], "already stored")
        fresh = [dict(p["row"], seq=seq[p["uuid"]]) for p in batch if p["uuid"] in seq]
        fresh.sort(key=lambda r: r["seq"])
        return fresh, len(rows) - len(fresh)

    def observations(
        self, hunt: str, *, after_seq: int = 0, limit: int = 1000, latest: bool = False
    ) -> list[dict]:
        """Rows of `hunt` in arrival order: after `after_seq`, or the `latest` `limit` rows."""
        hid = self.hunt_id(hunt)
        if hid is None:
            return []
        q = sa.select(observations.c.seq, observations.c.row).where(observations.c.hunt_id == hid)
        if latest:
            q = q.order_by(observations.c.seq.desc()).limit(limit)
        else:
            q = q.where(observations.c.seq > after_seq).order_by(observations.c.seq).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = [dict(r.row, seq=r.seq) for r in rows]
        if latest:
            out.reverse()
        return out

    def count_observations(self, hunt: str | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(observations)
        if hunt is not None:
            hid = self.hunt_id(hunt)
            if hid is None:
                return 0
            q = q.where(observations.c.hunt_id == hid)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def last_seq(self, hunt: str) -> int:
        hid = self.hunt_id(hunt)
        if hid is None:
            return 0
        q = sa.select(sa.func.max(observations.c.seq)).where(observations.c.hunt_id == hid)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one() or 0)

    # fixes

    def add_fix(self, hunt: str, fix: dict[str, Any], *, last_seq: int, n_obs: int) -> dict:
        """Store a fix (the `unseen locate` output object) computed up to `last_seq`."""
        hid = self.hunt_id(hunt, create=True)
        values = dict(
            hunt_id=hid,
            last_seq=last_seq,
            n_obs=n_obs,
            time_s=float(fix.get("time_s", 0.0) or 0.0),
            computed_s=time.time(),
            lat_deg=float(fix["lat"]),
            lon_deg=float(fix["lon"]),
            fix=fix,
        )
        with self.engine.begin() as conn:
            fid = conn.execute(fixes.insert().values(**values)).inserted_primary_key[0]
        return _fix_out(dict(values, id=fid), hunt)

    def latest_fix(self, hunt: str) -> dict | None:
        got = self.fixes(hunt, limit=1, latest=True)
        return got[0] if got else None

    def fixes(self, hunt: str, *, limit: int = 1000, latest: bool = False) -> list[dict]:
        """Fix history of `hunt` in order (or the `latest` `limit` fixes)."""
        hid = self.hunt_id(hunt)
        if hid is None:
            return []
        q = sa.select(fixes).where(fixes.c.hunt_id == hid)
        q = q.order_by(fixes.c.id.desc() if latest else fixes.c.id).limit(limit)
        with self.engine.connect() as conn:
            rows = [_fix_out(dict(r._mapping), hunt) for r in conn.execute(q).all()]
        if latest:
            rows.reverse()
        return rows


def _same(a: Any, b: Any) -> bool:
    """JSON values equal, numbers compared by value (45 == 45.0 after a database round trip)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) in (int, float) and type(b) in (int, float):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _check_same(uid: str, stored: dict, row: dict, how: str) -> None:
    """Raise ConflictError when observation `uid` comes with content other than `stored`."""
    if _same(stored, row):
        return
    diff = sorted(k for k in stored.keys() | row.keys() if not _same(stored.get(k), row.get(k)))
    k = diff[0]
    raise ConflictError(
        f"observation id {uid} is {how} with different content ({k}: {stored.get(k)!r} there, "
        f"{row.get(k)!r} here); an id names one observation: give new data a new id"
    )


def _fix_out(values: dict, hunt: str) -> dict:
    """The `unseen locate` object of the fix with the hunt's metadata beside its keys."""
    return {
        **values["fix"],
        "hunt": hunt,
        "id": values["id"],
        "time_s": values["time_s"],
        "last_seq": values["last_seq"],
        "n_obs": values["n_obs"],
        "computed_s": values["computed_s"],
    }
