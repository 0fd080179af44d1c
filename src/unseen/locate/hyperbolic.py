"""TDOA start: Chan's closed form (Chan & Ho, IEEE Trans. Signal Processing 42(8), 1994).

Pairs (a, b) with range differences d_ab = c·tdoa = r_a − r_b are first reduced to ranges
relative to one reference station, r_i0 = r_i − r_0, by weighted least squares on the graph of
pairs (exact when the pairs already share a reference). With s_0 at the origin,
  −s_iᵀ x − r_i0 r_0 = ½ (r_i0² − |s_i|²)
is linear in (x, r_0): stage 1 solves it by WLS (Ψ = B Q B, B = diag(r_i)), stage 2 uses
r_0² = |x|² to refine. With exactly `dims` independent differences the stage-1 system gives
x = a + b r_0 and r_0 follows from a quadratic (two roots: both are returned).
"""

from __future__ import annotations

import numpy as np

from unseen.errors import GeometryError


def relative_ranges(
    pos_a: np.ndarray, pos_b: np.ndarray, d: np.ndarray, sig: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Stations (M, 3), their ranges relative to the reference (M,), its covariance, ref index.

    Raises GeometryError when the pairs do not connect all stations.
    """
    allpos = np.concatenate([pos_a, pos_b])
    key = np.round(allpos, 3)
    nodes, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    nt = len(d)
    ia, ib = inv[:nt], inv[nt:]
    M = len(nodes)
    ref = int(np.bincount(np.concatenate([ia, ib]), minlength=M).argmax())
    H = np.zeros((nt, M))
    H[np.arange(nt), ia] += 1.0
    H[np.arange(nt), ib] -= 1.0
    keep = np.arange(M) != ref
    Hk = H[:, keep] / sig[:, None]
    if np.linalg.matrix_rank(Hk) < M - 1:
        raise GeometryError("TDOA pairs do not connect all their stations")
    A = Hk.T @ Hk
    Q = np.linalg.inv(A)
    o = np.zeros(M)
    o[keep] = Q @ (Hk.T @ (d / sig))
    pos = np.zeros((M, 3))
    np.add.at(pos, inv, allpos)
    pos /= np.bincount(inv, minlength=M)[:, None]
    return pos, o, Q, ref


def chan(
    pos_a: np.ndarray, pos_b: np.ndarray, d: np.ndarray, sig: np.ndarray, dims: int
) -> list[np.ndarray]:
    """Candidate positions (each (dims,)) in the Cartesian frame of the station positions."""
    pos, o, Q, ref = relative_ranges(pos_a, pos_b, d, sig)
    M = len(pos)
    if dims > M - 1:
        raise GeometryError(
            f"{M} TDOA stations give {M - 1} independent differences; a {dims}-D fix needs "
            f"at least {dims}"
        )
    s0 = pos[ref, :dims]
    keep = np.arange(M) != ref
    S = pos[keep, :dims] - s0
    r = o[keep]
    h = 0.5 * (r * r - np.sum(S * S, axis=1))
    if dims == M - 1:
        try:
            a = np.linalg.solve(-S, h)
            bvec = np.linalg.solve(-S, r)
        except np.linalg.LinAlgError as exc:
            raise GeometryError("TDOA stations are collinear: no unique fix") from exc
        qa, qb, qc = bvec @ bvec - 1.0, 2.0 * a @ bvec, a @ a
        if abs(qa) < 1e-12:
            roots = np.array([-qc / qb]) if qb != 0 else np.array([])
        else:
            disc = qb * qb - 4 * qa * qc
            disc = max(disc, 0.0)
            roots = np.array([(-qb + np.sqrt(disc)) / (2 * qa), (-qb - np.sqrt(disc)) / (2 * qa)])
        roots = roots[np.isfinite(roots) & (roots >= 0)]
        if roots.size == 0:
            roots = np.array([max(np.linalg.norm(a), 0.0)])
        return [s0 + a + bvec * r0 for r0 in roots]
    Ga = np.concatenate([-S, -r[:, None]], axis=1)
    if np.linalg.matrix_rank(Ga) < dims + 1:
        raise GeometryError("TDOA stations are collinear or coplanar: no unique fix")
    z = np.linalg.lstsq(Ga, h, rcond=None)[0]
    for _ in range(2):
        B = np.diag(np.maximum(np.linalg.norm(z[:dims] - S, axis=1), 1.0))
        W = np.linalg.inv(B @ Q @ B)
        cov1 = np.linalg.pinv(Ga.T @ W @ Ga)
        z = cov1 @ (Ga.T @ W @ h)
    out = [s0 + z[:dims]]
    Gp = np.concatenate([np.eye(dims), np.ones((1, dims))])
    hp = z**2
    Bp = np.diag(z)
    Psi = 4.0 * Bp @ cov1 @ Bp
    try:
        Wp = np.linalg.inv(Psi)
        z2 = np.linalg.solve(Gp.T @ Wp @ Gp, Gp.T @ Wp @ hp)
        if np.all(np.isfinite(z2)):
            out.insert(0, s0 + np.sign(z[:dims]) * np.sqrt(np.abs(z2)))
    except np.linalg.LinAlgError:
        pass
    return out


def tdoa_cost(x: np.ndarray, pos_a: np.ndarray, pos_b: np.ndarray, d: np.ndarray, sig) -> float:
    """χ² of candidate x against the measured range differences (Cartesian frame)."""
    dims = len(x)
    ra = np.linalg.norm(pos_a[:, :dims] - x, axis=1)
    rb = np.linalg.norm(pos_b[:, :dims] - x, axis=1)
    return float(np.sum(((d - (ra - rb)) / sig) ** 2))
