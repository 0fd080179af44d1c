"""The repository: rows in, plain dicts and values out; no ORM object escapes.

Tokens are random 256-bit strings (or a strength-checked UNSEEN_ADMIN_TOKEN) stored only as
HMAC-SHA256 digests under a 32-byte server secret kept outside the database (`engine.load_secret`):
a copy of the database alone cannot be used to test guesses offline. Digests from before
migration 0002 (plain SHA-256) still authenticate and are re-keyed on first use. A token can be
revoked (`revoked_s`); revocation takes effect at once in this process and within
`PRINCIPAL_TTL_S` in others sharing the database. Observations are idempotent by
(station, UUID).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from unseen.errors import ConfigError, InputError
from unseen.store import engine as eng
from unseen.store.schema import fixes, hunts, observations, stations, tokens

ROLES = ("admin", "station", "viewer")
PRINCIPAL_TTL_S = 5.0


class ConflictError(InputError):
    """A unique name is already taken."""


class NotFoundError(InputError):
    """No such station or token."""


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to."""

    role: str
    station_id: int | None = None
    station: str | None = None
    token_id: int | None = None


def digest(token: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of a token under the server secret `key`."""
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def legacy_digest(token: str) -> str:
    """The unkeyed SHA-256 hex digest stored before migration 0002."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh token: 32 random bytes, URL-safe base64 (43 characters, 256 bits)."""
    return secrets.token_urlsafe(32)


class Repo:
    """Storage for stations, tokens, hunts, observations and fixes on one engine."""

    def __init__(self, engine: sa.Engine, secret: bytes | None = None):
        self.engine = engine
        self.secret = secret if secret is not None else secrets.token_bytes(32)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._hunt_ids: dict[str, int] = {}
        self._principals: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, db: str | None = None, *, migrate: bool = True, secret_file: str | None = None
    ) -> Repo:
        """Open (and by default create or upgrade) the database at a path or URL.

        A SQLite file is created 0600 in a 0700 directory; the token secret is read from (or
        created at) `secret_file`, default `engine.secret_path(url)`.
        """
        url = eng.to_url(db)
        path = eng.sqlite_path(url)
        if path is not None:
            eng.secure_sqlite(path)
        key = eng.load_secret(Path(secret_file) if secret_file else eng.secret_path(url))
        engine = eng.create_engine(url)
        if migrate:
            eng.migrate(engine)
        return cls(engine, key)

    def close(self) -> None:
        self.engine.dispose()

    # stations and tokens

    def _digest(self, token: str) -> str:
        return digest(token, self.secret)

    def _insert_token(
        self, conn, token: str, role: str, origin: str, station_id: int | None = None
    ) -> int:
        return conn.execute(
            tokens.insert().values(
                digest=self._digest(token),
                scheme="hmac",
                role=role,
                station_id=station_id,
                origin=origin,
                created_s=time.time(),
            )
        ).inserted_primary_key[0]

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
            self._insert_token(conn, token, "station", "station", sid)
        return self.station(name), token

    def station(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(stations).where(stations.c.name == name)).first()
        return dict(row._mapping) if row else None

    def stations(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(stations).order_by(stations.c.id)).all()
        return [dict(r._mapping) for r in rows]

    def add_token(self, role: str, token: str | None = None, *, origin: str = "issued") -> str:
        """Store a token of `role` (admin or viewer); returns it (generated when None)."""
        if role not in ("admin", "viewer"):
            raise InputError(f"role {role!r}: expected 'admin' or 'viewer'")
        token = token or new_token()
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(tokens.c.id).where(tokens.c.digest == self._digest(token))
            ).first()
            if not exists:
                self._insert_token(conn, token, role, origin)
        return token

    def use_env_admin(self, token: str) -> int:
        """Make `token` (from UNSEEN_ADMIN_TOKEN) the only admin token; returns how many other
        admin tokens were revoked. A token that was revoked before is refused (ConfigError)."""
        key = self._digest(token)
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(tokens.c.id, tokens.c.role, tokens.c.revoked_s).where(
                    tokens.c.digest.in_([key, legacy_digest(token)])
                )
            ).first()
            if row is not None and (row.revoked_s is not None or row.role != "admin"):
                raise ConfigError(
                    "UNSEEN_ADMIN_TOKEN: this token was revoked (or belongs to another role); "
                    "set a new one"
                )
            if row is None:
                keep = self._insert_token(conn, token, "admin", "env")
            else:
                keep = row.id
                conn.execute(
                    tokens.update()
                    .where(tokens.c.id == keep)
                    .values(digest=key, scheme="hmac", origin="env")
                )
            n = conn.execute(
                tokens.update()
                .where(tokens.c.role == "admin", tokens.c.id != keep, tokens.c.revoked_s.is_(None))
                .values(revoked_s=now)
            ).rowcount
        self._principals.clear()
        return int(n or 0)

    def has_admin(self) -> bool:
        q = sa.select(tokens.c.id).where(tokens.c.role == "admin", tokens.c.revoked_s.is_(None))
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def tokens(self) -> list[dict]:
        """Every token's record (never the token): id, role, station, origin, created, revoked."""
        q = (
            sa.select(
                tokens.c.id,
                tokens.c.role,
                stations.c.name.label("station"),
                tokens.c.origin,
                tokens.c.created_s,
                tokens.c.revoked_s,
            )
            .select_from(tokens.outerjoin(stations, tokens.c.station_id == stations.c.id))
            .order_by(tokens.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q).all()]

    def revoke_token(self, token_id: int) -> dict:
        """Revoke a token (idempotent); NotFoundError for an unknown id. Refuses to revoke the
        last valid admin token (ConflictError): nobody could administer the server after."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
            if row is None:
                raise NotFoundError(f"token {token_id}: no such token")
            if row.revoked_s is None and row.role == "admin":
                others = conn.execute(
                    sa.select(sa.func.count()).where(
                        tokens.c.role == "admin",
                        tokens.c.revoked_s.is_(None),
                        tokens.c.id != token_id,
                    )
                ).scalar_one()
                if not others:
                    raise ConflictError(
                        f"token {token_id} is the last admin token; rotate it instead "
                        "(POST /api/v1/tokens/{id}/rotate) or restart with a new "
                        "UNSEEN_ADMIN_TOKEN"
                    )
            if row.revoked_s is None:
                conn.execute(
                    tokens.update().where(tokens.c.id == token_id).values(revoked_s=time.time())
                )
        self._principals.clear()
        return next(t for t in self.tokens() if t["id"] == token_id)

    def rotate_token(self, token_id: int) -> tuple[dict, str]:
        """Revoke token `token_id` and issue its successor (same role and station) at once;
        returns (the new token's record, the new token shown once)."""
        token = new_token()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
            if row is None:
                raise NotFoundError(f"token {token_id}: no such token")
            if row.revoked_s is not None:
                raise ConflictError(f"token {token_id} is revoked; it cannot be rotated")
            conn.execute(
                tokens.update().where(tokens.c.id == token_id).values(revoked_s=time.time())
            )
            new_id = self._insert_token(conn, token, row.role, "rotated", row.station_id)
        self._principals.clear()
        return next(t for t in self.tokens() if t["id"] == new_id), token

    def rotate_station_token(self, station_id: int) -> tuple[dict, str]:
        """Revoke every token of station `station_id` and issue a new one (shown once)."""
        token = new_token()
        now = time.time()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(stations.c.id).where(stations.c.id == station_id)).first():
                conn.execute(
                    tokens.update()
                    .where(tokens.c.station_id == station_id, tokens.c.revoked_s.is_(None))
                    .values(revoked_s=now)
                )
                new_id = self._insert_token(conn, token, "station", "rotated", station_id)
            else:
                raise NotFoundError(f"station {station_id}: no such station")
        self._principals.clear()
        return next(t for t in self.tokens() if t["id"] == new_id), token

    def principal(self, token: str) -> Principal | None:
        """Who holds `token`; None for an unknown or revoked token (cached `PRINCIPAL_TTL_S`)."""
        key = self._digest(token)
        now = time.monotonic()
        hit = self._principals.get(key)
        if hit is not None and now - hit[0] < PRINCIPAL_TTL_S:
            return hit[1]
        q = sa.select(
            tokens.c.id, tokens.c.role, tokens.c.station_id, tokens.c.scheme, stations.c.name
        ).select_from(tokens.outerjoin(stations, tokens.c.station_id == stations.c.id))
        live = tokens.c.revoked_s.is_(None)
        with self.engine.connect() as conn:
            row = conn.execute(q.where(tokens.c.digest == key, live)).first()
        if row is None:
            row = self._rekey(token, q.where(live))
        if row is None:
            self._principals.pop(key, None)
            return None
        who = Principal(role=row.role, station_id=row.station_id, station=row.name, token_id=row.id)
        if len(self._principals) > 10_000:
            self._principals.clear()
        self._principals[key] = (now, who)
        return who

    def _rekey(self, token: str, q):
        """A pre-0002 row holding the plain SHA-256 of `token`, re-keyed to HMAC in place."""
        old = legacy_digest(token)
        with self.engine.begin() as conn:
            row = conn.execute(q.where(tokens.c.digest == old, tokens.c.scheme == "sha256")).first()
            if row is not None:
                conn.execute(
                    tokens.update()
                    .where(tokens.c.id == row.id)
                    .values(digest=self._digest(token), scheme="hmac")
                )
        return row

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
        """Insert a station's rows (each with `id` UUID string and `hunt`); skip the ids this
        station already stored (ids are per station: another station's ids are never seen).

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
            .on_conflict_do_nothing(index_elements=["station_id", "uuid"])
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
                    observations.c.station_id == station_id, observations.c.uuid.in_(known)
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
        "stale": False,
        "reason": None,
    }
