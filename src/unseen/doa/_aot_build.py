"""Build time only: compile the DOA kernels that `unseen doa` runs (`_kernels`: the frame path,
the source count and the uncertainty; `_ml_kernels`: the ML estimator) ahead of time
(numba.pycc) into the extension module `unseen.doa._kernels_aot`, so that `unseen doa` runs them
without numba's JIT runtime (no CPU-target initialisation, no cache loading, no first-use
compile; see bench/RESULTS.md).

setup.py calls `build` at install (`pip install -e .` builds it in place); `python
src/unseen/doa/_aot_build.py` rebuilds it in place. The
module is a pure function of SOURCES: it embeds their SHA-256 (`stamp`) and a hash of this CPU's
feature flags (`cpu`), and `_aot` uses it only when both still match (else the JIT kernels run).
Compiled for the build machine's CPU like the JIT (`build`). numba.pycc is pending deprecation
since numba 0.57; when it goes, the build says so and the JIT runs.
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
SOURCES = ("_kernels.py", "_ml_kernels.py", "_plan.py")
"""The files the module is compiled from (its `stamp`)."""
DTYPES = {"cf32": "float32", "ci16": "int16", "ci8": "int8", "cu8": "uint8"}
"""IQ datatypes whose interleaved (T, M, 2) components `estimate_frames_core` reads directly."""


def source_stamp(folder: Path = HERE) -> int:
    """First 60 bits of the SHA-256 of the SOURCES in `folder` (an int64 the module returns)."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return int(h.hexdigest()[:15], 16)


def cpu_stamp() -> int:
    """First 60 bits of the SHA-256 of this CPU's feature flags (/proc/cpuinfo), 0 if unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return 0
    flags = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    return int(hashlib.sha256(flags.encode()).hexdigest()[:15], 16) if flags else 0


def _load_kernels():
    """(`_kernels`, `_ml_kernels`) (with their sibling `_plan.py`) as a standalone package that
    is not `unseen`, so that the build needs neither the package's other dependencies nor an
    installed unseen. Their functions do not use numba's on-disk cache (those files are the
    runtime's)."""
    import types as pytypes

    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    pkg = pytypes.ModuleType(_PKG)
    pkg.__path__ = [str(HERE)]
    sys.modules[_PKG] = pkg
    mods = tuple(importlib.import_module(f"{_PKG}.{m}") for m in ("_kernels", "_ml_kernels"))
    for mod in mods:
        for obj in vars(mod).values():
            if isinstance(obj, Dispatcher):
                obj._cache = NullCache()
    return mods


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


def _entry(disp):
    """What to export for the JIT function `disp`: its Python source when it takes numba's
    default options (as pycc compiles an exported function: no fastmath, error_model
    "python"), else a wrapper that calls it, so that it is compiled with its own options
    (e.g. error_model "numpy": x/0 is inf, not an exception) as the JIT compiles it."""
    fn = disp.py_func
    if all(k in ("nopython", "cache") or v is None for k, v in disp.targetoptions.items()):
        return fn
    args = ", ".join(fn.__code__.co_varnames[: fn.__code__.co_argcount])
    ns = {"disp": disp}
    exec(f"def {fn.__name__}({args}):\n    return disp({args})\n", ns)
    return ns[fn.__name__]


def compiler(out_dir: Path = HERE, cpu: str = "host"):
    """The numba.pycc CC exporting, with P the ScanPlan type and "ro" read-only:
    frames_<dt>(x (T, M, 2) C-contiguous ro, frame_len, offset, scale, P) for each of
    DTYPES (contiguous, as a recording's memory map is: with strides known at compile time the
    de-interleaving loop runs ~1.7× faster than for any strides),
    frames_c64(x complex64 (M, T) any strides, ...) (`estimate_frames_core`),
    core(R, N, P, min_k) (`estimate_core`), windows(S, frame_len, P) (`window_counts`);
    for the other methods (ml, root-music, esprit) and covariances (arrays ro, any strides
    unless "C"): cov_c64(x complex64 (M, T)) (`covariance_c64`),
    count(λ, N, rule, top, floor) (`count_sources`), uncertainty(pos, θ, kc, R, noise, N),
    quad(Wᴴ, pos, θ, kc, ks) (`quad_derivs`), sigma(var, powers, h, null, noise, r, N, K, M,
    beam_deg, fit_thr, max_sigma_deg) (`sigma_confidence`), ap(Q C, Ar C float32, Ai C
    float32, K, circular, max_sweeps, beam) (`alternating_projection`: C as `ml` passes them,
    since its scans are fastmath and a layout would change their vectorisation), refine(Q C,
    pos, θ0, kc, ks, half_beam, iterations) (Q C: its products would copy any other layout);
    stamp() and cpu() (the build's source and CPU hashes)."""
    from numba import types
    from numba.core.errors import NumbaPendingDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        from numba.pycc import CC

    kern, mlk = _load_kernels()
    P = plan_type(kern)
    f8, i8, c16 = types.float64, types.int64, types.complex128

    def arr(dt, nd, layout="A"):
        return types.Array(dt, nd, layout, readonly=True)

    vec = types.Array(f8, 1, "C")
    out = types.Tuple([types.Array(i8, 1, "C"), *[types.Array(f8, 2, "C")] * 3, i8])
    cc = CC(NAME, source_module=kern)
    cc.output_dir = str(out_dir)
    cc.target_cpu = cpu
    frames = _entry(kern.estimate_frames_core)
    for name, dt in DTYPES.items():
        x = arr(getattr(types, dt), 3, "C")
        cc.export(f"frames_{name}", out(x, i8, f8, f8, P))(frames)
    x = arr(types.complex64, 2)
    cc.export("frames_c64", out(x, i8, f8, f8, P))(frames)
    core_out = types.Tuple([vec, i8, vec, vec, vec])
    cc.export("core", core_out(arr(c16, 2), i8, P, i8))(_entry(kern.estimate_core))
    win_out = types.Tuple([types.Array(i8, 1, "C"), types.Array(f8, 2, "C")])
    cc.export("windows", win_out(arr(c16, 3, "C"), i8, P))(_entry(kern.window_counts))
    exports = {
        "cov_c64": (kern.covariance_c64, types.Array(c16, 2, "C")(arr(types.complex64, 2))),
        "count": (kern.count_sources, i8(arr(f8, 1), i8, i8, i8, f8)),
        "uncertainty": (
            kern.uncertainty,
            types.Tuple([vec, vec, vec, types.boolean])(
                arr(f8, 2), arr(f8, 1), f8, arr(c16, 2), f8, i8
            ),
        ),
        "quad": (
            kern.quad_derivs,
            types.Tuple([vec] * 3)(arr(c16, 2), arr(f8, 2), arr(f8, 1), f8, f8),
        ),
        "sigma": (
            kern.sigma_confidence,
            types.Tuple([vec, vec])(*[arr(f8, 1)] * 4, f8, arr(f8, 1), i8, i8, i8, f8, f8, f8),
        ),
        "ap": (
            mlk.alternating_projection,
            types.Tuple([types.Array(i8, 1, "C"), vec])(
                arr(c16, 2, "C"), arr(types.float32, 2, "C"), arr(types.float32, 2, "C"),
                i8, types.boolean, i8, i8,
            ),
        ),
        "refine": (
            mlk.refine,
            types.Tuple([vec, f8])(arr(c16, 2, "C"), arr(f8, 2), arr(f8, 1), f8, f8, f8, i8),
        ),
    }  # fmt: skip
    for name, (disp, sig) in exports.items():
        cc.export(name, sig)(_entry(disp))
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
