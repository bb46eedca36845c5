"""What each detector effect costs: the Z -> ee resolution of the MVA baseline with every effect
on, with only the sampling term (the floor) and with one effect switched off at a time.

Each variant is simulated in memory with its own MVA calibration (trained on its own electrons,
as the workflow's is), so the table compares like with like: sigma_CB of the BW (x) CB fit of
m_ee and eIQR75 of E_MVA / E_true for the electrons of Z -> ee events.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from egcalib.core.kinematics import massless_momenta
from egcalib.simulation.baseline_calibration import mva_features, train_mva
from egcalib.simulation.detector import CRACK_ETA, EFFECTS, ELECTRON
from egcalib.simulation.events import stream_seed
from egcalib.simulation.generator import ELECTRON_PDG, generate
from egcalib.simulation.objects import calibration_sample, simulate_objects
from egcalib.simulation.pileup import sample_mu
from egcalib.stats import metrics
from egcalib.stats.bw_cb import FitError, fit_bw_cb
from egcalib.stats.insitu_scale import scale_factors

log = logging.getLogger(__name__)
ALL_ON = "all effects"
FLOOR = "sampling term only"


def effect_variants(sim: dict) -> dict[str, dict]:
    """Variant name -> simulation config: all effects as configured, the floor (all off), and
    each configured-on effect off alone."""
    configured = {name: bool(sim["effects"][name]) for name in EFFECTS}
    variants = {ALL_ON: configured, FLOOR: dict.fromkeys(EFFECTS, False)}
    for name in EFFECTS:
        if configured[name]:
            variants[f"without {name}"] = {**configured, name: False}
    return {
        label: {**copy.deepcopy(sim), "effects": effects} for label, effects in variants.items()
    }


def zee_electron_pairs(
    sim: dict, n_events: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Generator Z -> ee events with both electrons in |eta| < eta_max and ET > 9.5 GeV:
    (energy, eta, phi, charge), each (n_pairs, 2)."""
    particles = generate("zee", n_events, sim["generator"], rng)
    electron = particles["pdg"] == ELECTRON_PDG
    fields = {k: particles[k][electron].reshape(-1, 2) for k in ("e", "eta", "phi", "charge")}
    et = fields["e"] / np.cosh(fields["eta"])
    keep = np.all((np.abs(fields["eta"]) < sim["generator"]["eta_max"]) & (et > 9.5), axis=1)
    return tuple(fields[k][keep] for k in ("e", "eta", "phi", "charge"))


def _mc_booster(sim: dict, n_calibration: int, study: str):  # -> lightgbm.Booster
    """The MVA baseline for electrons trained on ``n_calibration`` of the MC detector's own."""
    import lightgbm as lgb

    rng = np.random.default_rng(stream_seed(sim["seed"], study, "calibration"))
    e_true, clusters = calibration_sample(n_calibration, ELECTRON, sim, sim["detectors"]["mc"], rng)
    return lgb.Booster(model_str=train_mva(mva_features(clusters, ELECTRON), e_true, sim["seed"]))


def _baseline_zee(
    sim: dict, detector: dict, booster, n_events: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Z -> ee electron pairs through ``detector`` with the MVA baseline ``booster``: the true
    energies (n_pairs, 2) [GeV], the baseline's energies (n_pairs, 2) [GeV] and the generator
    fields ``eta``, ``phi`` (n_pairs, 2) with the clusters' ``cl_eta`` (n_pairs, 2)."""
    energy, eta, phi, charge = zee_electron_pairs(sim, n_events, rng)
    mu = np.repeat(sample_mu(len(energy), detector, rng), 2)
    _, reco = simulate_objects(
        energy.ravel(),
        eta.ravel(),
        phi.ravel(),
        charge.ravel(),
        np.full(energy.size, ELECTRON),
        mu,
        sim,
        detector,
        rng,
    )
    e_mva = reco["cl_Eacc"] * booster.predict(mva_features(reco, ELECTRON), num_threads=1)
    fields = {"eta": eta, "phi": phi, "cl_eta": np.asarray(reco["cl_eta"]).reshape(-1, 2)}
    return energy, e_mva.reshape(-1, 2), fields


def baseline_insitu_alphas(
    sim: dict, n_calibration: int, n_events: int, edges: Sequence[float]
) -> list[float]:
    """The MVA baseline's in-situ scale alpha per |eta| bin of ``edges`` (len(edges) - 1,): Z -> ee
    simulated through the data and the MC detector (``n_events`` each), the baseline trained on
    ``n_calibration`` MC electrons, the data / MC Z peaks compared as the evaluation does
    (egcalib.stats.insitu_scale, ATLAS's Z-based calibration). What the data detector's
    differences from the MC leave for the in-situ calibration; ATLAS's alphas are a few per cent
    at most (Eur. Phys. J. C 74 (2014) 3071)."""
    booster = _mc_booster(sim, n_calibration, "insitu-study")
    frames = {}
    for name in ("mc", "data"):
        rng = np.random.default_rng(stream_seed(sim["seed"], "insitu-study", name))
        _, e_mva, fields = _baseline_zee(sim, sim["detectors"][name], booster, n_events, rng)
        p = [
            massless_momenta(e_mva[:, i], fields["eta"][:, i], fields["phi"][:, i]) for i in (0, 1)
        ]
        frames[name] = pd.DataFrame(
            {
                "eta1": fields["cl_eta"][:, 0],
                "eta2": fields["cl_eta"][:, 1],
                "m": (p[0] + p[1]).mass,
            }
        )
    return [float(a) for a in scale_factors(frames["data"], frames["mc"], "m", edges)]


def resolution_of(sim: dict, n_calibration: int, n_events: int, fit_config: dict) -> dict:
    """sigma_CB [GeV] (with error) of m_ee and eIQR75 of E/E_true for the MVA baseline of one
    detector variant: of all events, and (suffixes ``_barrel``, ``_endcap``) of those with both
    electrons below |eta| 1.37 and with at least one beyond 1.52; a fit's failure is reported
    (``fit_error`` and suffix) instead of its numbers."""
    booster = _mc_booster(sim, n_calibration, "effect-study")
    rng = np.random.default_rng(stream_seed(sim["seed"], "effect-study", "zee"))
    energy, e_mva, fields = _baseline_zee(sim, sim["detectors"]["mc"], booster, n_events, rng)
    eta, phi = fields["eta"], fields["phi"]
    p = [massless_momenta(e_mva[:, i], eta[:, i], phi[:, i]) for i in (0, 1)]
    out: dict = {
        "electrons": int(energy.size),
        "eiqr75": float(metrics.eiqr((e_mva / energy).ravel(), 75)),
    }
    mass = (p[0] + p[1]).mass
    abs_eta = np.abs(eta)
    regions = {
        "": np.ones(len(mass), bool),
        "_barrel": np.all(abs_eta < CRACK_ETA[0], axis=1),
        "_endcap": np.any(abs_eta > CRACK_ETA[1], axis=1),
    }
    for suffix, selected in regions.items():
        try:
            fit = fit_bw_cb(mass[selected], **fit_config)
        except FitError as error:
            out[f"fit_error{suffix}"] = str(error)
            continue
        out.update(
            {
                f"sigma_cb{suffix}": fit.values["sigma"],
                f"sigma_cb_error{suffix}": fit.errors["sigma"],
                f"fixed{suffix}": fit.fixed,
                f"flags{suffix}": fit.flags,
            }
        )
    return out


def effect_costs(sim: dict, n_calibration: int, n_events: int, fit_config: dict) -> dict:
    """Per variant (effect_variants), the resolution_of of its detector."""
    table = {}
    for label, variant in effect_variants(sim).items():
        table[label] = resolution_of(variant, n_calibration, n_events, fit_config)
        log.info("%s: %s", label, table[label])
    return table
