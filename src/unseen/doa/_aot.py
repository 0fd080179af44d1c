"""The DOA kernels as the stage calls them: the frame path, the source count, the uncertainty
and the ML estimator from the ahead-of-time module `_kernels_aot` (built at install by
`_aot_build`) when it exists, was built from these very `_aot_build.SOURCES` and for this CPU;
otherwise, and for every other kernel, numba's JIT `_kernels` / `_ml_kernels`, imported on first
use. The AOT path needs neither numba's import nor its CPU-target start-up (~1 s of CPU per
process), which is what `unseen doa`'s start-up was made of, nor a first-use compile (~50 s of
CPU for `--method ml` on a cold numba cache).

    from unseen.doa import _aot as kernels
    kernels.estimate_frames_core(x, frame_len, offset, scale, plan)   # AOT when `ready()`

The AOT exports are typed exactly (they do not check what they are given), so a call goes there
only when every array's dtype, dimensions and (where the export is C-contiguous) layout, every
plan field's, and every integer, boolean and float argument's kind are the exported ones.
UNSEEN_AOT=0 in the environment forces the JIT kernels (to compare, or to rule the AOT module out).
"""

from __future__ import annotations

import importlib
import os
from functools import cache

import numpy as np

from unseen.doa._aot_build import DTYPES, cpu_stamp, source_stamp
from unseen.doa._plan import ScanPlan

_PLAN = {
    "grid": np.float64, "re": np.float32, "im": np.float32, "pos": np.float64,
    "fit_thr": np.float64, "cal": np.complex128,
}  # fmt: skip
_FRAMES = {np.dtype(v): f"frames_{k}" for k, v in DTYPES.items()}


@cache
def _module():
    """(the AOT module or None, why not)."""
    if os.environ.get("UNSEEN_AOT") == "0":
        return None, "disabled by UNSEEN_AOT=0"
    try:
        mod = importlib.import_module("unseen.doa._kernels_aot")
    except ImportError as e:
        return None, f"not built ({e}); `pip install -e .` with a C compiler builds it"
    if mod.stamp() != source_stamp():
        return None, "built from other kernel sources; reinstall (`pip install -e .`) to rebuild"
    if mod.cpu() not in (0, cpu_stamp()):
        return None, "built for another CPU; reinstall (`pip install -e .`) to rebuild"
    _preload_lapack()
    return mod, ""


def _preload_lapack() -> None:
    """Load scipy's Cython BLAS/LAPACK modules, whose function pointers the AOT module's
    np.linalg calls take (as numba's do), without running scipy.linalg's package import (~0.3 s
    of CPU; these two extensions load in ~10 ms). Left to the normal import on any failure."""
    import importlib.util
    import sys

    try:
        import scipy

        base = os.path.join(os.path.dirname(scipy.__file__), "linalg")
        for mod in ("cython_blas", "cython_lapack"):
            name = f"scipy.linalg.{mod}"
            if name in sys.modules or "scipy.linalg" in sys.modules:
                continue
            file = next(f for f in os.listdir(base) if f.startswith(f"{mod}.") and ".so" in f)
            spec = importlib.util.spec_from_file_location(name, os.path.join(base, file))
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
    except Exception:  # the normal import then happens on the first call
        pass


def ready() -> bool:
    """True when the AOT kernels are usable here."""
    return _module()[0] is not None


def why_not() -> str:
    """Why the AOT kernels are not used ('' when they are)."""
    return _module()[1]


def _plan_ok(p: ScanPlan) -> bool:
    return (
        all(
            (a := getattr(p, name)).dtype == dt and a.flags.c_contiguous
            for name, dt in _PLAN.items()
        )
        and p.pos.ndim == 2
        and p.re.ndim == 2
    )


def estimate_frames_core(
    x: np.ndarray, frame_len: int, offset: float, scale: float, plan: ScanPlan
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """`_kernels.estimate_frames_core`, from the AOT module when it holds this signature."""
    mod = _module()[0]
    if mod is not None and _plan_ok(plan):
        if x.ndim == 3 and x.shape[2] == 2 and x.dtype in _FRAMES and x.flags.c_contiguous:
            return getattr(mod, _FRAMES[x.dtype])(x, frame_len, offset, scale, plan)
        if x.ndim == 2 and x.dtype == np.complex64:
            return mod.frames_c64(x, frame_len, offset, scale, plan)
    return _jit().estimate_frames_core(x, frame_len, offset, scale, plan)


def estimate_core(
    R: np.ndarray, N: int, plan: ScanPlan, min_k: int = 0
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """`_kernels.estimate_core`, from the AOT module when it holds this signature."""
    mod = _module()[0]
    if mod is not None and _plan_ok(plan) and R.dtype == np.complex128 and R.ndim == 2:
        return mod.core(R, N, plan, min_k)
    return _jit().estimate_core(R, N, plan, min_k)


def window_counts(S: np.ndarray, frame_len: int, plan: ScanPlan) -> tuple[np.ndarray, np.ndarray]:
    """`_kernels.window_counts`, from the AOT module when it holds this signature."""
    mod = _module()[0]
    if (
        mod is not None
        and _plan_ok(plan)
        and S.dtype == np.complex128
        and S.ndim == 3
        and S.flags.c_contiguous
    ):
        return mod.windows(S, frame_len, plan)
    return _jit().window_counts(S, frame_len, plan)


def _arr(a, dtype, ndim: int, contiguous: bool = False) -> bool:
    return (
        isinstance(a, np.ndarray)
        and a.dtype == dtype
        and a.ndim == ndim
        and (a.flags.c_contiguous or not contiguous)
    )


def _ints(*v) -> bool:
    return all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in v)


def _reals(*v) -> bool:
    return all(isinstance(f, (float, int, np.floating, np.integer)) for f in v)


def covariance_c64(x: np.ndarray) -> np.ndarray:
    """`_kernels.covariance_c64`, from the AOT module when it holds this signature."""
    mod = _module()[0]
    if mod is not None and _arr(x, np.complex64, 2):
        return mod.cov_c64(x)
    return _jit().covariance_c64(x)


def count_sources(lam: np.ndarray, N: int, rule: int, top: int, floor: float = 0.0) -> int:
    """`_kernels.count_sources`, from the AOT module when it holds this signature."""
    mod = _module()[0]
    if mod is not None and _arr(lam, np.float64, 1) and _ints(N, rule, top) and _reals(floor):
        return mod.count(lam, N, rule, top, float(floor))
    return _jit().count_sources(lam, N, rule, top, floor)


def uncertainty(
    pos: np.ndarray, th: np.ndarray, kc: float, R: np.ndarray, noise: float, N: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """`_kernels.uncertainty`, from the AOT module when it holds this signature."""
    mod = _module()[0]
    if (
        mod is not None
        and _arr(pos, np.float64, 2)
        and _arr(th, np.float64, 1)
        and _arr(R, np.complex128, 2)
        and _reals(kc, noise)
        and _ints(N)
    ):
        return mod.uncertainty(pos, th, float(kc), R, float(noise), N)
    return _jit().uncertainty(pos, th, kc, R, noise, N)


def quad_derivs(
    Wh: np.ndarray, pos: np.ndarray, th: np.ndarray, kc: float, ks: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_kernels.quad_derivs`, from the AOT module when it holds this signature."""
    mod = _module()[0]
    if (
        mod is not None
        and _arr(Wh, np.complex128, 2)
        and _arr(pos, np.float64, 2)
        and _arr(th, np.float64, 1)
        and _reals(kc, ks)
    ):
        return mod.quad(Wh, pos, th, float(kc), float(ks))
    return _jit().quad_derivs(Wh, pos, th, kc, ks)


def sigma_confidence(
    var: np.ndarray,
    powers: np.ndarray,
    h: np.ndarray,
    null: np.ndarray,
    noise: float,
    r: np.ndarray,
    N: int,
    K: int,
    M: int,
    beam_deg: float,
    fit_thr: float,
    max_sigma_deg: float,
) -> tuple[np.ndarray, np.ndarray]:
    """`_kernels.sigma_confidence`, from the AOT module when it holds this signature."""
    mod = _module()[0]
    if (
        mod is not None
        and all(_arr(a, np.float64, 1) for a in (var, powers, h, null, r))
        and _ints(N, K, M)
        and _reals(noise, beam_deg, fit_thr, max_sigma_deg)
    ):
        return mod.sigma(
            var, powers, h, null, float(noise), r, N, K, M,
            float(beam_deg), float(fit_thr), float(max_sigma_deg),
        )  # fmt: skip
    return _jit().sigma_confidence(
        var, powers, h, null, noise, r, N, K, M, beam_deg, fit_thr, max_sigma_deg
    )


def alternating_projection(
    Q: np.ndarray,
    Ar: np.ndarray,
    Ai: np.ndarray,
    K: int,
    circular: bool,
    max_sweeps: int,
    beam: int,
) -> tuple[np.ndarray, np.ndarray]:
    """`_ml_kernels.alternating_projection`, from the AOT module when it holds this signature
    (Q complex128, Ar and Ai float32, all C-contiguous)."""
    mod = _module()[0]
    if (
        mod is not None
        and _arr(Q, np.complex128, 2, True)
        and _arr(Ar, np.float32, 2, True)
        and _arr(Ai, np.float32, 2, True)
        and _ints(K, max_sweeps, beam)
        and isinstance(circular, (bool, np.bool_))
    ):
        return mod.ap(Q, Ar, Ai, K, bool(circular), max_sweeps, beam)
    return _jit_ml().alternating_projection(Q, Ar, Ai, K, circular, max_sweeps, beam)


def refine(
    Q: np.ndarray,
    pos: np.ndarray,
    th0: np.ndarray,
    kc: float,
    ks: float,
    half_beam: float,
    iterations: int,
) -> tuple[np.ndarray, float]:
    """`_ml_kernels.refine`, from the AOT module when it holds this signature (Q
    C-contiguous)."""
    mod = _module()[0]
    if (
        mod is not None
        and _arr(Q, np.complex128, 2, True)
        and _arr(pos, np.float64, 2)
        and _arr(th0, np.float64, 1)
        and _reals(kc, ks, half_beam)
        and _ints(iterations)
    ):
        return mod.refine(Q, pos, th0, float(kc), float(ks), float(half_beam), iterations)
    return _jit_ml().refine(Q, pos, th0, kc, ks, half_beam, iterations)


def _jit():
    return importlib.import_module("unseen.doa._kernels")


def _jit_ml():
    return importlib.import_module("unseen.doa._ml_kernels")


def __getattr__(name: str):
    """Every other kernel: numba's JIT `_kernels` (imported, with numba, on first use)."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_jit(), name)
