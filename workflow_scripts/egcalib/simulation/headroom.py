"""What a reader of the cells could gain over the MVA baseline in the toy detector, and what the
data detector's differences cost a calibration trained on MC.

Single particles (electrons; photons converting as the tracker's material has them, in the
categories they are reconstructed as: baseline_calibration.calibration_category) go through the
detector; per calibration category, LightGBM regressions of E_true / E_acc as the baseline's
(baseline_calibration.train_mva) are trained on its ATLAS inputs plus extra ones
(HEADROOM_ESTIMATORS):

- ``mva``: none, the baseline itself;
- ``cells_summary``: what the cells show beyond the baseline's inputs, in summary (SUMMARY: the
  strips' and the back layer's fractions of E_acc, the middle layer's R_eta, R_phi and w_eta2 of
  egcalib.core.shower_shapes);
- ``oracle_<losses>``: the true energies [GeV] lost in front of the presampler (``dead``),
  deposited outside the cluster window in any layer (``out``) and behind the calorimeter
  (``leak``), which the cells only hint at; ``oracle_all`` knows the three.

What is left to ``oracle_all`` is the measurement of the energy in the window (sampling
fluctuations, noise, pile-up, the constant term), which no reader of the cells can undo: its
rIQR75 against ``mva`` bounds, up to the regression's own imperfection, what a network reading
the cells can gain. Every response is E / E_true; widths are eIQR75 (egcalib.stats.metrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from egcalib.core import shower_shapes
from egcalib.core.contract import LAYERS
from egcalib.simulation.baseline_calibration import (
    PARTICLE_CATEGORIES,
    SHOWER_TYPE_NAMES,
    calibration_category,
    mva_features,
    train_mva,
)
from egcalib.simulation.detector import CONVERTED, CRACK_ETA, ELECTRON, UNCONVERTED
from egcalib.simulation.events import stream_seed
from egcalib.simulation.inner_detector import photon_converts
from egcalib.simulation.objects import simulate_objects
from egcalib.simulation.pileup import sample_mu
from egcalib.stats import metrics

SUMMARY = ("f1", "f3", "r_eta", "r_phi", "w_eta2")
LOSSES = ("dead", "out", "leak")
HEADROOM_ESTIMATORS = {
    "mva": (),
    "cells_summary": SUMMARY,
    "oracle_dead": ("dead",),
    "oracle_out": ("out",),
    "oracle_leak": ("leak",),
    "oracle_all": LOSSES,
}
# ATLAS's photons, and the paper's (seed 001): |eta| < 2.37 outside the crack.
PHOTON_ETA_MAX = 2.37


@dataclass
class Sample:
    """Single particles through one detector: ``e_true`` (n,) [GeV], ``clusters`` (cluster
    arrays (n,)), ``category`` (n,) the calibration category, ``extra`` (name -> (n,)) the
    true losses (LOSSES) [GeV] and the cells' summary (SUMMARY)."""

    e_true: np.ndarray
    clusters: dict[str, np.ndarray]
    category: np.ndarray
    extra: dict[str, np.ndarray]

    def features(self, selected: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """The MVA inputs (n_selected, k) of the selected objects (one category) with the
        extra inputs ``names`` appended."""
        code = int(self.category[selected][0])
        clusters = {k: np.asarray(v)[selected] for k, v in self.clusters.items()}
        extra = [self.extra[k][selected] for k in names]
        return np.column_stack([mva_features(clusters, code), *extra])


def single_particles(
    n: int,
    particle: str,
    et_range: Sequence[float],
    eta_max: float,
    sim: dict,
    detector: dict,
    rng: np.random.Generator,
) -> Sample:
    """n single ``particle``s ("electron" or "photon") flat in |eta| < ``eta_max`` and in log ET
    over ``et_range`` [GeV], with ``detector``'s pile-up, through ``detector``; photons convert
    as its tracker's material has them (inner_detector.photon_converts)."""
    log_et_lo, log_et_hi = np.log(et_range)
    et = np.exp(rng.uniform(log_et_lo, log_et_hi, n))
    eta = rng.uniform(-eta_max, eta_max, n)
    e = et * np.cosh(eta)
    mu = sample_mu(n, detector, rng)
    if particle == "electron":
        types = np.full(n, ELECTRON)
        charge = np.where(rng.uniform(size=n) < 0.5, 1, -1)
    else:
        types = np.where(photon_converts(np.abs(eta), sim, detector, rng), CONVERTED, UNCONVERTED)
        charge = np.zeros(n, int)
    phi = rng.uniform(-np.pi, np.pi, n)
    showers, clusters = simulate_objects(e, eta, phi, charge, types, mu, sim, detector, rng)
    e_acc = np.asarray(clusters["cl_Eacc"], float)
    middle = showers.cells[LAYERS[2]]
    extra = {
        "dead": showers.e_dead,
        "out": (showers.e_layer - showers.e_in_window).sum(axis=1),
        "leak": showers.e_leak,
        "f1": np.asarray(clusters["cl_E1"]) / e_acc,
        "f3": np.asarray(clusters["cl_E3"]) / e_acc,
        "r_eta": shower_shapes.r_eta(middle),
        "r_phi": shower_shapes.r_phi(middle),
        "w_eta2": shower_shapes.w_eta2(middle),
    }
    category = calibration_category(types, clusters["conversion_type"])
    return Sample(e, clusters, category, extra)


def fitted_response(
    train: Sample,
    train_selected: np.ndarray,
    tests: Sequence[tuple[Sample, np.ndarray]],
    names: Sequence[str],
    seed: int,
) -> list[np.ndarray]:
    """E / E_true of each (test sample, selection) under the regression trained on the selected
    training objects (one category) with the extra inputs ``names``."""
    import lightgbm as lgb

    x_fit = train.features(train_selected, names)
    booster = lgb.Booster(model_str=train_mva(x_fit, train.e_true[train_selected], seed))
    out = []
    for sample, selected in tests:
        x = sample.features(selected, names)
        out.append(x[:, 0] * booster.predict(x, num_threads=1) / sample.e_true[selected])
    return out


def _training_sample(sim: dict, particle: str) -> Sample:
    """The baseline's own kind of training sample for ``particle``: as many objects as its
    categories have in ``calibration.objects_per_type``, over the calibration's ET range."""
    counts = sim["calibration"]["objects_per_type"]
    n = sum(counts[SHOWER_TYPE_NAMES[code]] for code in PARTICLE_CATEGORIES[particle])
    rng = np.random.default_rng(stream_seed(sim["seed"], "headroom", particle, "training"))
    return single_particles(
        n,
        particle,
        sim["calibration"]["et_range"],
        sim["generator"]["eta_max"],
        sim,
        sim["detectors"]["mc"],
        rng,
    )


def _test_sample(sim: dict, particle: str, n: int, detector: str) -> Sample:
    """Test particles as the paper's photons (the photon gun's ET range, |eta| < 2.37): the same
    stream for either detector, so MC and data see the same kinematics."""
    rng = np.random.default_rng(stream_seed(sim["seed"], "headroom", particle, "test"))
    return single_particles(
        n,
        particle,
        sim["generator"]["pgun_et_range"],
        PHOTON_ETA_MAX,
        sim,
        sim["detectors"][detector],
        rng,
    )


def _outside_crack(sample: Sample) -> np.ndarray:
    abs_eta = np.abs(np.asarray(sample.clusters["cl_eta"]))
    return (abs_eta < CRACK_ETA[0]) | (abs_eta > CRACK_ETA[1])


def resolution_headroom(
    sim: dict, n_test: int, reference_training: dict[str, int], n_bootstrap: int = 200
) -> list[dict]:
    """Per calibration category (electron, unconverted, converted), the HEADROOM_ESTIMATORS on
    the same MC test objects outside the crack (``n_test`` per particle, _test_sample), trained
    on the baseline's kind of sample (_training_sample); ``cells_summary`` and ``oracle_all``
    also on every k-th training object, about ``reference_training[particle]`` of them (the
    networks' training size; suffix ``@reference_size``).

    Returns one dict per category: ``category``, ``training_objects``,
    ``reference_size_objects``, ``test_objects``, ``mean_loss_fraction`` (loss / E_true, per
    LOSSES), ``eiqr75`` (estimator -> eIQR75) and ``riqr75`` (estimator -> [rIQR75 against
    ``mva``, bootstrap error], metrics.riqr)."""
    rows = []
    for particle, codes in PARTICLE_CATEGORIES.items():
        train = _training_sample(sim, particle)
        test = _test_sample(sim, particle, n_test, "mc")
        step = max(1, round(len(train.e_true) / reference_training[particle]))
        subsample = np.arange(len(train.e_true)) % step == 0
        for code in codes:
            fit_sel = train.category == code
            test_sel = (test.category == code) & _outside_crack(test)
            responses = {}
            for label, names in HEADROOM_ESTIMATORS.items():
                sizes = {label: fit_sel}
                if label in ("cells_summary", "oracle_all"):
                    sizes[f"{label}@reference_size"] = fit_sel & subsample
                for name, sel in sizes.items():
                    (responses[name],) = fitted_response(
                        train, sel, [(test, test_sel)], names, sim["seed"]
                    )
            e_true = test.e_true[test_sel]
            riqr75 = {}
            for label, response in responses.items():
                if label != "mva":
                    value, error, _ = metrics.riqr(response, responses["mva"], 75, n_bootstrap)
                    riqr75[label] = [value, error]
            rows.append(
                {
                    "category": SHOWER_TYPE_NAMES[code],
                    "training_objects": int(fit_sel.sum()),
                    "reference_size_objects": int((fit_sel & subsample).sum()),
                    "test_objects": int(test_sel.sum()),
                    "mean_loss_fraction": {
                        k: float(np.mean(test.extra[k][test_sel] / e_true)) for k in LOSSES
                    },
                    "eiqr75": {k: metrics.eiqr(v, 75) for k, v in responses.items()},
                    "riqr75": riqr75,
                }
            )
    return rows


def median_aligned(response: np.ndarray, abs_eta: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """``response`` (n,) divided by its median in each |eta| bin of ``edges``: the per-bin scale
    that ATLAS's in-situ Z calibration takes out of data (Eur. Phys. J. C 74 (2014) 3071), here
    from the truth. Objects outside the edges keep their response."""
    out = np.array(response, float)
    bins = np.digitize(abs_eta, edges) - 1
    for b in range(len(edges) - 1):
        sel = bins == b
        if sel.any():
            out[sel] /= np.median(out[sel])
    return out


def data_mismatch(
    sim: dict, n_test: int, edges: Sequence[float], n_bootstrap: int = 200
) -> dict[str, dict]:
    """The gain of ``cells_summary`` over ``mva``, both trained on MC electrons, on the same
    electrons (``n_test``, outside the crack) through the MC and the data detector, each
    response aligned per |eta| bin of ``edges`` (median_aligned), as the in-situ scale would:
    {"mc" | "data": {"eiqr75": {estimator: width}, "riqr75": [value, error]}}. The data
    detector's differences that a calibration trained on MC does not know (shower widths,
    material, layer scales: docs/toy-detector.md) show as a smaller gain in data."""
    train = _training_sample(sim, "electron")
    tests = {name: _test_sample(sim, "electron", n_test, name) for name in ("mc", "data")}
    selections = [(t, _outside_crack(t)) for t in tests.values()]
    fit_sel = train.category == ELECTRON
    responses = {
        label: fitted_response(train, fit_sel, selections, HEADROOM_ESTIMATORS[label], sim["seed"])
        for label in ("mva", "cells_summary")
    }
    out = {}
    for i, (name, (sample, selected)) in enumerate(zip(tests, selections, strict=True)):
        abs_eta = np.abs(np.asarray(sample.clusters["cl_eta"]))[selected]
        aligned = {k: median_aligned(v[i], abs_eta, edges) for k, v in responses.items()}
        value, error, _ = metrics.riqr(aligned["cells_summary"], aligned["mva"], 75, n_bootstrap)
        out[name] = {
            "eiqr75": {k: metrics.eiqr(v, 75) for k, v in aligned.items()},
            "riqr75": [value, error],
        }
    return out
