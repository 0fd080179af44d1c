"""Keyed token digests with revocation; observation ids unique per station.

`tokens.sha256` becomes `tokens.digest` with a `scheme` ("sha256" for the rows already there,
upgraded to "hmac" on their next use), an `origin` and `revoked_s`. Observation ids are unique
per (station, uuid) instead of globally, so one station can never block or probe another's ids.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# SQLite reflects 0001's unnamed unique constraints; this names them so they can be dropped
NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique(table: str, column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"{table}_{column}_key"  # PostgreSQL's name for an inline UNIQUE
    return f"uq_{table}_{column}"


def upgrade() -> None:
    with op.batch_alter_table("tokens", naming_convention=NAMES) as b:
        b.alter_column("sha256", new_column_name="digest", existing_type=sa.String(64))
        b.add_column(sa.Column("scheme", sa.String(8), nullable=False, server_default="sha256"))
        b.add_column(sa.Column("origin", sa.String(16), nullable=True))
        b.add_column(sa.Column("revoked_s", sa.Float, nullable=True))
    with op.batch_alter_table("observations", naming_convention=NAMES) as b:
        b.drop_constraint(_old_unique("observations", "uuid"), type_="unique")
        b.create_unique_constraint("uq_observations_station_uuid", ["station_id", "uuid"])


def downgrade() -> None:
    with op.batch_alter_table("observations", naming_convention=NAMES) as b:
        b.drop_constraint("uq_observations_station_uuid", type_="unique")
        b.create_unique_constraint(_old_unique("observations", "uuid"), ["uuid"])
    with op.batch_alter_table("tokens", naming_convention=NAMES) as b:
        b.drop_column("revoked_s")
        b.drop_column("origin")
        b.drop_column("scheme")
        b.alter_column("digest", new_column_name="sha256", existing_type=sa.String(64))
