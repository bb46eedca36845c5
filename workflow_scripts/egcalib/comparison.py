"""The comparison of all models (docs/design.md section 9): the seed's ablation table (with a row
of the binned reference per particle where the ntuples carry it) and the recommended model's
summary, from each model's metrics.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from egcalib import plotting
from egcalib.atomic import atomic_path
from egcalib.zfits import BINNED

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
