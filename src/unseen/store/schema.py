"""Tables (SQLAlchemy Core): stations, tokens (keyed digests), hunts, observations, fixes.

This module describes the latest schema for queries; the database itself is created and upgraded
only by the Alembic scripts in `migrations/versions/`, which must stay in step with it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

Json = sa.JSON().with_variant(JSONB(), "postgresql")

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("lat_deg", sa.Float, nullable=False),
    sa.Column("lon_deg", sa.Float, nullable=False),
    sa.Column("alt_m", sa.Float, nullable=False),
    sa.Column("created_s", sa.Float, nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id"), nullable=True),
    sa.Column("created_s", sa.Float, nullable=False),
    # "hmac": HMAC-SHA256 under the server secret; "sha256": a digest from before 0002
    sa.Column("scheme", sa.String(8), nullable=False, server_default="sha256"),
    # env (UNSEEN_ADMIN_TOKEN), generated (first start), issued, station, rotated; NULL: before 0002
    sa.Column("origin", sa.String(16), nullable=True),
    sa.Column("revoked_s", sa.Float, nullable=True),
)

hunts = sa.Table(
    "hunts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("created_s", sa.Float, nullable=False),
)

observations = sa.Table(
    "observations",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("hunt_id", sa.Integer, sa.ForeignKey("hunts.id"), nullable=False),
    sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("time_s", sa.Float, nullable=False),
    sa.Column("received_s", sa.Float, nullable=False),
    sa.Column("row", Json, nullable=False),
    sa.Index("ix_observations_hunt_seq", "hunt_id", "seq"),
    sa.UniqueConstraint("station_id", "uuid", name="uq_observations_station_uuid"),
)

fixes = sa.Table(
    "fixes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hunt_id", sa.Integer, sa.ForeignKey("hunts.id"), nullable=False),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("n_obs", sa.Integer, nullable=False),
    sa.Column("time_s", sa.Float, nullable=False),
    sa.Column("computed_s", sa.Float, nullable=False),
    sa.Column("lat_deg", sa.Float, nullable=False),
    sa.Column("lon_deg", sa.Float, nullable=False),
    sa.Column("fix", Json, nullable=False),
    sa.Index("ix_fixes_hunt_id", "hunt_id", "id"),
)
