"""Build time only: compile the DOA frame-path kernels of `_kernels` ahead of time (numba.pycc)
into the extension module `unseen.doa._kernels_aot`, so that `unseen doa` runs them without
numba's JIT runtime (no CPU-target initialisation, no cache loading; see bench/RESULTS.md).

setup.py calls `build` at install (`pip install -e .` builds it in place); `python
src/unseen/doa/_aot_build.py` rebuilds it in place. The
module is a pure function of `_kernels.py`: it embeds the SHA-256 of that file (`stamp`) and a
hash of this CPU's feature flags (`cpu`), and `_aot` uses it only when both still match (else the
JIT kernels run). Compiled for the build machine's CPU like the JIT (`build`). numba.pycc is
pending deprecation since numba 0.57; when it goes, the build says so and the JIT runs.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "_kernels_aot"
_PKG = "unseen_doa_aot_build"
DTYPES = {"cf32": "float32", "ci16": "int16", "ci8": "int8", "cu8": "uint8"}
"""IQ datatypes whose interleaved (T, M, 2) components `estimate_frames_core` reads directly."""


def source_stamp(path: Path = HERE / "_kernels.py") -> int:
    """First 60 bits of the SHA-256 of the kernel source (an int64 the module returns)."""
    return int(hashlib.sha256(path.read_bytes()).hexdigest()[:15], 16)


def cpu_stamp() -> int:
    """First 60 bits of the SHA-256 of this CPU's feature flags (/proc/cpuinfo), 0 if unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return 0
    flags = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    return int(hashlib.sha256(flags.encode()).hexdigest()[:15], 16) if flags else 0


def _load_kernels():
    """`_kernels.py` (with its sibling `_plan.py`) as a standalone package that is not
    `unseen`, so that the build needs neither the package's other dependencies nor an installed
    unseen. Its functions do not use numba's on-disk cache (those files are the runtime's)."""
    import types as pytypes

    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    pkg = pytypes.ModuleType(_PKG)
    pkg.__path__ = [str(HERE)]
    sys.modules[_PKG] = pkg
    mod = importlib.import_module(f"{_PKG}._kernels")
    for obj in vars(mod).values():
        if isinstance(obj, Dispatcher):
            obj._cache = NullCache()
    return mod


def plan_type(kern):
    """numba type of a `ScanPlan` as `stage.plan` builds it (contiguous arrays; grid planes
    read-only). `_aot` checks each plan against this before a call."""
    from numba import types

    f8, i8 = types.float64, types.int64
    vec = types.Array(f8, 1, "C")
    plane = types.Array(types.float32, 2, "C", readonly=True)
    fields = {
        "method": i8, "num_sources": i8, "rule": i8, "floor": f8, "grid": vec,
        "re": plane, "im": plane, "circular": types.boolean,
        "pos": types.Array(f8, 2, "C"), "kc": f8, "ks": f8, "k": f8, "beam_deg": f8,
        "fit_thr": vec, "max_sigma_deg": f8, "cal": types.Array(types.complex128, 1, "C"),
        "window": i8,
    }  # fmt: skip
    assert tuple(fields) == kern.ScanPlan._fields, "ScanPlan changed: update plan_type"
    return types.NamedTuple(list(fields.values()), kern.ScanPlan)


def compiler(out_dir: Path = HERE, cpu: str = "host"):
    """The numba.pycc CC exporting, with P the ScanPlan type:
    frames_<dt>(x (T, M, 2) C-contiguous read-only, frame_len, offset, scale, P) for each of
    DTYPES (contiguous, as a recording's memory map is: with strides known at compile time the
    de-interleaving loop runs ~1.7× faster than for any strides),
    frames_c64(x complex64 (M, T) any strides, ...) (`estimate_frames_core`),
    core(R, N, P, min_k) (`estimate_core`), windows(S, frame_len, P) (`window_counts`),
    stamp() and cpu() (the build's source and CPU hashes)."""
    from numba import types
    from numba.core.errors import NumbaPendingDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        from numba.pycc import CC

    kern = _load_kernels()
    P = plan_type(kern)
    f8, i8 = types.float64, types.int64
    out = types.Tuple([types.Array(i8, 1, "C"), *[types.Array(f8, 2, "C")] * 3, i8])
    cc = CC(NAME, source_module=kern)
    cc.output_dir = str(out_dir)
    cc.target_cpu = cpu
    frames = kern.estimate_frames_core.py_func
    for name, dt in DTYPES.items():
        x = types.Array(getattr(types, dt), 3, "C", readonly=True)
        cc.export(f"frames_{name}", out(x, i8, f8, f8, P))(frames)
    x = types.Array(types.complex64, 2, "A", readonly=True)
    cc.export("frames_c64", out(x, i8, f8, f8, P))(frames)
    c16 = types.complex128
    core_out = types.Tuple([types.Array(f8, 1, "C"), i8, *[types.Array(f8, 1, "C")] * 3])
    cc.export("core", core_out(types.Array(c16, 2, "A", readonly=True), i8, P, i8))(
        kern.estimate_core.py_func
    )
    win_out = types.Tuple([types.Array(i8, 1, "C"), types.Array(f8, 2, "C")])
    cc.export("windows", win_out(types.Array(c16, 3, "C", readonly=True), i8, P))(
        kern.window_counts.py_func
    )
    ns: dict = {}
    exec(f"def stamp():\n    return {source_stamp()}\n", ns)
    exec(f"def cpu():\n    return {cpu_stamp() if cpu == 'host' else 0}\n", ns)
    cc.export("stamp", "i8()")(ns["stamp"])
    cc.export("cpu", "i8()")(ns["cpu"])
    return cc


def build(out_dir: Path = HERE, output_file: str | None = None, cpu: str = "host") -> None:
    """Compile the module into out_dir (as `output_file` when given). With cpu "host" the code
    is generated for this CPU model and its exact feature flags, as numba's JIT does, so that
    both compile the same machine code (AOT otherwise takes the model's default features)."""
    from numba.core import codegen

    cc = compiler(out_dir, cpu)
    if output_file:
        cc.output_file = output_file
    aot = codegen.AOTCPUCodegen
    old = aot.__dict__.get("_customize_tm_features")
    if cpu == "host" and old is not None:
        aot._customize_tm_features = lambda self: self._get_host_cpu_features()
    try:
        cc.compile()
    finally:
        if old is not None:
            aot._customize_tm_features = old


if __name__ == "__main__":
    import time

    sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # doa/array.py ≠ array

    t0 = time.perf_counter()
    build()
    print(f"built {NAME} in {HERE} ({time.perf_counter() - t0:.0f} s)")
