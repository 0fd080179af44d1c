"""Where `unseen doa REC --json` start-up goes: CPU time (user + system) of each step as its own
process, min / median / max over rounds, beside `python -c "import numpy, scipy, numba"`.

    PYTHONPATH=src python bench/doa_startup.py REC.sigmf-meta [ROUNDS]
"""

import resource
import statistics
import subprocess
import sys

PY = sys.executable
REC = sys.argv[1]
INIT = (
    "import numpy, scipy, numba; from numba.core.registry import cpu_target; "
    "cpu_target.target_context.refresh()"
)
cmds = {
    "import numpy, scipy, numba": [PY, "-c", "import numpy, scipy, numba"],
    "+ scipy.linalg": [PY, "-c", "import numpy, scipy, numba, scipy.linalg"],
    "+ numba target init (numba.np.linalg)": [PY, "-c", INIT],
    "import unseen.cli": [PY, "-c", "import unseen.cli"],
    "import unseen.cli + unseen.doa": [PY, "-c", "import unseen.cli, unseen.doa"],
    "unseen doa REC --json": [PY, "-m", "unseen", "doa", REC, "--json"],
}
res = {k: [] for k in cmds}
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3):
    for k, c in cmds.items():
        a = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(c, stdout=subprocess.DEVNULL, check=True)
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        res[k].append(b.ru_utime - a.ru_utime + b.ru_stime - a.ru_stime)
base = statistics.median(res["import numpy, scipy, numba"])
for k, v in res.items():
    med = statistics.median(v)
    print(f"| {k} | {min(v):.2f} / {med:.2f} / {max(v):.2f} s | {med / base:.2f}x |")
