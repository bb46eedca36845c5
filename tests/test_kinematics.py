"""The shared kinematics: massless four-vectors from (energy, eta, phi), numpy and awkward alike."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from egcalib.core.kinematics import massless_momenta, wrap_phi

ENERGY = np.array([45.0, 100.0, 7.5])  # GeV
ETA = np.array([0.0, 1.2, -2.3])
PHI = np.array([0.5, -3.0, 3.1])  # rad


def test_numpy_massless_vectors_have_pt_e_over_cosh_eta_and_no_mass():
    p = massless_momenta(ENERGY, ETA, PHI)
    np.testing.assert_array_equal(p.pt, ENERGY / np.cosh(ETA))
    np.testing.assert_array_equal(p.eta, ETA)
    np.testing.assert_array_equal(p.phi, PHI)
    np.testing.assert_array_equal(p.mass, 0.0)
    # E = pt cosh(eta) for a massless object, |p| = E
    np.testing.assert_allclose(p.E, ENERGY, rtol=1e-14)
    np.testing.assert_allclose(p.mag, ENERGY, rtol=1e-14)
    np.testing.assert_allclose(p.px, ENERGY / np.cosh(ETA) * np.cos(PHI), rtol=1e-14)
    np.testing.assert_allclose(p.pz, ENERGY * np.tanh(ETA), rtol=1e-14)


def test_back_to_back_pair_at_eta_zero_has_the_sum_of_energies_as_mass():
    p = massless_momenta(np.array([45.6, 30.0]), np.zeros(2), np.array([0.0, 0.0]))
    q = massless_momenta(np.array([45.6, 30.0]), np.zeros(2), np.array([np.pi, np.pi / 2]))
    # m^2 = 2 E1 E2 (1 - cos(angle)): back to back 2 E; at a right angle sqrt(2) E
    np.testing.assert_allclose((p + q).mass, [91.2, np.sqrt(2) * 30.0], rtol=1e-12)


def test_numpy_types_cosh_in_eta_s_type_then_the_cast():
    energy = np.array([40.0, 60.0])
    eta = np.array([0.7, -1.9], np.float32)
    kept = massless_momenta(energy, eta, np.zeros(2, np.float32))
    assert kept.pt.dtype == np.float64 and kept.eta.dtype == np.float32
    assert kept.mass.dtype == np.float64
    cast = massless_momenta(energy, eta, np.zeros(2, np.float32), dtype=float)
    assert cast.eta.dtype == cast.phi.dtype == np.float64
    # cosh of the float32 eta, divided in float64: not cosh of eta cast first
    np.testing.assert_array_equal(cast.pt, energy / np.cosh(eta).astype(np.float64))
    single = massless_momenta(energy.astype(np.float32), eta, np.zeros(2, np.float32))
    assert single.pt.dtype == np.float32


def test_awkward_jagged_inputs_give_momentum4d_records_of_their_layout():
    energy = ak.Array([[45.0, 46.0], [], [20.0]])
    eta = ak.Array([[0.3, -0.4], [], [1.1]])
    phi = ak.Array([[0.1, 3.0], [], [-2.0]])
    p = massless_momenta(energy, eta, phi)
    assert p.layout.content.parameter("__record__") == "Momentum4D"
    assert ak.fields(p) == ["pt", "eta", "phi", "mass"]
    assert ak.to_list(ak.num(p)) == [2, 0, 1]
    np.testing.assert_allclose(ak.flatten(p.pt), ak.flatten(energy / np.cosh(eta)))
    np.testing.assert_allclose(ak.flatten(p.E), ak.flatten(energy), rtol=1e-14)
    assert ak.all(ak.flatten(p.mass) == 0)
    pair = p[:1, 0] + p[:1, 1]
    expected = np.sqrt(2 * 45.0 * 46.0 * (np.cosh(0.7) - np.cos(2.9)) / np.cosh(0.3) / np.cosh(0.4))
    np.testing.assert_allclose(ak.to_numpy(pair.mass), [expected], rtol=1e-12)


def test_awkward_float32_stays_float32():
    energy = ak.values_astype(ak.Array([[45.0], [60.0]]), np.float32)
    eta = ak.values_astype(ak.Array([[0.5], [-1.0]]), np.float32)
    p = massless_momenta(energy, eta, eta)
    for field in ("pt", "eta", "phi", "mass"):
        assert ak.flatten(p[field]).type.content.primitive == "float32"


@pytest.mark.parametrize(
    "energy, eta, phi",
    [
        (np.ones(3), np.zeros(2), np.zeros(3)),
        (np.ones(3), np.zeros(3), np.zeros(4)),
        (np.ones((2, 2)), np.zeros((2, 2)), np.zeros((2, 2))),
        (np.ones(3), 0.0, np.zeros(3)),
    ],
)
def test_numpy_inputs_that_do_not_line_up_are_an_error(energy, eta, phi):
    with pytest.raises(ValueError, match="1-D of one length"):
        massless_momenta(energy, eta, phi)


def test_awkward_inputs_that_do_not_line_up_and_a_dtype_for_awkward_are_errors():
    with pytest.raises(ValueError):
        massless_momenta(
            ak.Array([[1.0, 2.0], [3.0]]), ak.Array([[0.0], [0.0]]), ak.Array([[0.0], [0.0]])
        )
    with pytest.raises(ValueError, match="dtype applies to numpy inputs only"):
        massless_momenta(ak.Array([[1.0]]), ak.Array([[0.0]]), ak.Array([[0.0]]), dtype=float)


def test_wrap_phi_maps_into_minus_pi_to_pi():
    phi = np.array([0.0, np.pi, -np.pi, 3 * np.pi / 2, -7.0])
    wrapped = wrap_phi(phi)
    assert np.all((wrapped >= -np.pi) & (wrapped < np.pi))
    np.testing.assert_allclose(np.cos(wrapped), np.cos(phi), atol=1e-12)
    np.testing.assert_allclose(np.sin(wrapped), np.sin(phi), atol=1e-12)
