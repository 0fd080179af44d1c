"""Initial schema: stations, tokens, hunts, observations, fixes.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("lat_deg", sa.Float, nullable=False),
        sa.Column("lon_deg", sa.Float, nullable=False),
        sa.Column("alt_m", sa.Float, nullable=False),
        sa.Column("created_s", sa.Float, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id"), nullable=True),
        sa.Column("created_s", sa.Float, nullable=False),
    )
    op.create_table(
        "hunts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("created_s", sa.Float, nullable=False),
    )
    op.create_table(
        "observations",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("hunt_id", sa.Integer, sa.ForeignKey("hunts.id"), nullable=False),
        sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("received_s", sa.Float, nullable=False),
        sa.Column("row", Json, nullable=False),
    )
    op.create_index("ix_observations_hunt_seq", "observations", ["hunt_id", "seq"])
    op.create_table(
        "fixes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hunt_id", sa.Integer, sa.ForeignKey("hunts.id"), nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("n_obs", sa.Integer, nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("computed_s", sa.Float, nullable=False),
        sa.Column("lat_deg", sa.Float, nullable=False),
        sa.Column("lon_deg", sa.Float, nullable=False),
        sa.Column("fix", Json, nullable=False),
    )
    op.create_index("ix_fixes_hunt_id", "fixes", ["hunt_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_fixes_hunt_id", "fixes")
    op.drop_table("fixes")
    op.drop_index("ix_observations_hunt_seq", "observations")
    op.drop_table("observations")
    op.drop_table("hunts")
    op.drop_table("tokens")
    op.drop_table("stations")
