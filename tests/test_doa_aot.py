"""The ahead-of-time DOA kernels (`_kernels_aot`, built at install) against numba's JIT kernels
on the same frames, and the start-up they exist for (no numba import on the frame path nor on
the ML path)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from unseen.doa import Array, DoaOptions, _aot, _kernels, estimate, ml, spectra, stage
from unseen.doa.array import C_M_S
from unseen.sim import gaussian_snapshots
from unseen.types import IqBlock

pytestmark = pytest.mark.skipif(not _aot.ready(), reason=f"AOT DOA kernels: {_aot.why_not()}")

F = 94.2e6
M, FRAME, FRAMES = 5, 2048, 10
# (datatype, component dtype, offset, scale): value = scale·(component − offset)
DATATYPES = [
    ("cf32", np.float32, 0.0, 1.0),
    ("ci16", np.int16, 0.0, 1 / 2000),
    ("ci8", np.int8, 0.0, 1 / 20),
    ("cu8", np.uint8, 128.0, 1 / 20),
]


def _frames() -> tuple[Array, np.ndarray]:
    """Ten frames of two sources (0 and −6 dB) on a UCA-5, complex64 (M, T)."""
    arr = Array.uca(M, 1.0)
    x = gaussian_snapshots(arr, np.array([30.0, 200.0]), np.array([0.0, -6.0]), FRAME * FRAMES, F)
    return arr, np.ascontiguousarray(x.reshape(M, -1), dtype=np.complex64)


def _close(aot: tuple, jit: tuple) -> None:
    """(K, azimuth, sigma, confidence, bad frame) of the two builds agree: the same counts, NaN
    padding and bad frame, bearings within 1e-4 of their own sigma, sigma and confidence to
    1e-6 relative. Not bit for bit: the float32 covariance sums are fastmath (reassociable) and
    the two compilers vectorise them differently, each within float32 rounding (~1e-6 relative
    over a 512-snapshot chunk) of the exact sum; seen: ≤ 7e-8° against sigmas of ~0.1°."""
    K, az, sg, cf, bad = aot
    np.testing.assert_array_equal(K, jit[0])
    assert bad == jit[4]
    np.testing.assert_array_equal(np.isnan(az), np.isnan(jit[1]))
    ok = ~np.isnan(az)
    assert np.all(np.abs(az[ok] - jit[1][ok]) <= 1e-4 * sg[ok])
    np.testing.assert_allclose(sg[ok], jit[2][ok], rtol=1e-6)
    np.testing.assert_allclose(cf[ok], jit[3][ok], rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "dtype", "offset", "scale"), DATATYPES)
@pytest.mark.parametrize("num_sources", [None, 1])
def test_aot_frames_equal_jit_frames(name, dtype, offset, scale, num_sources):
    arr, x = _frames()
    opts = DoaOptions(num_sources=num_sources)
    plan = stage.plan(arr, F, opts)
    comp = np.stack([x.real.T, x.imag.T], axis=-1) / scale + offset  # (T, M, 2) interleaved
    if dtype is not np.float32:
        info = np.iinfo(dtype)
        comp = np.clip(np.round(comp), info.min, info.max)
    raw = np.ascontiguousarray(comp.astype(dtype))  # the exports' contract (`_aot` checks)
    raw.setflags(write=False)
    mod = _aot._module()[0]
    aot = getattr(mod, f"frames_{name}")(raw, FRAME, offset, scale, plan)
    if name in ("cf32", "cu8"):  # against the JIT: float components, and integers with offset
        ref = _kernels.estimate_frames_core(raw, FRAME, offset, scale, plan)
    else:  # against the AOT cf32 export (checked above) on the same values in float32; each
        # JIT specialisation costs 20-60 s of compile on a cold cache
        val = np.ascontiguousarray(((raw.astype(np.float64) - offset) * scale).astype(np.float32))
        ref = mod.frames_cf32(val, FRAME, 0.0, 1.0, plan)
    _close(aot, ref)
    assert aot[4] == -1 and (aot[0] >= 1).all()
    assert np.nanmin(np.abs(aot[1][:, 0] - 30.0)) < 1.0
    # the stage's dispatch takes the AOT export for this datatype
    for u, v in zip(_aot.estimate_frames_core(raw, FRAME, offset, scale, plan), aot, strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.slow
def test_aot_complex_frames_core_and_windows_equal_jit():
    arr, x = _frames()
    plan = stage.plan(arr, F, DoaOptions())
    mod = _aot._module()[0]
    _close(
        mod.frames_c64(x, FRAME, 0.0, 1.0, plan),
        _kernels.estimate_frames_core(x, FRAME, 0.0, 1.0, plan),
    )
    S = np.stack(
        [
            x[:, i * FRAME : (i + 1) * FRAME] @ x[:, i * FRAME : (i + 1) * FRAME].conj().T / FRAME
            for i in range(FRAMES)
        ]
    ).astype(complex)
    Ks, al = mod.windows(S, FRAME, plan)
    want = _kernels.window_counts(S, FRAME, plan)
    np.testing.assert_array_equal(Ks, want[0])
    np.testing.assert_allclose(al, want[1], rtol=1e-9)
    lam, K, az, sg, cf = mod.core(S[0], FRAME, plan, 0)
    want = _kernels.estimate_core(S[0], FRAME, plan, 0)
    np.testing.assert_allclose(lam, want[0], rtol=0, atol=1e-12 * lam.max())
    _close(
        (np.array([K]), az[None], sg[None], cf[None], -1),
        (np.array([want[1]]), want[2][None], want[3][None], want[4][None], -1),
    )


def test_aot_refuses_a_plan_it_was_not_built_for():
    """A plan whose arrays are not the exported dtypes goes to the JIT, never to the AOT
    export (which does not check what it is given)."""
    arr, _ = _frames()
    plan = stage.plan(arr, F, DoaOptions())
    assert _aot._plan_ok(plan)
    assert not _aot._plan_ok(plan._replace(cal=plan.cal.astype(np.complex64)))
    assert not _aot._plan_ok(plan._replace(re=np.asfortranarray(np.tile(plan.re, (2, 1)))))


def test_aot_takes_only_contiguous_interleaved_input(monkeypatch):
    """The frames_<dt> exports are compiled for C-contiguous (T, M, 2) input and do not check
    their argument: a strided view (every other snapshot) goes to the JIT kernels."""
    arr, x = _frames()
    plan = stage.plan(arr, F, DoaOptions(num_sources=1))
    raw = np.ascontiguousarray(np.stack([x.real.T, x.imag.T], axis=-1), dtype=np.float32)
    calls = []

    class Jit:
        @staticmethod
        def estimate_frames_core(*args):
            calls.append(args[0])
            return "jit"

    monkeypatch.setattr(_aot, "_jit", lambda: Jit)
    assert _aot.estimate_frames_core(raw[::2], FRAME, 0.0, 1.0, plan) == "jit"
    assert calls and calls[0].base is not None
    K = _aot.estimate_frames_core(raw, FRAME, 0.0, 1.0, plan)[0]
    assert len(calls) == 1 and (K == 1).all()


def test_frame_path_runs_without_importing_numba():
    code = (
        "import sys, numpy as np\n"
        "from unseen.doa import Array, DoaOptions, estimate_raw\n"
        "x = np.zeros((4096, 5, 2), np.int8); x[:, :, 0] = 1\n"
        "K, az, sg, cf = estimate_raw(x, Array.uca(5, 1.0), 94.2e6, 1024, DoaOptions())\n"
        "assert K.shape == (4,), K\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _ml_frame() -> tuple[Array, IqBlock]:
    """One frame of two sources (0 and −6 dB at 30° and 200°) on a UCA-5."""
    arr = Array.uca(M, 1.0)
    x = gaussian_snapshots(arr, np.array([30.0, 200.0]), np.array([0.0, -6.0]), FRAME, F, seed=3)
    return arr, IqBlock(np.ascontiguousarray(x[0], dtype=np.complex64), 1e6, F, 0.0)


@pytest.mark.slow
def test_ml_runs_through_aot_and_equals_the_jit(monkeypatch):
    """method="ml" calls only AOT exports (the JIT modules raise if touched) and gives the JIT
    kernels' bearings, sigmas and confidences (`_close`). Not always bit for bit: the
    covariance sums and AP's grid scans are fastmath, which the AOT module's own optimisation
    may vectorise otherwise, so AP can return the same grid set in another order when two starts
    tie to rounding, and Gauss–Newton's rounding then differs (seen: ≤ 1.3e-6·σ over 50
    frames; equal on this one)."""
    arr, blk = _ml_frame()

    def no_jit():
        raise AssertionError("a JIT kernel was called")

    with monkeypatch.context() as mp:
        mp.setattr(_aot, "_jit", no_jit)
        mp.setattr(_aot, "_jit_ml", no_jit)
        aot = estimate(blk, arr, method="ml")
    monkeypatch.setattr(_aot, "_module", lambda: (None, "JIT for the test"))
    jit = estimate(blk, arr, method="ml")
    assert aot.num_sources == 2
    assert np.allclose(np.sort(aot.azimuths_deg), [30.0, 200.0], atol=3 * max(aot.sigma_deg))
    _close(
        (np.array([2]), np.array([aot.azimuths_deg]), np.array([aot.sigma_deg]),
         np.array([aot.confidence]), -1),
        (np.array([2]), np.array([jit.azimuths_deg]), np.array([jit.sigma_deg]),
         np.array([jit.confidence]), -1),
    )  # fmt: skip


def test_ml_aot_takes_only_its_exported_types(monkeypatch):
    """Each ML-path export runs only for its exported dtypes, dimensions, C layout where it is
    compiled for it, and integer/boolean arguments; anything else goes to the JIT (here a stand-in
    that records the call). An export for any strides gives the same result on a strided view."""
    arr, blk = _ml_frame()
    R = spectra.covariance(blk.samples)
    lam, E = np.linalg.eigh(R)
    Q = np.ascontiguousarray(ml.fit_matrix(R, 2))
    _, Ar, Ai, circ = spectra.steering_planes(arr, F, 1.0)
    pos = np.ascontiguousarray(arr.positions_enu_m)
    th = np.radians([30.0, 200.0])
    kc = 2 * np.pi * F / C_M_S
    calls = []

    class Jit:
        def __getattr__(self, name):
            return lambda *a: calls.append(name) or "jit"

    monkeypatch.setattr(_aot, "_jit", Jit)
    monkeypatch.setattr(_aot, "_jit_ml", Jit)
    ap = _aot.alternating_projection(Q, Ar, Ai, 2, circ, 30, 3)
    th0 = th + 0.01
    ref = _aot.refine(Q, pos, th0, kc, 0.0, 0.2, 20)
    wide = np.zeros((M, 6))
    wide[:, ::2] = pos
    np.testing.assert_array_equal(_aot.refine(Q, wide[:, ::2], th0, kc, 0.0, 0.2, 20)[0], ref[0])
    count = _aot.count_sources(lam, FRAME, 2, M - 1, 1e-6)
    var, powers, h, _ = _aot.uncertainty(pos, th, kc, R, float(lam[0]), FRAME)
    null = _aot.quad_derivs(np.ascontiguousarray(E[:, :3].conj().T), pos, th, kc, 0.0)[0]
    sc = (var, powers, h, null, float(lam[0]), np.zeros(2), FRAME, 2, M, 60.0, 3.0, 100.0)
    _aot.sigma_confidence(*sc)
    assert _aot.covariance_c64(blk.samples).shape == (M, M)
    assert not calls and count == 2
    assert np.allclose(np.sort(np.degrees(ref[0]) % 360), [30.0, 200.0], atol=1.5)
    assert ap[0].dtype == np.int64 and ap[0].size == 2
    bad = [
        _aot.alternating_projection(np.asfortranarray(Q), Ar, Ai, 2, circ, 30, 3),
        _aot.alternating_projection(Q, Ar.astype(float), Ai, 2, circ, 30, 3),
        _aot.alternating_projection(Q, Ar, Ai, 2.0, circ, 30, 3),
        _aot.alternating_projection(Q, Ar, Ai, 2, 1, 30, 3),
        _aot.refine(Q.astype(np.complex64), pos, th0, kc, 0.0, 0.2, 20),
        _aot.refine(Q.T, pos, th0, kc, 0.0, 0.2, 20),
        _aot.refine(Q, pos, th0[None], kc, 0.0, 0.2, 20),
        _aot.count_sources(lam.astype(np.float32), FRAME, 2, M - 1, 1e-6),
        _aot.count_sources(lam, float(FRAME), 2, M - 1, 1e-6),
        _aot.uncertainty(pos, th, kc, R.astype(np.complex64), float(lam[0]), FRAME),
        _aot.quad_derivs(E[:, :3].conj().T, pos.astype(np.float32), th, kc, 0.0),
        _aot.sigma_confidence(*sc[:5], [0.0, 0.0], *sc[6:]),
        _aot.covariance_c64(blk.samples.astype(np.complex128)),
    ]
    assert bad == ["jit"] * len(bad)
    assert calls == ["alternating_projection"] * 4 + ["refine"] * 3 + ["count_sources"] * 2 + [
        "uncertainty", "quad_derivs", "sigma_confidence", "covariance_c64"
    ]  # fmt: skip


def test_ml_path_and_count_sources_run_without_importing_numba_unless_unseen_aot_is_0():
    code = (
        "import sys, numpy as np\n"
        "from unseen.doa import Array, DoaOptions, _aot, estimate_frames\n"
        "from unseen.sim import gaussian_snapshots\n"
        "from unseen.types import IqBlock\n"
        "print(_aot.ready())\n"
        "if _aot.ready():\n"
        "    arr = Array.uca(5, 1.0)\n"
        "    az, snr = np.array([30.0, 200.0]), np.array([0.0, -6.0])\n"
        "    x = gaussian_snapshots(arr, az, snr, 4096, 94.2e6, seed=3)\n"
        "    blk = IqBlock(x[0].astype(np.complex64), 1e6, 94.2e6, 0.0)\n"
        "    est = estimate_frames(blk, arr, 2048, options=DoaOptions(method='ml'))\n"
        "    assert [e.num_sources for e in est] == [2, 2], est\n"
        "    from unseen.doa.order import count_sources\n"
        "    assert count_sources(np.array([1.0, 1.0, 1.0, 60.0, 90.0]), 4096) == 2\n"
        "    print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["True", "[]"]
    env = {**os.environ, "UNSEEN_AOT": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
