"""Database URLs, engines and start-up migrations.

SQLite is the default: one file in the user's data directory, WAL journal, `synchronous=NORMAL`
(a commit survives the process being killed; only an OS crash can lose the last transactions).
PostgreSQL is used when given a `postgresql://` URL (driver psycopg 3).

Files: a directory the server creates is 0700; the database, its WAL and SHM (SQLite gives them
the database file's mode) and the token secret are 0600, tightened at start-up if looser.
"""

from __future__ import annotations

import os
import secrets
import stat
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from unseen.errors import ConfigError

HEAD = "0002"


def default_path() -> Path:
    """The default SQLite file: `<user data dir>/unseen/unseen.sqlite` (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("unseen", appauthor=False)) / "unseen.sqlite"


def to_url(db: str | os.PathLike | None) -> str:
    """A SQLAlchemy URL from a path or URL; None means the default SQLite file."""
    if db is None or str(db) == "":
        db = default_path()
    text = str(db)
    if "://" in text:
        if text.startswith("postgres://") or text.startswith("postgresql://"):
            text = "postgresql+psycopg://" + text.split("://", 1)[1]
        if not (text.startswith("sqlite") or text.startswith("postgresql")):
            raise ConfigError(
                f"--db {text!r}: unsupported database URL; expected a file path, "
                "sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB"
            )
        return text
    path = Path(text).expanduser()
    if path.is_dir():
        raise ConfigError(f"--db {text!r}: is a directory; expected a database file path")
    return f"sqlite:///{path}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory SQLite)."""
    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


def private_dir(path: Path) -> None:
    """Create `path` (and parents) for the server's files; a directory it creates is 0700."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask
    if path == default_path().parent:
        os.chmod(path, 0o700)  # the default directory is ours alone


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if missing; tighten an existing file to 0600."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)


def secure_sqlite(path: Path) -> None:
    """The SQLite file (and any WAL/SHM left from a previous run) 0600 in its directory."""
    private_dir(path.parent)
    private_file(path)
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if extra.exists():
            private_file(extra)


def secret_path(url: str) -> Path:
    """Where the token secret lives: beside a SQLite file (`NAME.secret`), else
    `UNSEEN_SECRET_FILE` or `<user data dir>/unseen/server.secret` (PostgreSQL)."""
    env = os.environ.get("UNSEEN_SECRET_FILE")
    if env:
        return Path(env).expanduser()
    db = sqlite_path(url)
    return Path(f"{db}.secret") if db is not None else default_path().parent / "server.secret"


def load_secret(path: Path) -> bytes:
    """The server's 32-byte token key from `path` (hex), created 0600 on first use."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        private_file(path)
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ConfigError(
            f"token secret {str(path)!r}: expected 64 hex digits (32 random bytes); "
            "restore it from the backup of this server, or remove it (every token issued "
            "under it stops working)"
        )
    return key


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def create_engine(url: str) -> sa.Engine:
    """An engine for `url` with SQLite pragmas (WAL) or a PostgreSQL pool sized for the server."""
    u = sa.make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, pool_size=8, max_overflow=8)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic config pointing at the migration scripts shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("unseen.store") / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the latest) with Alembic."""
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        why = one_line(exc.orig, engine.url)
        raise ConfigError(f"database {shown(engine.url)}: cannot open or migrate: {why}") from exc


def shown(url: sa.URL) -> str:
    """The URL with its password masked (`***`)."""
    return url.render_as_string(hide_password=True)


def one_line(exc: BaseException | None, url: sa.URL) -> str:
    """A driver's (often multi-line) message on one line, never showing the URL's password."""
    text = "; ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return text.replace(url.password, "***") if url.password else text


def current_revision(engine: sa.Engine) -> str | None:
    """The Alembic revision the database is at, None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
