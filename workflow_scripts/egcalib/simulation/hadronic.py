"""Charged hadrons in the toy calorimeter and the hadronic energy behind each cluster.

A charged hadron crosses the EM calorimeter as a minimum-ionising particle until it interacts
(its depth of interaction exponential in interaction lengths lambda_I); from there a hadronic
shower develops with a gamma-function profile in depth, so part of it lies in the EM layers and
the rest in the hadronic calorimeter behind them. Behind every cluster the hadronic calorimeter
sees the EM shower's own leakage too (longitudinal.longitudinal_fractions), the hadrons'
showers and noise: E_had1 (its first layer) and E_had (all of it), from which the shower shapes
R_had1 and R_had are made (core.shower_shapes).

Sizes and their sources: config ``simulation.hadronic``, docs/toy-detector.md#jets-and-fake-photons.
Energies in GeV, depths in interaction lengths lambda_I unless said otherwise.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammainc


def shower_profile_parameters(energy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gamma-profile parameters (n,) of a hadronic shower of ``energy`` [GeV], dE/dt ~
    t^(a - 1) exp(-t / lambda_att), t in lambda_I from the interaction point: shape a and
    lambda_att [lambda_I]. PDG, Review of Particle Physics, "Calorimetry" (hadronic
    cascades): shower maximum t_max = 0.2 ln(E / GeV) + 0.7 and exponential fall-off
    lambda_att = (E / GeV)^0.13; the gamma's mode is t_max, so a = 1 + t_max / lambda_att."""
    energy = np.maximum(np.asarray(energy, float), 1.0)
    t_max = 0.2 * np.log(energy) + 0.7
    attenuation = energy**0.13
    return 1.0 + t_max / attenuation, attenuation


def _profile_cdf(depth: np.ndarray, shape: np.ndarray, attenuation: np.ndarray) -> np.ndarray:
    """Share of a hadronic shower deposited before ``depth`` [lambda_I] after its interaction
    point (0 for depth <= 0), arrays broadcast."""
    return gammainc(shape, np.maximum(depth, 0.0) / attenuation)


def charged_hadron_deposits(
    energy: np.ndarray, abs_eta: np.ndarray, sim: dict, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Where the energy of charged hadrons (any shape (...), ``energy`` [GeV] at |eta|
    ``abs_eta``) goes: ``layers`` (..., 4) deposits in presampler, strips, middle and back, and
    ``had1``, ``had`` (...) the energies in the first hadronic layer and in the whole hadronic
    calorimeter behind.

    The EM calorimeter is ``em_depth_lambda`` lambda_I deep at eta = 0, its layers thickening
    with |eta| as their depth in X0 (longitudinal.layer_boundaries), split in proportion to
    their X0 (``longitudinal.layer_x0``). The hadron interacts after an exponential depth (mean
    one lambda_I); before that it loses ``mip_gev_per_x0`` per X0 (and the presampler's
    ``presampler_x0`` within ``presampler_eta_max``); its shower (shower_profile_parameters)
    fills the layers after. Behind the EM calorimeter the first hadronic layer is
    ``had1_depth_lambda`` deep, the whole ``had_depth_lambda`` (leakage beyond is lost).
    Non-compensation (e/h) is not modelled: deposits at the EM scale. Draws one exponential per
    hadron."""
    had = sim["hadronic"]
    long = sim["longitudinal"]
    energy, abs_eta = np.broadcast_arrays(np.asarray(energy, float), np.asarray(abs_eta, float))
    depth_scale = 1.0 + long["depth_slope"] * np.minimum(abs_eta, 1.5)
    layer_x0 = np.asarray(long["layer_x0"], float)
    x0_per_lambda = layer_x0.sum() / had["em_depth_lambda"]
    # Layer edges [lambda_I] from the front of the strips: strips, middle, back.
    edges = np.concatenate([[0.0], np.cumsum(layer_x0)]) / x0_per_lambda
    edges = edges * depth_scale[..., None]
    em_depth = edges[..., -1]
    t_int = rng.exponential(1.0, energy.shape)
    shape, attenuation = shower_profile_parameters(energy)
    cdf = _profile_cdf(edges - t_int[..., None], shape[..., None], attenuation[..., None])
    shower = energy[..., None] * np.diff(cdf, axis=-1)
    # Ionisation up to the interaction point, in each layer's X0.
    track = np.clip(np.minimum(edges[..., 1:], t_int[..., None]) - edges[..., :-1], 0.0, None)
    mip = had["mip_gev_per_x0"] * track * x0_per_lambda
    presampler = np.where(
        abs_eta < sim["presampler_eta_max"], had["mip_gev_per_x0"] * long["presampler_x0"], 0.0
    )
    layers = np.concatenate([presampler[..., None], shower + mip], axis=-1)
    after = em_depth - t_int
    had1 = energy * (
        _profile_cdf(after + had["had1_depth_lambda"], shape, attenuation)
        - _profile_cdf(after, shape, attenuation)
    )
    behind = energy * (
        _profile_cdf(after + had["had_depth_lambda"], shape, attenuation)
        - _profile_cdf(after, shape, attenuation)
    )
    return {"layers": layers, "had1": had1, "had": behind}


def hadronic_energies(
    em_leakage: np.ndarray,
    hadrons_had1: np.ndarray,
    hadrons_had: np.ndarray,
    sim: dict,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """E_had1 and E_had [GeV] (n,) behind n clusters: the EM shower's leakage behind the EM
    calorimeter ``em_leakage`` (n,), all of it in the first hadronic layer (an EM tail dies
    within a few X0, and the first layer is ~14 X0 of iron), plus the charged hadrons' showers
    there (``hadrons_had1``, ``hadrons_had`` (n,): their energies in the first layer and in the
    whole hadronic calorimeter within the hadronic window), plus Gaussian noise of the window's
    cells, ``noise_gev`` [first layer, the other layers]. Draws 2n normals."""
    noise_had1, noise_rest = sim["hadronic"]["noise_gev"]
    n = len(em_leakage)
    noise = rng.standard_normal((2, n))
    e_had1 = em_leakage + hadrons_had1 + noise_had1 * noise[0]
    e_had = e_had1 + (hadrons_had - hadrons_had1) + noise_rest * noise[1]
    return {"Ehad1": e_had1, "Ehad": e_had}
