"""The toy detector's standard calibration: an MVA as ATLAS has it, and the older binned one.

ATLAS calibrates electron and photon clusters with a gradient-boosted regression of
E_true / E_acc on cluster variables, trained on single-particle simulation, separately for
electrons, unconverted and converted photons as reconstructed (arXiv:1812.03848 section 4;
arXiv:2309.05471): a true conversion that is not reconstructed is calibrated as unconverted.
Here the same is trained with LightGBM on the simulator's own single-particle sample, with the
ATLAS inputs: E_acc, E0 / E_acc, E1 / E2, |eta_cluster|, the eta and phi position within the
middle cell and, for converted photons, the conversion radius and the pT share of the leading
conversion track. Its output is ``el_e`` / ``ph_e``: the baseline the CNN must beat.

The binned correction of earlier versions stays as a reference (``el_binned_e`` / ``ph_binned_e``):
E = C(|eta|, E_raw) * E_raw with E_raw = E_acc + w0(|eta|) * E0, the presampler weight w0 and the
response correction C per (|eta|, E) bin, derived from the same sample.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from egcalib.simulation.detector import CONVERTED, ELECTRON, UNCONVERTED, effect_on

SHOWER_TYPE_NAMES = {ELECTRON: "electron", UNCONVERTED: "unconverted", CONVERTED: "converted"}
MVA_FEATURES = ("E_acc", "f0", "R12", "abs_eta", "eta_in_cell", "phi_in_cell")
CONVERSION_FEATURES = ("conversion_radius", "conversion_pt_ratio")
# Deterministic LightGBM: same sample and seed give the same trees, so the same simulation seed
# gives the same ntuples byte for byte. One thread: with several, LightGBM's histogram sums may
# be added in another order.
LIGHTGBM_PARAMS = {
    "objective": "l1",
    "learning_rate": 0.1,
    "num_leaves": 63,
    "min_data_in_leaf": 100,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}
MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 30


def calibration_category(shower_type: np.ndarray, conversion_type: np.ndarray) -> np.ndarray:
    """The calibration category (n,) of each object, as ATLAS has it, by reconstructed type:
    ELECTRON for electrons, CONVERTED for photons with a reconstructed conversion
    (``conversion_type`` > 0, ATLAS convType), UNCONVERTED for the other photons."""
    photon_category = np.where(np.asarray(conversion_type) > 0, CONVERTED, UNCONVERTED)
    return np.where(np.asarray(shower_type) == ELECTRON, ELECTRON, photon_category)


def mva_features(clusters: dict, shower_type: int) -> np.ndarray:
    """The ATLAS MVA-calibration inputs (n, k) from cluster arrays (n,) of one shower type;
    k = 6, or 8 for converted photons (MVA_FEATURES, then CONVERSION_FEATURES)."""
    e_acc = np.asarray(clusters["cl_Eacc"], np.float64)
    e2 = np.asarray(clusters["cl_E2"], np.float64)
    columns = [
        e_acc,
        np.asarray(clusters["cl_E0"]) / np.where(e_acc != 0, e_acc, np.nan),
        np.asarray(clusters["cl_E1"]) / np.where(e2 != 0, e2, np.nan),
        np.abs(clusters["cl_eta"]),
        clusters["cl_etaModCalo"],
        clusters["cl_phiModCalo"],
    ]
    if shower_type == CONVERTED:
        columns += [clusters["conversion_radius"], clusters["conversion_pt_ratio"]]
    return np.stack([np.asarray(c, np.float64) for c in columns], axis=1)


def train_mva(features: np.ndarray, e_true: np.ndarray, seed: int) -> str:
    """LightGBM regression of E_true / E_acc (features[:, 0] is E_acc); the model as text.

    Early stopping on a deterministic fifth of the sample (every fifth object). Raises
    ValueError when the sample has no object with E_acc > 0."""
    import lightgbm as lgb

    target = e_true / np.where(features[:, 0] > 0, features[:, 0], np.nan)
    ok = np.isfinite(target) & (features[:, 0] > 0)
    if ok.sum() < 100:
        raise ValueError(f"MVA calibration: {ok.sum()} usable objects (E_acc > 0), need >= 100")
    features, target = features[ok], target[ok]
    held_out = np.arange(len(target)) % 5 == 0
    params = {**LIGHTGBM_PARAMS, "seed": seed}
    train = lgb.Dataset(features[~held_out], target[~held_out], params={"verbosity": -1})
    valid = lgb.Dataset(features[held_out], target[held_out], reference=train)
    booster = lgb.train(
        params,
        train,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    return booster.model_to_string(num_iteration=booster.best_iteration)


class BaselineCalibration:
    """The calibration tables of derive_baseline_calibration, ready to apply (the LightGBM
    boosters are parsed once)."""

    def __init__(self, tables: dict):
        import lightgbm as lgb

        self.binned = tables["binned"]
        self.mva = {
            name: lgb.Booster(model_str=entry["model"]) for name, entry in tables["mva"].items()
        }

    def apply(self, clusters: dict, category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(E_MVA, E_binned) [GeV] for cluster arrays (n,) of objects of mixed calibration
        categories (calibration_category: the shower types as reconstructed)."""
        e_mva = np.zeros(len(category))
        e_binned = np.zeros(len(category))
        for code, name in SHOWER_TYPE_NAMES.items():
            sel = category == code
            if not sel.any():
                continue
            part = {k: np.asarray(v)[sel] for k, v in clusters.items()}
            response = self.mva[name].predict(mva_features(part, code), num_threads=1)
            e_mva[sel] = part["cl_Eacc"] * response
            e_binned[sel] = apply_binned_calibration(
                self.binned[name], np.abs(part["cl_eta"]), part["cl_Eacc"], part["cl_E0"]
            )
        return e_mva, e_binned


def as_calibration(calibration: dict | BaselineCalibration | None) -> BaselineCalibration | None:
    """A BaselineCalibration from its JSON tables (or itself, or None)."""
    if calibration is None or isinstance(calibration, BaselineCalibration):
        return calibration
    return BaselineCalibration(calibration)


# The calibration categories derived together: a particle's categories come from one sample.
PARTICLE_CATEGORIES = {"electron": (ELECTRON,), "photon": (UNCONVERTED, CONVERTED)}


def calibration_samples(
    sim: dict, particles: tuple[str, ...] = tuple(PARTICLE_CATEGORIES)
) -> dict[str, tuple[np.ndarray, dict]]:
    """The single-particle samples of derive_baseline_calibration, per calibration category
    name: (true energies (n,) [GeV], clusters), simulated with the MC detector, for the
    categories of ``particles`` (keys of PARTICLE_CATEGORIES). Each category's sample has its
    own random stream, so it is the same whichever others are simulated beside it.

    With ``effects.conversion_reconstruction`` on, the photons are one sample of
    ``unconverted + converted`` photons converting as the material has them, split by their
    reconstructed type (ATLAS's categories); off, one sample per true shower type."""
    from egcalib.simulation.events import stream_seed
    from egcalib.simulation.objects import calibration_sample, photon_calibration_sample

    counts = sim["calibration"]["objects_per_type"]
    detector = sim["detectors"]["mc"]
    by_reconstruction = effect_on(sim, "conversion_reconstruction")
    codes = [code for particle in particles for code in PARTICLE_CATEGORIES[particle]]
    samples = {}
    for code in codes:
        if by_reconstruction and code != ELECTRON:
            continue
        name = SHOWER_TYPE_NAMES[code]
        rng = np.random.default_rng(stream_seed(sim["seed"], "calibration", name))
        samples[name] = calibration_sample(counts[name], code, sim, detector, rng)
    if by_reconstruction and "photon" in particles:
        rng = np.random.default_rng(stream_seed(sim["seed"], "calibration", "photon"))
        n = counts["unconverted"] + counts["converted"]
        e_true, clusters, types = photon_calibration_sample(n, sim, detector, rng)
        category = calibration_category(types, clusters["conversion_type"])
        for code in (UNCONVERTED, CONVERTED):
            sel = category == code
            samples[SHOWER_TYPE_NAMES[code]] = (
                e_true[sel],
                {k: np.asarray(v)[sel] for k, v in clusters.items()},
            )
    return samples


def particle_calibration(sim: dict, particle: str) -> dict:
    """The binned and MVA calibrations of ``particle``'s categories (PARTICLE_CATEGORIES):
    {"binned": {category: table}, "mva": {category: {"features", "model"}}}."""
    cal = sim["calibration"]
    eta_edges = np.arange(
        0.0, sim["generator"]["eta_max"] + cal["eta_bin_width"], cal["eta_bin_width"]
    )
    lo, hi = cal["et_range"]
    log_e_edges = np.linspace(
        np.log(lo), np.log(hi * np.cosh(sim["generator"]["eta_max"])), cal["energy_bins"] + 1
    )
    tables: dict = {"binned": {}, "mva": {}}
    samples = calibration_samples(sim, (particle,))
    for code in PARTICLE_CATEGORIES[particle]:
        name = SHOWER_TYPE_NAMES[code]
        e_true, clusters = samples[name]
        tables["binned"][name] = derive_binned_calibration(
            np.abs(clusters["cl_eta"]),
            e_true,
            clusters["cl_Eacc"],
            clusters["cl_E0"],
            eta_edges,
            log_e_edges,
        )
        features = MVA_FEATURES + (CONVERSION_FEATURES if code == CONVERTED else ())
        tables["mva"][name] = {
            "features": list(features),
            "model": train_mva(mva_features(clusters, code), e_true, sim["seed"]),
        }
    return tables


def derive_baseline_calibration(sim: dict, processes: int = 1) -> dict:
    """MVA and binned calibrations per calibration category, derived with the MC detector on
    the simulator's single-particle sample (as ATLAS derives its calibration on simulation),
    electrons and photons in ``processes`` worker processes at most (forked: the categories
    have their own random streams and single-threaded fits, so the tables are the same for
    any ``processes``). JSON-serialisable, categories in SHOWER_TYPE_NAMES order:
    {"binned": {category: table}, "mva": {category: {"features", "model"}}}."""
    particles = list(PARTICLE_CATEGORIES)
    if processes > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # Fork, not spawn: a spawned worker would re-run a Snakemake script's top level.
        context = multiprocessing.get_context("fork")
        workers = min(processes, len(particles))
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = list(pool.map(particle_calibration, [sim] * len(particles), particles))
    else:
        parts = [particle_calibration(sim, particle) for particle in particles]
    merged: dict = {"binned": {}, "mva": {}}
    for name in SHOWER_TYPE_NAMES.values():
        for kind in merged:
            merged[kind][name] = next(part[kind][name] for part in parts if name in part[kind])
    return merged


def raw_energy(cl_eacc: np.ndarray, cl_e0: np.ndarray, presampler_weight: np.ndarray) -> np.ndarray:
    """E_raw = E_acc + w0 * E0 [GeV]: the accordion energy plus the weighted presampler."""
    return cl_eacc + presampler_weight * cl_e0


def derive_binned_calibration(
    abs_eta: np.ndarray,
    e_true: np.ndarray,
    cl_eacc: np.ndarray,
    cl_e0: np.ndarray,
    eta_edges: npt.ArrayLike,
    log_e_edges: npt.ArrayLike,
) -> dict:
    """Fit the presampler weight per |eta| bin and the response correction per (|eta|, E) bin.

    Returns a JSON-serialisable table: eta_edges, weights (per eta bin), log_e_centres and
    correction (eta bins x energy bins; bins without objects borrow their neighbour's value).
    """
    eta_edges = np.asarray(eta_edges, float)
    log_e_edges = np.asarray(log_e_edges, float)
    n_eta, n_e = len(eta_edges) - 1, len(log_e_edges) - 1
    eta_bin = np.clip(np.digitize(abs_eta, eta_edges) - 1, 0, n_eta - 1)
    weights = np.zeros(n_eta)
    for b in range(n_eta):  # a handful of bins: a least-squares fit each
        sel = eta_bin == b
        if sel.sum() < 20 or np.all(cl_e0[sel] == 0):
            continue
        # Relative least squares: E_true ~ alpha E_acc + beta E0, both divided by E_true.
        design = np.stack([cl_eacc[sel], cl_e0[sel]], axis=1) / e_true[sel, None]
        (alpha, beta), *_ = np.linalg.lstsq(design, np.ones(sel.sum()), rcond=None)
        weights[b] = np.clip(beta / alpha, 0.0, 50.0)
    e_raw = raw_energy(cl_eacc, cl_e0, weights[eta_bin])
    ok = e_raw > 0
    log_e = np.log(np.where(ok, e_raw, 1.0))
    e_bin = np.clip(np.digitize(log_e, log_e_edges) - 1, 0, n_e - 1)
    ratio = np.where(ok, e_true / np.where(ok, e_raw, 1.0), np.nan)
    correction = np.full((n_eta, n_e), np.nan)
    centres = np.tile(0.5 * (log_e_edges[1:] + log_e_edges[:-1]), (n_eta, 1))
    flat = eta_bin * n_e + e_bin
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(n_eta * n_e + 1))
    for cell in range(n_eta * n_e):
        idx = order[bounds[cell] : bounds[cell + 1]]
        idx = idx[ok[idx]]
        if len(idx) >= 20:
            correction.flat[cell] = np.median(ratio[idx])
            centres.flat[cell] = np.median(log_e[idx])
    for b in range(n_eta):  # fill empty energy bins from the nearest filled one
        row = correction[b]
        filled = np.nonzero(np.isfinite(row))[0]
        if len(filled) == 0:
            raise ValueError(
                f"calibration: no objects in |eta| bin {eta_edges[b]}-{eta_edges[b + 1]}"
            )
        nearest = filled[np.abs(np.arange(n_e)[:, None] - filled[None, :]).argmin(axis=1)]
        correction[b] = row[nearest]
        centres[b] = np.where(np.isfinite(row), centres[b], centres[b][nearest])
    return {
        "eta_edges": eta_edges.tolist(),
        "presampler_weights": weights.tolist(),
        "log_e_centres": centres.tolist(),
        "correction": correction.tolist(),
    }


def apply_binned_calibration(
    table: dict, abs_eta: np.ndarray, cl_eacc: np.ndarray, cl_e0: np.ndarray
) -> np.ndarray:
    """Binned baseline energy [GeV] (n,) from a table of derive_binned_calibration."""
    eta_edges = np.asarray(table["eta_edges"])
    weights = np.asarray(table["presampler_weights"])
    centres = np.asarray(table["log_e_centres"])
    correction = np.asarray(table["correction"])
    eta_bin = np.clip(np.digitize(abs_eta, eta_edges) - 1, 0, len(weights) - 1)
    e_raw = raw_energy(cl_eacc, cl_e0, weights[eta_bin])
    log_e = np.log(np.maximum(e_raw, 1e-3))
    # Linear interpolation in log E within the object's |eta| bin, clamped at the ends.
    x, y = centres[eta_bin], correction[eta_bin]
    j = np.clip((x < log_e[:, None]).sum(axis=1), 1, x.shape[1] - 1)
    rows = np.arange(len(log_e))
    x0, x1, y0, y1 = x[rows, j - 1], x[rows, j], y[rows, j - 1], y[rows, j]
    t = np.clip((log_e - x0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0, 1.0)
    return e_raw * (y0 + t * (y1 - y0))
