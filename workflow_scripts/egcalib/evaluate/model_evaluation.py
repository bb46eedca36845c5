"""Per-model evaluation (docs/design.md#evaluation): the resolution metrics of one model's
predictions (eIQR, rIQR, against the binned reference too), the pulls of a predicted resolution,
the Z-peak fits (egcalib.evaluate.z_fits), their tables and figures. The comparison of all models is
egcalib.evaluate.comparison.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from egcalib.core.atomic import atomic_path
from egcalib.core.contract import PROCESS_PARTICLE
from egcalib.evaluate import plotting
from egcalib.evaluate.z_fits import BINNED_COLUMN, z_fits
from egcalib.skim.duplicates import drop_later_copies
from egcalib.stats import metrics
from egcalib.stats.response import closure_table


def read_predictions(
    paths: Iterable[str | Path], later: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The prediction files ``paths`` as one frame, without the objects of ``later`` copies of
    repeated events (egcalib.skim.duplicates report rows), if given."""
    frames = [pq.read_table(p).to_pandas() for p in paths]
    frames = [f for f in frames if len(f)]
    predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if later is not None and len(predictions):
        predictions = drop_later_copies(predictions, later, "predictions")
    return predictions


def _from_results(path) -> str:
    """``path`` from its ``predictions`` folder on (relative to the results folder)."""
    parts = Path(path).parts
    return str(Path(*parts[parts.index("predictions") :])) if "predictions" in parts else str(path)


def binned_reference(mc: pd.DataFrame, re_baseline: np.ndarray, n_bootstrap: int) -> dict:
    """The MVA baseline against the binned reference on the MC objects that have both:
    eIQR75/95 of the binned energy and riqr{q}_baseline_vs_binned = 1 - eIQR(baseline) /
    eIQR(binned) with bootstrap errors and flags (riqr{q}_baseline_vs_binned_flags: NaN with
    "zero binned width", "undefined width (n objects < 10)", ... where the ratio is undefined;
    metrics.riqr). ``mc`` is the predictions frame of objects with truth, ``re_baseline`` (n,)
    its E_baseline / E_true. Empty (nothing to report) without binned energies."""
    if BINNED_COLUMN not in mc:
        return {}
    re_binned = (mc[BINNED_COLUMN] / mc["e_truth"]).to_numpy()
    has = np.isfinite(re_binned)
    if not has.any():
        return {}
    step = metrics.summary(
        re_baseline[has], re_binned[has], n_bootstrap, names=("baseline", "binned")
    )
    out = {"n_baseline_binned": step["n"], "median_re_baseline_binned": step["median_re_baseline"]}
    for q in (75, 95):
        out[f"eiqr{q}_baseline_binned"] = step[f"eiqr{q}_baseline"]
        out[f"riqr{q}_baseline_vs_binned"] = step[f"riqr{q}"]
        out[f"riqr{q}_baseline_vs_binned_error"] = step[f"riqr{q}_error"]
        out[f"riqr{q}_baseline_vs_binned_flags"] = step[f"riqr{q}_flags"]
    return out


def object_categories(frame: pd.DataFrame, particle: str) -> dict[str, np.ndarray]:
    """Masks (n,) of the rows of ``frame`` per category of object: ``all``, and for photons the
    unconverted (``conv_type`` 0) and converted (``conv_type`` > 0) apart, seed 001's split (one
    model per shower type there; here one photon model, measured on each)."""
    categories = {"all": np.ones(len(frame), bool)}
    if particle == "photon":
        conv_type = frame["conv_type"].to_numpy()
        categories.update(unconverted=conv_type == 0, converted=conv_type > 0)
    return categories


def category_metrics(
    mc: pd.DataFrame, datasets: Sequence[str], particle: str, n_bootstrap: int
) -> list[dict]:
    """The rIQR (metrics.summary) of the MC test objects with truth ``mc`` per dataset of
    ``datasets`` that has any (a photon model: the photon gun and Z -> mumugamma apart) and over
    all of them (dataset ``all``), in each object category (object_categories); the inclusive
    one (all datasets, all objects) is ``inclusive`` and not repeated. Rows with ``dataset`` and
    ``category`` first."""
    rows = []
    present = [d for d in datasets if (mc["dataset"] == d).any()]
    for dataset in ["all", *present]:
        frame = mc if dataset == "all" else mc[mc["dataset"] == dataset]
        for category, mask in object_categories(frame, particle).items():
            if dataset == "all" and category == "all":
                continue
            part = frame[mask]
            rows.append(
                {
                    "dataset": dataset,
                    "category": category,
                    **metrics.summary(
                        (part["e_pred"] / part["e_truth"]).to_numpy(),
                        (part["e_baseline"] / part["e_truth"]).to_numpy(),
                        n_bootstrap,
                    ),
                }
            )
    return rows


def resolution_pulls(
    mc: pd.DataFrame, et_true: np.ndarray, plot_path: str | Path, model_name: str
) -> pd.DataFrame:
    """Pulls of a per-object resolution (MDN models predict sigma_e_pred): their width and 68 /
    95 % coverage, inclusive and in |eta| and ET bins, with the figure; an empty table (and a
    placeholder figure) for models without one."""
    sigma = mc["sigma_e_pred"].to_numpy(float) if "sigma_e_pred" in mc else np.full(len(mc), np.nan)
    if not np.isfinite(sigma).any():
        plotting.placeholder(plot_path, f"{model_name} predicts no per-object resolution")
        return pd.DataFrame()
    values = metrics.pulls(mc["e_pred"], sigma, mc["e_truth"])
    table = metrics.differential_pulls(values, et_true, np.abs(mc["eta"].to_numpy()))
    plotting.pulls(values, table, plot_path, model_name)
    return table


def evaluate_model(
    model_name: str,
    prediction_paths: Sequence[str | Path],
    datasets: dict,
    evaluation: dict,
    out: dict,
    later: pd.DataFrame | None = None,
    trained_on: str = "",
) -> dict:
    """Metrics, tables and figures of one model; ``out`` maps output names to paths. Degenerate
    statistics (a bin or a bootstrap resample without a width, too few objects, a zero
    baseline sigma_CB) give NaN values with flags beside them (``riqr{q}_flags`` in metrics.json
    and differential.csv, ``flags`` of the pulls, ``sigma_improvement_flags`` in zfits.csv),
    never an exception. ``later``: the later copies of repeated events (egcalib.skim.duplicates),
    left out. metrics.json holds the inclusive rIQR and, in ``categories``, that per dataset and
    (photons) per conversion type (category_metrics); ``trained_on`` ("mc", "data", "mc+data") is
    recorded for the comparison."""
    predictions = read_predictions(prediction_paths, later)
    mc = (
        predictions[np.isfinite(predictions.get("e_truth", pd.Series(dtype=float)))]
        if len(predictions)
        else predictions
    )
    particles = {PROCESS_PARTICLE[spec["process"]] for spec in datasets.values()}
    # The prediction files read (from results/ on): what the results card reads again, not
    # whatever else a directory holds (chunks of an earlier inference.files_per_job).
    summary: dict = {
        "model": model_name,
        "particle": "/".join(sorted(particles)),
        "trained_on": trained_on,
        "objects": len(predictions),
        "predictions": [_from_results(p) for p in prediction_paths],
    }
    if len(mc):
        re_base = (mc["e_baseline"] / mc["e_truth"]).to_numpy()
        re_model = (mc["e_pred"] / mc["e_truth"]).to_numpy()
        summary["inclusive"] = metrics.summary(re_model, re_base, evaluation["bootstrap"])
        summary["inclusive"].update(binned_reference(mc, re_base, evaluation["bootstrap"]))
        summary["categories"] = category_metrics(
            mc, list(datasets), summary["particle"], evaluation["bootstrap"]
        )
        et_true = (mc["e_truth"] / np.cosh(mc["eta"])).to_numpy()
        table = metrics.differential(
            re_model,
            re_base,
            et_true,
            np.abs(mc["eta"].to_numpy()),
            n_bootstrap=evaluation["bootstrap"] // 2,
        )
        re_binned = (mc[BINNED_COLUMN] / mc["e_truth"]).to_numpy() if BINNED_COLUMN in mc else None
        plotting.relative_error_histograms(
            re_base, re_model, out["relative_error"], model_name, re_binned=re_binned
        )
        plotting.et_2d(
            et_true,
            (mc["e_baseline"] / np.cosh(mc["eta"])).to_numpy(),
            (mc["e_pred"] / np.cosh(mc["eta"])).to_numpy(),
            out["et_2d"],
            model_name,
        )
        plotting.eiqr_vs_eta(table, out["eiqr_vs_eta"], model_name)
        responses = {"baseline": re_base, model_name: re_model}
        if re_binned is not None and np.isfinite(re_binned).any():
            responses["baseline_binned"] = re_binned
        closure = closure_table(
            responses,
            mc["e_truth"].to_numpy(),
            np.abs(mc["eta"].to_numpy()),
            evaluation["closure"]["energy_edges"],
            evaluation["closure"]["abs_eta_edges"],
        )
        plotting.closure(closure, out["closure"])
        pull_table = resolution_pulls(mc, et_true, out["pulls"], model_name)
        if len(pull_table):
            summary["pulls"] = pull_table.iloc[0].drop(["bin", "lo", "hi"]).to_dict()
    else:
        table, pull_table, closure = pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
        for name in ("relative_error", "et_2d", "eiqr_vs_eta", "pulls", "closure"):
            plotting.placeholder(out[name], "no MC objects with truth to evaluate")
    with atomic_path(out["pulls_table"]) as tmp:
        pull_table.to_csv(tmp, index=False)
    with atomic_path(out["differential"]) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out["closure_table"]) as tmp:
        closure.to_csv(tmp, index=False)
    plot_dir = Path(out["zfits_dir"])
    plot_dir.mkdir(parents=True, exist_ok=True)
    fits = (
        z_fits(
            predictions,
            datasets,
            evaluation["z_fit"],
            plot_dir,
            model_name,
            evaluation["sigma_bootstrap"],
            evaluation["data_tail"],
            evaluation["insitu_eta_edges"],
        )
        if len(predictions)
        else pd.DataFrame()
    )
    with atomic_path(out["zfits"]) as tmp:
        fits.to_csv(tmp, index=False)
    summary["z_fits"] = json.loads(fits.to_json(orient="records"))
    with atomic_path(out["metrics"]) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1))
    return summary
