"""The stochastic CRB against its single-source closed form and a numerical Fisher matrix."""

import numpy as np
import pytest

from unseen.doa import Array, crb_single, crb_stochastic
from unseen.errors import GeometryError

F = 3e8  # λ = 1 m


def fim_slepian_bangs(arr, az, P, noise, N, h=1e-6):
    """Full FIM of all parameters (θ, Re/Im P, σ²) by N·tr(R⁻¹R_i R⁻¹R_j), R_i numeric."""
    K = len(az)

    def cov_of(p):
        th = p[:K]
        Pm = np.zeros((K, K), complex)
        idx = K
        for i in range(K):
            Pm[i, i] = p[idx]
            idx += 1
        for i in range(K):
            for j in range(i + 1, K):
                Pm[i, j] = p[idx] + 1j * p[idx + 1]
                Pm[j, i] = np.conj(Pm[i, j])
                idx += 2
        A = arr.steering(np.degrees(th), F)
        return A @ Pm @ A.conj().T + p[idx] * np.eye(arr.num_elements)

    p0 = [*np.radians(az), *np.real(np.diag(P))]
    for i in range(K):
        for j in range(i + 1, K):
            p0 += [P[i, j].real, P[i, j].imag]
    p0 = np.array([*p0, noise], dtype=float)
    Ri = np.linalg.inv(cov_of(p0))
    d = []
    for i in range(p0.size):
        e = np.zeros_like(p0)
        e[i] = h
        d.append((cov_of(p0 + e) - cov_of(p0 - e)) / (2 * h))
    n = p0.size
    fim = np.array(
        [[N * np.real(np.trace(Ri @ d[i] @ Ri @ d[j])) for j in range(n)] for i in range(n)]
    )
    return fim


@pytest.mark.parametrize(
    "arr, az, P",
    [
        (Array.uca(5, 0.4), [40.0], np.array([[10.0]])),
        (Array.uca(7, 0.6), [20.0, 75.0], np.array([[10.0, 2 + 1j], [2 - 1j, 3.0]])),
        (Array.ula(8, 0.5), [-30.0, 5.0, 12.0], np.diag([10.0, 5.0, 20.0])),
        (Array(((0, 0, 0), (0.4, 0.1, 0), (-0.2, 0.45, 0.3), (0.1, -0.3, 0))), [100.0], np.eye(1)),
    ],
)
def test_crb_equals_inverse_fisher_information(arr, az, P):
    N, noise = 500, 0.7
    fim = fim_slepian_bangs(arr, az, P, noise, N)
    K = len(az)
    crb_num = np.linalg.inv(fim)[:K, :K]
    crb = crb_stochastic(arr, az, F, P, noise, N)
    np.testing.assert_allclose(crb, np.degrees(np.degrees(crb_num)), rtol=1e-4)


def test_single_source_closed_form():
    for arr in (Array.uca(5, 0.45), Array.ula(8, 0.5)):
        for snr in (-5.0, 10.0, 30.0):
            c = crb_single(arr, 17.0, F, snr, 1024)
            g = crb_stochastic(arr, 17.0, F, 10 ** (snr / 10), 1.0, 1024)[0, 0]
            assert c == pytest.approx(g, rel=1e-10)


def test_crb_scales_as_one_over_snapshots_and_grows_at_endfire():
    arr = Array.ula(8, 0.5)
    a = crb_single(arr, 0.0, F, 10.0, 1000)
    assert crb_single(arr, 0.0, F, 10.0, 4000) == pytest.approx(a / 4)
    # ULA: d(phase)/dθ ∝ cos θ, so the bound grows as 1/cos² θ off broadside.
    assert crb_single(arr, 60.0, F, 10.0, 1000) == pytest.approx(a / np.cos(np.radians(60)) ** 2)


def test_unidentifiable_sources_raise():
    with pytest.raises(GeometryError, match="not identifiable"):
        crb_stochastic(Array.ula(3, 0.5), [0.0, 10.0, 20.0], F, 1.0, 1.0, 100)
    with pytest.raises(GeometryError):
        crb_stochastic(Array.ula(4, 0.5), [10.0, 10.0], F, 1.0, 1.0, 100)
