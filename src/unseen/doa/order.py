"""Source counting from covariance eigenvalues by information criteria (Wax & Kailath, 1985).

For k sources the M−k smallest eigenvalues should be equal (noise); with g and a their geometric
and arithmetic means and N snapshots:

    AIC(k) = −2N(M−k)·ln(g/a) + 2k(2M−k)
    MDL(k) = −N(M−k)·ln(g/a) + ½·k(2M−k)·ln N

and the estimate is the k minimising the criterion. MDL is consistent; AIC tends to overcount.
`tw` (the stage's default) is the Tracy–Widom edge test of `_kernels.count_sources`.
"""

from __future__ import annotations

import numpy as np

from unseen.errors import InputError

CRITERIA = ("mdl", "aic")
KINDS = ("tw", "mdl", "aic")


def criterion(evals: np.ndarray, num_snapshots: int, kind: str = "mdl") -> np.ndarray:
    """Criterion values for k = 0..M−1 sources from eigenvalues (any order)."""
    if kind not in CRITERIA:
        raise InputError(f"source-count criterion must be one of {CRITERIA}, got {kind!r}")
    lam = np.sort(np.maximum(np.asarray(evals, dtype=float), 1e-300))[::-1]
    M, N = lam.size, float(num_snapshots)
    k = np.arange(M)
    tail = M - k
    mean_log = np.cumsum(np.log(lam)[::-1])[::-1] / tail
    log_mean = np.log(np.cumsum(lam[::-1])[::-1] / tail)
    llr = mean_log - log_mean
    free = k * (2 * M - k)
    if kind == "mdl":
        return -N * tail * llr + 0.5 * free * np.log(N)
    return -2 * N * tail * llr + 2 * free


def count_sources(
    evals: np.ndarray,
    num_snapshots: int,
    kind: str = "mdl",
    max_sources: int | None = None,
    floor: float = 0.0,
) -> int:
    """Number of sources (0..max_sources, default M−1) by `kind` (tw, mdl or aic) from the
    eigenvalues, each raised by floor·λ_max first (the compiled `_kernels.count_sources`, ahead of
    time where built: `_aot`)."""
    from unseen.doa._aot import count_sources as count
    from unseen.doa._plan import AIC, MDL, TW

    if kind not in KINDS:
        raise InputError(f"source-count criterion must be one of {KINDS}, got {kind!r}")
    lam = np.sort(np.asarray(evals, dtype=float))
    top = lam.size - 1 if max_sources is None else min(max_sources, lam.size - 1)
    return int(count(lam, int(num_snapshots), {"tw": TW, "mdl": MDL, "aic": AIC}[kind], top, floor))
