"""Validation of the toy calorimeter: resolution terms, layer fractions, mean images, truth
mismatches, data-vs-MC comparisons, the Z -> ee peak of the MVA and binned baselines and what
each detector effect costs, as a JSON summary and plots.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import awkward as ak
import matplotlib

matplotlib.use("Agg")
import itertools

import matplotlib.pyplot as plt
import mplhep
import numpy as np
import uproot

from egcalib.core.atomic import atomic_path, save_figure
from egcalib.core.contract import LAYERS
from egcalib.core.kinematics import massless_momenta
from egcalib.core.shower_shapes import r_eta, w_eta2
from egcalib.simulation.meson_validation import plot_resolved_fraction, resolved_fraction
from egcalib.simulation.resolution_fit import fit_resolution, resolution_model
from egcalib.simulation.resolution_study import (
    ALL_ON,
    FLOOR,
    baseline_insitu_alphas,
    effect_costs,
)
from egcalib.stats.bw_cb import FitError, fit_bw_cb

# docs/design.md#the-embedded-default: ATLAS design resolution anchors for central electrons, and
# the Z -> ee sigma_CB of the MVA baseline (the seed's ATLAS MC: 2.393 GeV).
SAMPLING_ANCHOR = (0.09, 0.15)
CONSTANT_ANCHOR = (0.005, 0.012)
SIGMA_CB_ANCHOR = (2.0, 2.8)
SEED_SIGMA_CB = 2.393
# ATLAS's electron shower-shape shifts, data - MC (the corrections its simulation gets:
# ElectronPhotonShowerShapeFudgeTool, data/May2016_ShiftsForMCBasedLHTuneUsing20pt7.conf, ET
# independent), averaged flat in |eta| over the bins of each region: barrel 0-0.6-0.8-1.15-1.37
# (R_eta -0.00333, -0.004, -0.00467, -0.00533; w_eta2 0.00016, 0.000192, 0.00008, 0.000112),
# endcap 1.52-1.81-2.01-2.37 (R_eta -0.006, -0.006, -0.008; w_eta2 0.000312, 0.000376, 0.000392).
# Sources and how the toy's data detector reproduces them: docs/toy-detector.md#data-versus-mc.
ATLAS_SHOWER_SHAPE_SHIFTS: dict[str, dict] = {
    "barrel": {"abs_eta": (0.0, 1.37), "r_eta": -0.00409, "w_eta2": 0.000137},
    "endcap": {"abs_eta": (1.52, 2.37), "r_eta": -0.00685, "w_eta2": 0.000361},
}


def read_electrons(paths: Iterable[str | Path], tree: str, fields: Sequence[str]) -> ak.Array:
    """Flattened electron fields of several files (one record per electron)."""
    branches = [f"el_{name}" for name in fields]
    arrays = [uproot.open(path)[tree].arrays(branches) for path in paths]
    joined = ak.concatenate(arrays) if arrays else ak.Array({b: [] for b in branches})
    return ak.zip({name: ak.flatten(joined[f"el_{name}"]) for name in fields})


def layer_fractions(
    energy: np.ndarray, layers: np.ndarray, energy_edges: Iterable[float]
) -> list[dict]:
    """Mean raw-energy fraction per layer in bins of true energy."""
    total = layers.sum(axis=1)
    rows = []
    for lo, hi in itertools.pairwise(energy_edges):
        sel = (energy >= lo) & (energy < hi) & (total > 0)
        if sel.any():
            rows.append(
                {
                    "e_lo": lo,
                    "e_hi": hi,
                    "n": int(sel.sum()),
                    **{
                        f"f{i}": float(np.mean(layers[sel, i] / total[sel]))
                        for i in range(layers.shape[1])
                    },
                }
            )
    return rows


def zee_peak(
    paths: Iterable[str | Path], tree: str, energies: Iterable[str] = ("e", "binned_e")
) -> dict:
    """BW (x) CB fits of m_ee in simulated Z -> ee files for each electron energy branch
    (el_{name}): events with exactly two truth-matched electrons with pT > 9.5 GeV."""
    fields = ["eta", "phi", "pt", "truth_matched", *energies]
    arrays = [uproot.open(p)[tree].arrays([f"el_{f}" for f in fields]) for p in paths]
    events = ak.concatenate(arrays)
    good = events.el_truth_matched & (events.el_pt > 9.5)
    pairs = events[ak.num(events.el_pt[good]) == 2]
    good = pairs.el_truth_matched & (pairs.el_pt > 9.5)
    out = {}
    for name in energies:
        e, eta, phi = (
            ak.to_numpy(pairs[f"el_{f}"][good]).reshape(-1, 2) for f in (name, "eta", "phi")
        )
        p = [massless_momenta(e[:, i], eta[:, i], phi[:, i]) for i in (0, 1)]
        try:
            fit = fit_bw_cb((p[0] + p[1]).mass)
        except FitError as error:
            out[name] = {"events": len(e), "fit_error": str(error)}
        else:
            out[name] = {
                "events": len(e),
                "sigma_cb": fit.values["sigma"],
                "sigma_cb_error": fit.errors["sigma"],
                "fixed": fit.fixed,
                "flags": fit.flags,
            }
    return out


def validate(
    egun_paths: Sequence[str | Path],
    mc_zee_paths: Sequence[str | Path],
    data_zee_paths: Sequence[str | Path],
    native_shapes: dict,
    tree: str,
    out_json: str | Path,
    plot_dir: str | Path,
    central_eta: float = 0.8,
    sim: dict | None = None,
    insitu_eta_edges: Sequence[float] = (),
) -> dict:
    """Write the validation summary JSON and plots; return the summary. With ``sim`` (the
    simulation config), also the per-effect resolution study (resolution_study), the fraction
    of pi0s whose two showers the strips resolve against E_T (``pi0_resolved``, the jets'
    validation: meson_validation.resolved_fraction, seeded by the simulation's seed) and, with
    ``insitu_eta_edges`` (|eta| bin edges), the MVA baseline's in-situ alphas of the data
    detector (``baseline_insitu_alpha``: resolution_study.baseline_insitu_alphas)."""
    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    plt.style.use(mplhep.style.ATLAS)
    summary: dict = {"anchors": {"sampling": SAMPLING_ANCHOR, "constant": CONSTANT_ANCHOR}}
    if egun_paths:
        gun = read_electrons(
            egun_paths,
            tree,
            ["e", "eta", "gen_e", "truth_e", "truth_matched", "cl_E0", "cl_E1", "cl_E2", "cl_E3"],
        )
        parts: dict[str, list[np.ndarray]] = {layer: [] for layer in LAYERS}
        for path in egun_paths:
            arrays = uproot.open(path)[tree].arrays([f"el_cells_{layer}" for layer in LAYERS])
            for layer in LAYERS:
                parts[layer].append(
                    ak.to_numpy(ak.flatten(arrays[f"el_cells_{layer}"])).reshape(
                        -1, *native_shapes[layer]
                    )
                )
        cells = {layer: np.concatenate(v) for layer, v in parts.items()}
        gen_e, eta = ak.to_numpy(gun.gen_e), ak.to_numpy(gun.eta)
        central = np.abs(eta) < central_eta
        response = ak.to_numpy(gun.e) / gen_e
        edges = np.geomspace(8, 1000, 12)
        try:
            fit = fit_resolution(gen_e[central], response[central], edges)
        except ValueError as error:  # a tiny sample: say so instead of fitting noise
            fit = {"skipped": str(error)}
        else:
            fit["in_anchors"] = bool(
                SAMPLING_ANCHOR[0] <= fit["sampling"] <= SAMPLING_ANCHOR[1]
                and CONSTANT_ANCHOR[0] <= fit["constant"] <= CONSTANT_ANCHOR[1]
            )
            _plot_resolution(fit, plot_dir / "resolution.png")
        summary["resolution"] = fit
        barrel = np.abs(eta) < 1.37
        summary["barrel_median_response"] = float(np.median(response[barrel]))
        matched = ak.to_numpy(gun.truth_matched)  # fakes have no truth particle at all
        mismatched = np.abs(ak.to_numpy(gun.truth_e) / gen_e - 1) > 1e-4
        summary["truth_mismatch_fraction"] = float(mismatched[matched].mean())
        layers = np.stack([ak.to_numpy(gun[f"cl_E{i}"]) for i in range(4)], axis=1)
        summary["layer_fractions"] = layer_fractions(
            gen_e[central], layers[central], np.geomspace(8, 1000, 6)
        )
        _plot_layer_fractions(summary["layer_fractions"], plot_dir / "layer_fractions.png")
        _plot_mean_images(cells, central, plot_dir / "mean_images.png")
    if mc_zee_paths and data_zee_paths:
        summary["data_vs_mc"] = _data_vs_mc(
            mc_zee_paths, data_zee_paths, tree, plot_dir / "data_vs_mc.png"
        )
        summary["shower_shapes_data_vs_mc"] = _shower_shapes_data_vs_mc(
            mc_zee_paths,
            data_zee_paths,
            tree,
            native_shapes,
            plot_dir / "shower_shapes_data_vs_mc.png",
        )
    if mc_zee_paths:
        peak = zee_peak(mc_zee_paths, tree)
        mva = peak["e"]
        summary["zee_sigma_cb"] = {
            "mva": mva,
            "binned": peak["binned_e"],
            "anchor": SIGMA_CB_ANCHOR,
            "seed_atlas_mc": SEED_SIGMA_CB,
            "in_anchor": bool(
                "sigma_cb" in mva and SIGMA_CB_ANCHOR[0] <= mva["sigma_cb"] <= SIGMA_CB_ANCHOR[1]
            ),
        }
    if sim is not None:
        study = sim["validation"]
        summary["effects"] = effect_costs(sim, study["calibration_objects"], study["z_events"], {})
        _plot_effects(summary["effects"], plot_dir / "effects.png")
        summary["pi0_resolved"] = resolved_fraction(sim, np.random.default_rng(sim["seed"]))
        plot_resolved_fraction(summary["pi0_resolved"], plot_dir / "pi0_resolved.png")
        if len(insitu_eta_edges):
            summary["baseline_insitu_alpha"] = {
                "abs_eta_edges": list(insitu_eta_edges),
                "alpha": baseline_insitu_alphas(
                    sim, study["calibration_objects"], study["z_events"], insitu_eta_edges
                ),
            }
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    return summary


def _plot_resolution(fit, path):
    points = fit["points"]
    fig, ax = plt.subplots(layout="constrained")
    ax.errorbar(
        points["energy"],
        points["sigma_over_e"],
        points["error"],
        fmt="o",
        label="baseline, |eta| < 0.8",
    )
    grid = np.geomspace(min(points["energy"]), max(points["energy"]), 200)
    ax.plot(
        grid,
        resolution_model(grid, fit["sampling"], fit["noise_gev"], fit["constant"]),
        label=(
            f"a = {100 * fit['sampling']:.1f} %, b = {fit['noise_gev']:.2f} GeV, "
            f"c = {100 * fit['constant']:.2f} %"
        ),
    )
    ax.set(xscale="log", yscale="log", xlabel="E_true [GeV]", ylabel="sigma(E)/E")
    ax.legend(fontsize="small")
    save_figure(fig, path)


def _plot_effects(table, path):
    """sigma_CB of each detector variant, the all-effects and floor values as lines."""
    labels = [k for k in table if "sigma_cb" in table[k]]
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    y = np.arange(len(labels))
    ax.errorbar(
        [table[k]["sigma_cb"] for k in labels],
        y,
        xerr=[table[k]["sigma_cb_error"] for k in labels],
        fmt="o",
    )
    for name, style in ((ALL_ON, "-"), (FLOOR, ":")):
        if name in labels:
            ax.axvline(table[name]["sigma_cb"], ls=style, color="grey")
    ax.axvspan(*SIGMA_CB_ANCHOR, color="C1", alpha=0.15, label="anchor (seed: 2.39 GeV)")
    ax.set_yticks(y, labels)
    ax.set(xlabel=r"MVA baseline $\sigma_{CB}$ of $m_{ee}$ [GeV]")
    ax.legend(fontsize="small")
    save_figure(fig, path)


def _plot_layer_fractions(rows, path):
    fig, ax = plt.subplots(layout="constrained")
    centres = [np.sqrt(r["e_lo"] * r["e_hi"]) for r in rows]
    for i, name in enumerate(["presampler", "strips", "middle", "back"]):
        ax.plot(centres, [r[f"f{i}"] for r in rows], "o-", label=name)
    ax.set(xscale="log", xlabel="E_true [GeV]", ylabel="fraction of cluster energy")
    ax.legend(fontsize="small")
    save_figure(fig, path)


def _plot_mean_images(cells, selection, path):
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.5), layout="constrained")
    for ax, layer in zip(axes, LAYERS):
        image = cells[layer][selection].mean(axis=0)
        shown = ax.imshow(image, aspect="auto", origin="lower", cmap="viridis")
        ax.set(title=f"mean {layer}", xlabel="phi cell", ylabel="eta cell")
        fig.colorbar(shown, ax=ax, label="mean cell energy [GeV]")
    save_figure(fig, path)


def _data_vs_mc(mc_paths, data_paths, tree, path):
    fields = ["e", "cl_E0", "cl_E1", "cl_E2", "cl_E3", "cl_Eacc", "eta"]
    samples = {
        "MC": read_electrons(mc_paths, tree, fields),
        "data": read_electrons(data_paths, tree, fields),
    }
    mu = {
        name: np.concatenate(
            [
                uproot.open(p)[tree]["averageInteractionsPerCrossing"].array(library="np")
                for p in paths
            ]
        )
        for name, paths in (("MC", mc_paths), ("data", data_paths))
    }
    variables = {
        "f0 = E0 / E_acc": lambda s: s.cl_E0 / s.cl_Eacc,
        "R12 = E1 / E2": lambda s: s.cl_E1 / s.cl_E2,
        "E_baseline [GeV]": lambda s: s.e,
    }
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.5), layout="constrained")
    out = {}
    for ax, (label, fn) in zip(axes, variables.items()):
        values = {
            name: ak.to_numpy(fn(s[(s.e > 20) & (np.abs(s.eta) < 1.37)]))
            for name, s in samples.items()
        }
        lo, hi = np.percentile(np.concatenate(list(values.values())), [1, 99])
        for name, v in values.items():
            ax.hist(v, bins=40, range=(lo, hi), density=True, histtype="step", label=name)
        ax.set(xlabel=label)
        out[label] = {name: float(np.median(v)) for name, v in values.items()}
    for name, v in mu.items():
        axes[3].hist(v, bins=40, range=(0, 80), density=True, histtype="step", label=name)
    axes[3].set(xlabel="<mu>")
    out["<mu>"] = {name: float(np.mean(v)) for name, v in mu.items()}
    axes[0].legend()
    save_figure(fig, path)
    return {"medians": out}


def electron_shower_shapes(
    paths: Sequence[str | Path], tree: str, native_shapes: dict
) -> dict[str, np.ndarray]:
    """Per electron of the files: |eta|, E_baseline, R_eta, w_eta2 (egcalib.core.shower_shapes)
    and the layer fractions f0..f3 of the cluster (cl_E_i / sum of the four)."""
    electrons = read_electrons(paths, tree, ["e", "eta", "cl_E0", "cl_E1", "cl_E2", "cl_E3"])
    windows = [uproot.open(p)[tree]["el_cells_lr2"].array() for p in paths]
    middle = ak.to_numpy(ak.flatten(ak.concatenate(windows))).reshape(-1, *native_shapes["lr2"])
    layers = np.stack([ak.to_numpy(electrons[f"cl_E{i}"]) for i in range(4)], axis=1)
    total = layers.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        fractions = np.where(total[:, None] > 0, layers / total[:, None], np.nan)
    out = {
        "abs_eta": np.abs(ak.to_numpy(electrons.eta)),
        "e": ak.to_numpy(electrons.e),
        "r_eta": r_eta(middle),
        "w_eta2": w_eta2(middle),
    }
    out.update({f"f{i}": fractions[:, i] for i in range(4)})
    return out


def shower_shape_shifts(mc: dict, data: dict, e_min: float = 20.0) -> dict:
    """Per region of ATLAS_SHOWER_SHAPE_SHIFTS: means of R_eta, w_eta2 and f0..f3 in MC and data
    (electrons with E_baseline > e_min), the data - MC shift with its error and, for R_eta and
    w_eta2, ATLAS's measured shift."""
    out: dict = {}
    for region, cited in ATLAS_SHOWER_SHAPE_SHIFTS.items():
        lo, hi = cited["abs_eta"]
        row: dict = {"abs_eta": [lo, hi]}
        for name in ("r_eta", "w_eta2", "f0", "f1", "f2", "f3"):
            values = {}
            for label, sample in (("mc", mc), ("data", data)):
                keep = (sample["abs_eta"] >= lo) & (sample["abs_eta"] < hi) & (sample["e"] > e_min)
                v = sample[name][keep]
                values[label] = v[np.isfinite(v)]
            if min(len(v) for v in values.values()) < 2:
                continue
            mean = {k: float(np.mean(v)) for k, v in values.items()}
            error = float(np.hypot(*(np.std(v) / np.sqrt(len(v)) for v in values.values())))
            row[name] = {**mean, "shift": mean["data"] - mean["mc"], "shift_error": error}
            if name in cited:
                row[name]["atlas_shift"] = cited[name]
        out[region] = row
    return out


def _shower_shapes_data_vs_mc(mc_paths, data_paths, tree, native_shapes, path):
    """R_eta, w_eta2 and the layer fractions of Z -> ee electrons, data vs MC, barrel."""
    samples = {
        "MC": electron_shower_shapes(mc_paths, tree, native_shapes),
        "data": electron_shower_shapes(data_paths, tree, native_shapes),
    }
    shifts = shower_shape_shifts(samples["MC"], samples["data"])
    variables = {
        "r_eta": (r"$R_\eta$", (0.85, 1.0)),
        "w_eta2": (r"$w_{\eta 2}$", (0.005, 0.02)),
        "f0": ("f0 (presampler)", (0.0, 0.15)),
        "f1": ("f1 (strips)", (0.0, 0.6)),
        "f2": ("f2 (middle)", (0.4, 1.0)),
        "f3": ("f3 (back)", (0.0, 0.05)),
    }
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), layout="constrained")
    lo, hi = ATLAS_SHOWER_SHAPE_SHIFTS["barrel"]["abs_eta"]
    for ax, (name, (label, bounds)) in zip(axes.flat, variables.items()):
        for sample_name, sample in samples.items():
            keep = (sample["abs_eta"] >= lo) & (sample["abs_eta"] < hi) & (sample["e"] > 20)
            v = sample[name][keep]
            ax.hist(
                v[np.isfinite(v)],
                bins=50,
                range=bounds,
                density=True,
                histtype="step",
                label=sample_name,
            )
        row = shifts["barrel"].get(name)
        text = f"data - MC: {row['shift']:+.5f}" if row else ""
        if row and "atlas_shift" in row:
            text += f"\nATLAS: {row['atlas_shift']:+.5f}"
        ax.set(xlabel=f"{label}, |eta| < {hi}")
        ax.text(0.03, 0.95, text, transform=ax.transAxes, va="top", fontsize="small")
    axes.flat[0].legend(loc="center left")
    save_figure(fig, path)
    return shifts
