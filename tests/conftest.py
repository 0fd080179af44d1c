"""Fixtures shared across test modules."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # not POSIX: the timing tests just run beside the others
    fcntl = None

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


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: the CPUs this process may run on (affinity, and a cgroup v2 quota such as
    `docker --cpus=2`), not the host's count (psutil's physical cores, xdist's default)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            n = min(n, max(1, round(int(quota) / int(period))))
    return n


@pytest.fixture(autouse=True)
def _timing_alone(request, tmp_path_factory):
    """Under xdist, a `timing` test runs with no other test running: it holds a file lock
    exclusively, every other test holds it shared. A turnstile lock taken first gives a waiting
    `timing` test precedence over tests that start later (no starvation)."""
    if fcntl is None or "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    root = tmp_path_factory.getbasetemp().parent  # shared by the workers of one run
    alone = request.node.get_closest_marker("timing") is not None
    with contextlib.ExitStack() as stack:
        turn = stack.enter_context(open(root / "timing.turn", "a"))
        lock = stack.enter_context(open(root / "timing.lock", "a"))
        fcntl.flock(turn, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(turn, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(turn, fcntl.LOCK_UN)
