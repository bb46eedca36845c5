"""Per-model evaluation and the comparison of all models (DESIGN.md section 9)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from egcalib import metrics, plotting
from egcalib.atomic import atomic_path
from egcalib.contract import PROCESS_PARTICLE
from egcalib.fitting import FitError, fit_bw_cb
from egcalib.masses import dielectron_masses, mumugamma_masses

log = logging.getLogger(__name__)


def read_predictions(paths) -> pd.DataFrame:
    frames = [pq.read_table(p).to_pandas() for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# The Z-peak mass of each process, rebuilt with any energy hypothesis of its objects.
Z_MASSES = {"zee": dielectron_masses, "zmumug": mumugamma_masses}


def z_fits(predictions: pd.DataFrame, datasets: dict, fit_config: dict, plot_dir: Path, model):
    """BW (x) CB fits of the Z peak (m_ee, or m_mumugamma with the photon energy) with the
    baseline and the model energies, per Z dataset; ``datasets`` maps names to config entries."""
    rows = []
    for dataset, spec in datasets.items():
        if spec["process"] not in Z_MASSES:
            continue
        kind, process = spec["kind"], spec["process"]
        frame = predictions[predictions["dataset"] == dataset]
        masses = Z_MASSES[process](frame, ["e_baseline", "e_pred"])
        results = {}
        for hypothesis, column in (("baseline", "e_baseline"), (model, "e_pred")):
            row = {"dataset": dataset, "process": process, "kind": kind, "energy": hypothesis,
                   "events": len(masses)}
            try:
                result = fit_bw_cb(masses[column].to_numpy(), **fit_config)
            except FitError as error:
                log.warning("%s %s: %s", dataset, hypothesis, error)
                row["error"] = str(error)
            else:
                results[hypothesis] = result
                row.update({f"{k}": v for k, v in result.values.items()})
                row.update({f"{k}_error": v for k, v in result.errors.items()})
                row["chi2_ndf"] = result.chi2_ndf
                plotting.z_fit(result, plot_dir / f"{dataset}_{hypothesis}.png",
                               f"{dataset} ({kind}): {hypothesis} energy")
            rows.append(row)
        if len(results) == 2:
            base, mod = results["baseline"], results[model]
            ratio = mod.values["sigma"] / base.values["sigma"]
            error = ratio * np.hypot(mod.errors["sigma"] / mod.values["sigma"],
                                     base.errors["sigma"] / base.values["sigma"])
            rows[-1]["sigma_improvement"] = 1.0 - ratio
            rows[-1]["sigma_improvement_error"] = error
    return pd.DataFrame(rows)


def evaluate_model(model: str, prediction_paths, datasets: dict, evaluation: dict, out: dict):
    """Metrics, tables and figures of one model; ``out`` maps output names to paths."""
    predictions = read_predictions(prediction_paths)
    mc = predictions[np.isfinite(predictions.get("e_truth", pd.Series(dtype=float)))] \
        if len(predictions) else predictions
    particles = {PROCESS_PARTICLE[spec["process"]] for spec in datasets.values()}
    summary = {"model": model, "particle": "/".join(sorted(particles)),
               "objects": int(len(predictions))}
    if len(mc):
        re_base = (mc["e_baseline"] / mc["e_truth"]).to_numpy()
        re_model = (mc["e_pred"] / mc["e_truth"]).to_numpy()
        summary["inclusive"] = metrics.summary(re_model, re_base, evaluation["bootstrap"])
        et_true = (mc["e_truth"] / np.cosh(mc["eta"])).to_numpy()
        table = metrics.differential(re_model, re_base, et_true, np.abs(mc["eta"].to_numpy()),
                                     n_bootstrap=evaluation["bootstrap"] // 2)
        plotting.relative_error_histograms(re_base, re_model, out["relative_error"], model)
        plotting.et_2d(et_true, (mc["e_baseline"] / np.cosh(mc["eta"])).to_numpy(),
                       (mc["e_pred"] / np.cosh(mc["eta"])).to_numpy(), out["et_2d"], model)
        plotting.eiqr_vs_eta(table, out["eiqr_vs_eta"], model)
    else:
        table = pd.DataFrame()
        for name in ("relative_error", "et_2d", "eiqr_vs_eta"):
            plotting.placeholder(out[name], "no MC objects with truth to evaluate")
    with atomic_path(out["differential"]) as tmp:
        table.to_csv(tmp, index=False)
    plot_dir = Path(out["zfits_dir"])
    plot_dir.mkdir(parents=True, exist_ok=True)
    fits = z_fits(predictions, datasets, evaluation["z_fit"], plot_dir, model) \
        if len(predictions) else pd.DataFrame()
    with atomic_path(out["zfits"]) as tmp:
        fits.to_csv(tmp, index=False)
    summary["z_fits"] = json.loads(fits.to_json(orient="records"))
    with atomic_path(out["metrics"]) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1))
    return summary


def compare(metric_paths, recommended: str, out: dict) -> pd.DataFrame:
    """The seed's ablation table over all models, and the recommended model's summary."""
    rows = []
    for path in metric_paths:
        summary = json.loads(Path(path).read_text())
        row = {"model": summary["model"], "particle": summary["particle"], **{k: summary.get("inclusive", {}).get(k, np.nan)
                                            for k in ("riqr75", "riqr75_error", "riqr95",
                                                      "riqr95_error", "eiqr75_model",
                                                      "eiqr75_baseline")}}
        for fit in summary["z_fits"]:
            improvement = fit.get("sigma_improvement")  # null in JSON when a fit failed
            if fit["energy"] != "baseline" and improvement is not None and np.isfinite(improvement):
                column = f"sigma_improvement_{fit['process']}_{fit['kind']}"
                row[column] = fit["sigma_improvement"]
                row[f"{column}_error"] = fit["sigma_improvement_error"]
        rows.append(row)
    table = pd.DataFrame(rows)
    with atomic_path(out["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out["markdown"]) as tmp:
        tmp.write_text(table.round(4).to_markdown(index=False) + "\n")
    plotting.ablation(table, out["png"])
    lines = [f"# Recommended model: {recommended}", ""]
    lines += _summary_lines(table[table["model"] == recommended]) or [
        f"- not evaluated: `{recommended}` is not among the selected models"]
    for name in table.loc[table["particle"] == "photon", "model"]:
        lines += ["", f"## Photon model: {name}", ""]
        lines += _summary_lines(table[table["model"] == name])
    with atomic_path(out["summary"]) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return table


def _summary_lines(rows: pd.DataFrame) -> list[str]:
    """The seed's form: "x % improvement in eIQR75", "1 - sigma_CB^model / sigma_CB^baseline"."""
    if not len(rows):
        return []
    r = rows.iloc[0]
    lines = [f"- {100 * r['riqr75']:.1f} % improvement in eIQR75 "
             f"(+- {100 * r['riqr75_error']:.1f} %), {100 * r['riqr95']:.1f} % in eIQR95 "
             f"(eIQR75: baseline {r['eiqr75_baseline']:.4f}, model {r['eiqr75_model']:.4f})"]
    for process, name in (("zee", "Z -> ee"), ("zmumug", "Z -> mumugamma")):
        for kind in ("mc", "data"):
            column = f"sigma_improvement_{process}_{kind}"
            if column in r and np.isfinite(r[column]):
                lines.append(f"- {name} {kind}: 1 - sigma_CB^model / sigma_CB^baseline = "
                             f"{100 * r[column]:.1f} +- {100 * r[f'{column}_error']:.1f} %")
    return lines
