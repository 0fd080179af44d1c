"""Fixtures shared across test modules."""

from __future__ import annotations

import os
import uuid

import pytest

PG_URL = os.environ.get("UNSEEN_TEST_PG_URL")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="UNSEEN_TEST_PG_URL is not set"),
            ],
        ),
    ]
)
def db_url(request, tmp_path):
    """A fresh database on each back end: a SQLite file, and a PostgreSQL database created on
    the server at UNSEEN_TEST_PG_URL and dropped afterwards."""
    if request.param == "sqlite":
        yield str(tmp_path / "unseen.sqlite")
        return
    import sqlalchemy as sa

    name = "unseen_t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
