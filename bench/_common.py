"""Shared bench plumbing: pinned threads and allocator, min/median/max, CLI timing, run header.

A bench calls `pin()` before importing numpy: it re-executes the script with BLAS/numba on one
thread and glibc's trim/mmap thresholds fixed at 1 GiB (a trimmed heap makes the next large
allocation page-fault afresh: 2-4x swings between rounds), so rounds and peers compare. The
environment carries over to the children (the CLI as a user runs it). No numpy here: this module
is imported before the pin.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
}


def pin() -> None:
    """Re-exec this script with `PIN` in the environment unless it is there already."""
    if any(os.environ.get(k) != v for k, v in PIN.items()):
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PIN})


def spread(xs: Sequence[float], scale: float = 1.0, fmt: str = "{:.3g}") -> str:
    """'min / median / max' of `xs` × `scale`."""
    a = [x * scale for x in xs]
    return " / ".join(fmt.format(v) for v in (min(a), statistics.median(a), max(a)))


def ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
    """Per-round ratios num[i] / den[i] (rounds interleaved, so a load spike hits both)."""
    return [a / b for a, b in zip(num, den, strict=True)]


def clock(f: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s of this process, result) of one call of `f`."""
    w, c = time.perf_counter(), time.process_time()
    r = f()
    return time.perf_counter() - w, time.process_time() - c, r


def interleave(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, dict[str, list]]:
    """Call every function once per round, in turn; {name: {"wall": [...], "cpu": [...]}}."""
    out: dict[str, dict[str, list]] = {k: {"wall": [], "cpu": []} for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            w, c, _ = clock(f)
            out[k]["wall"].append(w)
            out[k]["cpu"].append(c)
    return out


def unseen_cmd(src: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """`unseen` as a user runs it (the console script beside this Python) and its environment,
    with `src` (default: this tree's src/) first on PYTHONPATH and Python's bytecode cache on: an
    installed package has its .pyc files, so PYTHONDONTWRITEBYTECODE (set on some machines)
    would time a recompile of unseen's modules on every run, a cost no user pays."""
    exe = Path(sys.executable).with_name("unseen")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "unseen"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return cmd, {**env, "PYTHONPATH": str(src or ROOT / "src")}


def run(
    cmd: Sequence[str],
    env: dict[str, str] | None = None,
    stdout=subprocess.DEVNULL,
    check: bool = True,
    **kw,
) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run `cmd` to the end: (wall s, CPU s user + system of it and its children, result);
    RuntimeError on a non-zero exit when `check` (`unseen locate` exits 1 when a group fails)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(list(cmd), env=env, stdout=stdout, stderr=subprocess.PIPE, **kw)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if check and p.returncode != 0:
        err = p.stderr.decode(errors="replace") if isinstance(p.stderr, bytes) else p.stderr
        raise RuntimeError(f"{' '.join(cmd[:3])} ... exited {p.returncode}: {err[-500:]}")
    return wall, cpu, p


def peak_rss_mb(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall s, peak RSS MB) of `cmd` under /usr/bin/time: its own high-water mark (a child forked
    from this big process would inherit our high-water mark, which survives exec)."""
    tool = shutil.which("time") or "/usr/bin/time"
    w, _, p = run([tool, "-f", "%M", *cmd], env=env, check=False, text=True)
    return w, int(p.stderr.strip().splitlines()[-1]) / 1024


def numba_cache(modules: tuple[str, ...] | None = None) -> str:
    """'cold (...)' when unseen's numba kernels have nothing compiled on disk, else 'warm'."""
    from unseen.cli.kernels import MODULES, cold

    todo = cold(modules or MODULES)
    return f"cold ({', '.join(todo)} compile on first use)" if todo else "warm (on-disk cache)"


def header(what: str) -> None:
    """One line: what, UTC time, commit, load average, cores, pins (for RESULTS.md)."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        rev = "?"
    la = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{what}: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {rev or '?'}, "
        f"load average {la} on {os.cpu_count()} cores; one BLAS/numba thread; allocator pinned "
        f"(MALLOC_TRIM_THRESHOLD_ = MALLOC_MMAP_THRESHOLD_ = "
        f"{os.environ.get('MALLOC_TRIM_THRESHOLD_', 'unset')})"
    )


def load() -> str:
    """The 1-minute load average now, for a line that says what the figures ran under."""
    return f"load average {os.getloadavg()[0]:.1f}"
