"""Storage at the edge: SQLite (default, WAL) or PostgreSQL via SQLAlchemy 2 Core + Alembic.

`Repo.open(path_or_url)` creates or upgrades the database and returns the repository.
"""

from unseen.store.engine import create_engine, default_path, migrate, to_url
from unseen.store.repo import (
    ROLES,
    ConflictError,
    NotFoundError,
    Principal,
    Repo,
    digest,
    legacy_digest,
    new_token,
)

__all__ = [
    "ROLES",
    "ConflictError",
    "NotFoundError",
    "Principal",
    "Repo",
    "create_engine",
    "default_path",
    "digest",
    "legacy_digest",
    "migrate",
    "new_token",
    "to_url",
]
