"""Where `unseen doa REC --json` start-up goes: CPU time (user + system) of each step as its own
process, min / median / max over interleaved rounds, beside `python -c "import numpy, scipy,
numba"`; the command with the ahead-of-time DOA kernels (built at install) and with the JIT
kernels forced (UNSEEN_AOT=0, numba cache warm), and the wall time of the baseline and of both.

    PYTHONPATH=src python bench/doa_startup.py REC.sigmf-meta [ROUNDS]
"""

import os
import resource
import statistics
import subprocess
import sys
import time

PY = sys.executable
REC = sys.argv[1]
INIT = (
    "import numpy, scipy, numba; from numba.core.registry import cpu_target; "
    "cpu_target.target_context.refresh()"
)
JIT = {**os.environ, "UNSEEN_AOT": "0"}
DOA = [PY, "-m", "unseen", "doa", REC, "--json"]
cmds = {
    "import numpy, scipy, numba": ([PY, "-c", "import numpy, scipy, numba"], None),
    "+ scipy.linalg": ([PY, "-c", "import numpy, scipy, numba, scipy.linalg"], None),
    "+ numba target init (numba.np.linalg)": ([PY, "-c", INIT], None),
    "import unseen.cli": ([PY, "-c", "import unseen.cli"], None),
    "import unseen.cli + unseen.doa": ([PY, "-c", "import unseen.cli, unseen.doa"], None),
    "unseen doa REC --json (AOT kernels)": (DOA, None),
    "unseen doa REC --json (JIT kernels, UNSEEN_AOT=0)": (DOA, JIT),
}
ready = subprocess.run(
    [PY, "-c", "from unseen.doa import _aot; print(_aot.ready() or _aot.why_not())"],
    capture_output=True, text=True, check=True,
).stdout.strip()  # fmt: skip
print(f"AOT kernels: {ready}")
subprocess.run(DOA, stdout=subprocess.DEVNULL, env=JIT, check=True)  # warm the JIT cache
cpu = {k: [] for k in cmds}
wall = {k: [] for k in cmds}
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3):
    for k, (c, env) in cmds.items():
        a = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(c, stdout=subprocess.DEVNULL, env=env, check=True)
        wall[k].append(time.perf_counter() - t0)
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[k].append(b.ru_utime - a.ru_utime + b.ru_stime - a.ru_stime)
base, wbase = (statistics.median(d["import numpy, scipy, numba"]) for d in (cpu, wall))
print("| step | CPU min / median / max | ÷ baseline | wall min / median / max | ÷ baseline |")
print("|---|---|---|---|---|")
for k, v in cpu.items():
    w = wall[k]
    print(
        f"| {k} | {min(v):.2f} / {statistics.median(v):.2f} / {max(v):.2f} s | "
        f"{statistics.median(v) / base:.2f}x | {min(w):.2f} / {statistics.median(w):.2f} / "
        f"{max(w):.2f} s | {statistics.median(w) / wbase:.2f}x |"
    )
