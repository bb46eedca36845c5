"""Per-model evaluation and the comparison of all models (docs/design.md section 9)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from egcalib import insitu, metrics, plotting
from egcalib.atomic import atomic_path
from egcalib.contract import PROCESS_PARTICLE
from egcalib.fitting import FitError, fit_bw_cb, paired_sigma_improvement
from egcalib.masses import dielectron_masses, mumugamma_masses

log = logging.getLogger(__name__)


def read_predictions(paths) -> pd.DataFrame:
    frames = [pq.read_table(p).to_pandas() for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# The Z-peak mass of each process, rebuilt with any energy hypothesis of its objects.
Z_MASSES = {"zee": dielectron_masses, "zmumug": mumugamma_masses}

# The older binned response correction, reported beside the MVA baseline where the ntuples carry
# it (NaN where they do not), so the step from binned to MVA is visible beside the CNN's step.
BINNED, BINNED_COLUMN = "baseline_binned", "e_baseline_binned"


def z_fits(
    predictions: pd.DataFrame,
    datasets: dict,
    fit_config: dict,
    plot_dir: Path,
    model_name,
    n_bootstrap: int = 50,
    data_tail: str = "mc",
    insitu_eta_edges=(),
):
    """BW (x) CB fits of the Z peak (m_ee, or m_mumugamma with the photon energy) with the
    baseline, the binned reference (where finite) and the model energies, per Z dataset;
    ``datasets`` maps names to config entries. MC events enter with their weights.

    Every hypothesis but the baseline gets sigma_improvement = 1 - sigma_CB / sigma_CB(baseline)
    with the error of a paired bootstrap of ``n_bootstrap`` resamples (fitting.
    paired_sigma_improvement). ``flags`` lists what makes a fit untrustworthy (a parameter at a
    limit, an unconstrained tail); sigma_improvement_flags those of the fit and its baseline, so
    a flagged improvement is never reported as a plain number.

    With ``data_tail="mc"`` a data fit takes its CB tail (alpha, n) from the fit of the same
    energy hypothesis on the first MC dataset of its process (``tail_from`` names it): a few
    thousand data events cannot separate the tail from the core (the reference run's free fit of
    data_zee's baseline: alpha 0.32 +- 0.12, n 10 +- 23, sigma_CB pulled 0.3 GeV below the
    model's), and widths are only comparable between hypotheses under one tail model. The tail
    comes from bremsstrahlung and material, which the simulation carries. ``"free"`` fits it.

    With ``insitu_eta_edges`` (|eta| bin edges; empty: off) each energy hypothesis of Z -> ee
    data is first scale-calibrated in situ against the MC Z -> ee events of the same hypothesis
    (egcalib.insitu; alpha per bin in ``insitu_alpha``), so that its sigma_CB is a resolution
    and not a spread of mis-scaled regions, as in the seed's data, which carry ATLAS's in-situ
    scale factors. The alphas are held fixed in the bootstrap."""
    rows = []
    mc_tails = {}  # (process, hypothesis) -> (MC dataset, its fitted tail)
    # MC first, so that the data fits of a process find their MC tails.
    for dataset, spec in sorted(datasets.items(), key=lambda item: item[1]["kind"] != "mc"):
        if spec["process"] not in Z_MASSES:
            continue
        kind, process = spec["kind"], spec["process"]
        frame = predictions[predictions["dataset"] == dataset]
        hypotheses = {"baseline": "e_baseline"}
        if BINNED_COLUMN in frame and np.isfinite(frame[BINNED_COLUMN]).any():
            hypotheses[BINNED] = BINNED_COLUMN
        hypotheses[model_name] = "e_pred"
        masses = Z_MASSES[process](frame, list(hypotheses.values()))
        alphas = (
            _insitu_calibrate(
                masses,
                predictions,
                datasets,
                list(hypotheses.values()),
                insitu_eta_edges,
                fit_config["mass_range"],
            )
            if kind == "data" and process == "zee" and len(insitu_eta_edges)
            else {}
        )
        weights = masses["weight"].to_numpy(float) if kind == "mc" and "weight" in masses else None
        results = {}
        for hypothesis, column in hypotheses.items():
            mass = masses[column].to_numpy()
            finite = np.isfinite(mass)  # a pair with one object lacking the binned energy
            row = {
                "dataset": dataset,
                "process": process,
                "kind": kind,
                "energy": hypothesis,
                "events": int(finite.sum()),
            }
            tail_from, tail = (
                mc_tails.get((process, hypothesis), (None, None))
                if kind == "data" and data_tail == "mc"
                else (None, None)
            )
            try:
                result = fit_bw_cb(
                    mass[finite],
                    None if weights is None else weights[finite],
                    tail=tail,
                    **fit_config,
                )
            except FitError as error:
                log.warning("%s %s: %s", dataset, hypothesis, error)
                row["error"] = str(error)
                rows.append(row)
                continue
            results[hypothesis] = result
            if kind == "mc" and result.tail is None:
                mc_tails.setdefault(
                    (process, hypothesis), (dataset, {k: result.values[k] for k in ("alpha", "n")})
                )
            row["tail_from"] = tail_from or ""
            row["insitu_alpha"] = " ".join(f"{a:+.4f}" for a in alphas.get(column, []))
            row.update({f"{k}": v for k, v in result.values.items()})
            row.update({f"{k}_error": v for k, v in result.errors.items()})
            row["chi2_ndf"] = result.chi2_ndf
            row["fixed"] = "; ".join(result.fixed)
            row["flags"] = "; ".join(result.flags)
            plotting.z_fit(
                result,
                plot_dir / f"{dataset}_{hypothesis}.png",
                f"{dataset} ({kind}): {hypothesis} energy",
            )
            if hypothesis != "baseline" and "baseline" in results:
                base = results["baseline"]
                paired = paired_sigma_improvement(
                    mass,
                    masses["e_baseline"].to_numpy(),
                    result,
                    base,
                    weights,
                    n_bootstrap,
                    **fit_config,
                )
                row["sigma_improvement"] = paired["value"]
                row["sigma_improvement_error"] = paired["error"]
                row["bootstrap_failed"] = paired["bootstrap_failed"]
                row["bootstrap_outliers"] = paired["bootstrap_outliers"]
                unstable = (
                    [
                        f"unstable bootstrap ({paired['bootstrap_outliers']} of "
                        f"{paired['bootstrap_ok']} resamples far out)"
                    ]
                    if paired["bootstrap_outliers"]
                    else []
                )
                row["sigma_improvement_flags"] = "; ".join(
                    [f"{flag} ({hypothesis})" for flag in result.flags]
                    + [f"{flag} (baseline)" for flag in base.flags]
                    + unstable
                )
            rows.append(row)
    return pd.DataFrame(rows)


def _from_results(path) -> str:
    """``path`` from its ``predictions`` folder on (relative to the results folder)."""
    parts = Path(path).parts
    return str(Path(*parts[parts.index("predictions") :])) if "predictions" in parts else str(path)


def _insitu_calibrate(
    masses: pd.DataFrame, predictions: pd.DataFrame, datasets: dict, columns, edges, window
) -> dict:
    """Scale-calibrate Z -> ee data ``masses`` in place, each energy column against the MC
    Z -> ee predictions of the same column (egcalib.insitu); returns {column: alpha per bin}."""
    mc_names = [d for d, s in datasets.items() if s["kind"] == "mc" and s["process"] == "zee"]
    mc = dielectron_masses(predictions[predictions["dataset"].isin(mc_names)], columns)
    alphas = {}
    for column in columns:
        alphas[column] = insitu.scale_factors(masses, mc, column, edges, window)
        masses[column] = insitu.corrected_masses(masses, column, alphas[column], edges)
    return alphas


def binned_reference(mc: pd.DataFrame, re_baseline: np.ndarray, n_bootstrap: int) -> dict:
    """The MVA baseline against the binned reference on the MC objects that have both:
    eIQR75/95 of the binned energy and riqr{q}_baseline_vs_binned = 1 - eIQR(baseline) /
    eIQR(binned) with bootstrap errors. ``mc`` is the predictions frame of objects with truth,
    ``re_baseline`` its E_baseline / E_true. Empty (nothing to report) without binned energies."""
    if BINNED_COLUMN not in mc:
        return {}
    re_binned = (mc[BINNED_COLUMN] / mc["e_truth"]).to_numpy()
    has = np.isfinite(re_binned)
    if not has.any():
        return {}
    step = metrics.summary(re_baseline[has], re_binned[has], n_bootstrap)
    out = {"n_baseline_binned": step["n"], "median_re_baseline_binned": step["median_re_baseline"]}
    for q in (75, 95):
        out[f"eiqr{q}_baseline_binned"] = step[f"eiqr{q}_baseline"]
        out[f"riqr{q}_baseline_vs_binned"] = step[f"riqr{q}"]
        out[f"riqr{q}_baseline_vs_binned_error"] = step[f"riqr{q}_error"]
    return out


def resolution_pulls(mc: pd.DataFrame, et_true: np.ndarray, plot_path, model_name) -> pd.DataFrame:
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


def evaluate_model(model_name: str, prediction_paths, datasets: dict, evaluation: dict, out: dict):
    """Metrics, tables and figures of one model; ``out`` maps output names to paths."""
    predictions = read_predictions(prediction_paths)
    mc = (
        predictions[np.isfinite(predictions.get("e_truth", pd.Series(dtype=float)))]
        if len(predictions)
        else predictions
    )
    particles = {PROCESS_PARTICLE[spec["process"]] for spec in datasets.values()}
    # The prediction files read (from results/ on): what the results card reads again, not
    # whatever else a directory holds (chunks of an earlier inference.files_per_job).
    summary = {
        "model": model_name,
        "particle": "/".join(sorted(particles)),
        "objects": len(predictions),
        "predictions": [_from_results(p) for p in prediction_paths],
    }
    if len(mc):
        re_base = (mc["e_baseline"] / mc["e_truth"]).to_numpy()
        re_model = (mc["e_pred"] / mc["e_truth"]).to_numpy()
        summary["inclusive"] = metrics.summary(re_model, re_base, evaluation["bootstrap"])
        summary["inclusive"].update(binned_reference(mc, re_base, evaluation["bootstrap"]))
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
        pull_table = resolution_pulls(mc, et_true, out["pulls"], model_name)
        if len(pull_table):
            summary["pulls"] = pull_table.iloc[0].drop(["bin", "lo", "hi"]).to_dict()
    else:
        table, pull_table = pd.DataFrame(), pd.DataFrame()
        for name in ("relative_error", "et_2d", "eiqr_vs_eta", "pulls"):
            plotting.placeholder(out[name], "no MC objects with truth to evaluate")
    with atomic_path(out["pulls_table"]) as tmp:
        pull_table.to_csv(tmp, index=False)
    with atomic_path(out["differential"]) as tmp:
        table.to_csv(tmp, index=False)
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


INCLUSIVE_COLUMNS = (
    "riqr75",
    "riqr75_error",
    "riqr95",
    "riqr95_error",
    "eiqr75_model",
    "eiqr75_baseline",
)


def _fit_columns(fits, energy: str) -> dict:
    """sigma_improvement_{process}_{kind} (its paired-bootstrap error and its flags) of one
    energy hypothesis's fits."""
    columns = {}
    for fit in fits:
        improvement = fit.get("sigma_improvement")  # null in JSON when a fit failed
        if fit["energy"] == energy and improvement is not None and np.isfinite(improvement):
            column = f"sigma_improvement_{fit['process']}_{fit['kind']}"
            columns[column] = improvement
            columns[f"{column}_error"] = fit["sigma_improvement_error"]
            columns[f"{column}_flags"] = fit.get("sigma_improvement_flags") or ""
    return columns


def _flag_note(flags) -> str:
    """The warning that goes beside a flagged number (empty when there is none)."""
    return f" (FLAGGED: {flags})" if isinstance(flags, str) and flags else ""


def binned_step(summary: dict) -> dict | None:
    """The step from the binned reference to the MVA baseline in one model's metrics: rIQR
    75/95 of the baseline against the binned energy, their eIQR75, and per Z dataset
    1 - sigma_CB(baseline) / sigma_CB(binned). None when the metrics have no binned energy."""
    inclusive = summary.get("inclusive", {})
    step = {"fits": {}}
    for fit in summary["z_fits"]:
        improvement = fit.get("sigma_improvement")
        if fit["energy"] == BINNED and improvement is not None and np.isfinite(improvement):
            # 1 - baseline / binned from the stored paired 1 - binned / baseline (first order).
            keep = 1.0 - improvement
            step["fits"][(fit["process"], fit["kind"])] = (
                1.0 - 1.0 / keep,
                fit["sigma_improvement_error"] / keep**2,
                fit.get("sigma_improvement_flags") or "",
            )
    if "eiqr75_baseline_binned" in inclusive:
        for q in (75, 95):
            step[f"riqr{q}"] = inclusive[f"riqr{q}_baseline_vs_binned"]
            step[f"riqr{q}_error"] = inclusive[f"riqr{q}_baseline_vs_binned_error"]
        step["eiqr75_binned"] = inclusive["eiqr75_baseline_binned"]
        # The baseline's eIQR75 on the same objects (those with a binned energy).
        step["eiqr75_baseline"] = step["eiqr75_binned"] * (1.0 - step["riqr75"])
    elif not step["fits"]:
        return None
    return step


def _binned_row(step: dict, particle: str, fits) -> dict:
    """The binned reference as a row of the ablation table, measured against the MVA baseline
    like the models (rIQR = 1 - eIQR_binned / eIQR_baseline, negative where it is worse)."""
    row = {"model": BINNED, "particle": particle}
    if "riqr75" in step:
        for q in (75, 95):
            # 1 - binned / MVA from the stored 1 - MVA / binned (first-order error).
            keep = 1.0 - step[f"riqr{q}"]
            row[f"riqr{q}"] = 1.0 - 1.0 / keep
            row[f"riqr{q}_error"] = step[f"riqr{q}_error"] / keep**2
        row["eiqr75_model"] = step["eiqr75_binned"]
        row["eiqr75_baseline"] = step["eiqr75_baseline"]
    return {**row, **_fit_columns(fits, BINNED)}


def compare(metric_paths, recommended: str, out: dict) -> pd.DataFrame:
    """The seed's ablation table over all models (plus, where the ntuples carry it, a row of the
    binned reference per particle), and the recommended model's summary."""
    rows, binned_rows, steps = [], [], {}
    for path in metric_paths:
        summary = json.loads(Path(path).read_text())
        inclusive = summary.get("inclusive", {})
        rows.append(
            {
                "model": summary["model"],
                "particle": summary["particle"],
                **{k: inclusive.get(k, np.nan) for k in INCLUSIVE_COLUMNS},
                **_fit_columns(summary["z_fits"], summary["model"]),
            }
        )
        # Every model of a particle is evaluated on the same test objects: the binned reference
        # is the same in each, reported once.
        step = binned_step(summary)
        if step is not None and summary["particle"] not in steps:
            steps[summary["particle"]] = step
            binned_rows.append(_binned_row(step, summary["particle"], summary["z_fits"]))
    table = pd.DataFrame(rows + binned_rows)
    with atomic_path(out["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out["markdown"]) as tmp:
        tmp.write_text(table.round(4).to_markdown(index=False) + "\n")
    plotting.ablation(table, out["png"])
    lines = [f"# Recommended model: {recommended}", ""]
    lines += _summary_lines(table[table["model"] == recommended]) or [
        f"- not evaluated: `{recommended}` is not among the selected models"
    ]
    for name in table.loc[(table["particle"] == "photon") & (table["model"] != BINNED), "model"]:
        lines += ["", f"## Photon model: {name}", ""]
        lines += _summary_lines(table[table["model"] == name])
    for particle, step in steps.items():
        lines += ["", f"## The baseline over the binned reference ({particle}s)", ""]
        lines += _binned_lines(step)
    with atomic_path(out["summary"]) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return table


Z_PROCESSES = (("zee", "Z -> ee"), ("zmumug", "Z -> mumugamma"))


def _summary_lines(rows: pd.DataFrame) -> list[str]:
    """The seed's form: "x % improvement in eIQR75", "1 - sigma_CB^model / sigma_CB^baseline"."""
    if not len(rows):
        return []
    r = rows.iloc[0]
    lines = [
        f"- {100 * r['riqr75']:.1f} % improvement in eIQR75 "
        f"(+- {100 * r['riqr75_error']:.1f} %), {100 * r['riqr95']:.1f} % in eIQR95 "
        f"(eIQR75: baseline {r['eiqr75_baseline']:.4f}, model {r['eiqr75_model']:.4f})"
    ]
    for process, name in Z_PROCESSES:
        for kind in ("mc", "data"):
            column = f"sigma_improvement_{process}_{kind}"
            if column in r and np.isfinite(r[column]):
                lines.append(
                    f"- {name} {kind}: 1 - sigma_CB^model / sigma_CB^baseline = "
                    f"{100 * r[column]:.1f} +- {100 * r[f'{column}_error']:.1f} % "
                    f"(paired bootstrap){_flag_note(r.get(f'{column}_flags'))}"
                )
    return lines


def _binned_lines(step: dict) -> list[str]:
    """The MVA baseline's own step over the binned reference, in the seed's form."""
    lines = []
    if "riqr75" in step:
        lines.append(
            f"- {100 * step['riqr75']:.1f} % improvement in eIQR75 "
            f"(+- {100 * step['riqr75_error']:.1f} %), {100 * step['riqr95']:.1f} % in eIQR95 "
            f"(eIQR75: binned {step['eiqr75_binned']:.4f}, baseline "
            f"{step['eiqr75_baseline']:.4f})"
        )
    for process, name in Z_PROCESSES:
        for kind in ("mc", "data"):
            if (process, kind) in step["fits"]:
                value, error, flags = step["fits"][(process, kind)]
                lines.append(
                    f"- {name} {kind}: 1 - sigma_CB^baseline / sigma_CB^binned = "
                    f"{100 * value:.1f} +- {100 * error:.1f} % (paired bootstrap)"
                    f"{_flag_note(flags)}"
                )
    return lines
