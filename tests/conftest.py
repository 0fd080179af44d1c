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


# Scheduling under `--dist loadfile`: whole files stay on one worker (module fixtures are
# computed once), but the longest units start first (longest-processing-time-first: the last
# unit to finish is a short one), each example page of test_docs.py is its own unit, and the
# files that compile numba's JIT DOA kernels (tens of seconds on a cold cache, CI's case) run
# one after the other on one worker, so the kernels compile once, not on both workers at once.
JIT_DOA = ("test_doa_aot.py", "test_doa_ml.py", "test_doa_kernels.py", "test_doa.py")
SPLIT = ("tests/test_docs.py::test_examples_print_what_the_page_shows[",)
WEIGHT_S = {
    "jit-doa": 380,
    "tests/test_hunt.py": 140,
    "tests/test_web.py": 86,
    "tests/test_demo.py": 81,
    "tests/test_track.py": 60,
    "tests/test_agent_hunt.py": 56,
    "tests/test_serve_reliability.py": 30,
    "tests/test_rss_sim.py": 30,
    "tests/test_agent.py": 26,
    "tests/test_cli_signals.py": 23,
    "tests/test_detect_real.py": 22,
    "tests/test_serve_live.py": 22,
    "tests/test_rss_map.py": 21,
    "tests/test_agent_fusion.py": 21,
    "tests/test_fuzz_config.py": 20,
    "tests/test_tdoa_sky.py": 19,
    "tests/test_architecture.py": 18,
    "tests/test_locate.py": 17,
    "tests/test_docs.py": 17,
    "tests/test_report.py": 15,
    "tests/test_detect_pulsed.py": 13,
    "tests/test_agent_iq.py": 11,
    "tests/test_tdoa_dcf77.py": 11,
    "tests/test_serve_fix.py": 10,
    "[saint-malo]": 88,
    "[dcf77_0]": 81,
    "[tdoa-reference]": 37,
    "[calibrate]": 21,
    "[first-doa]": 19,
    "[rss-survey]": 12,
    "[dcf77_1]": 12,
}
"""Seconds per unit in one full run on a cold numba cache (2 workers on a busy 2-core box): only
their order matters; a unit not listed (a few seconds or less) runs after the listed ones."""


def _scope(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    if path.rsplit("/", 1)[-1] in JIT_DOA:
        return "jit-doa"
    if nodeid.startswith(SPLIT):
        return nodeid
    return path


def _weight(scope: str) -> float:
    if scope in WEIGHT_S:
        return WEIGHT_S[scope]
    page = scope[scope.rfind("[") :] if scope.endswith("]") else ""
    return WEIGHT_S.get(page, 0.0)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` (pyproject's addopts) with the units and order above; any other
    `--dist` is xdist's own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    if not all(hasattr(LoadScopeScheduling, a) for a in ("_split_scope", "_assign_work_unit")):
        return None  # xdist's internals changed: its own loadfile scheduling, unordered
    class Longest(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

        def _assign_work_unit(self, node) -> None:
            if not getattr(self, "_ordered", False):  # first call: the queue is complete
                self._ordered = True
                units = sorted(self.workqueue.items(), key=lambda u: -_weight(u[0]))
                self.workqueue.clear()
                self.workqueue.update(units)
            super()._assign_work_unit(node)

    config.option.loadscopereorder = False
    return Longest(config, log)
