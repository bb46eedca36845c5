"""The comparison of all models (docs/design.md#evaluation): the seed's ablation table (with a row
of the binned reference per particle where the ntuples carry it) and the recommended model's
summary, from each model's metrics.json.

A number that degenerate statistics leave undefined (a zero or undefined width, too few objects)
is NaN in metrics.json and the table, with its flags in the ``*_flags`` column beside it; the
summary writes it as "n/a (FLAGGED: ...)", never as "nan %".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from egcalib.core.atomic import atomic_path
from egcalib.evaluate import plotting
from egcalib.evaluate.z_fits import BINNED
from egcalib.stats.metrics import finite

INCLUSIVE_COLUMNS = (
    "riqr75",
    "riqr75_error",
    "riqr75_flags",
    "riqr95",
    "riqr95_error",
    "riqr95_flags",
    "eiqr75_model",
    "eiqr75_baseline",
)
NO_MC = "no MC objects with truth"  # the flag of a model's rIQR when it had none to measure
ZERO_BASELINE = "zero baseline width"  # a reference width of 0 (as metrics.riqr flags it)


def _nan_for_none(value) -> float:
    """A number from metrics.json (NaN where it was NaN or null)."""
    return float(value) if finite(value) else np.nan


def _flagged(flags) -> bool:
    """Whether ``flags`` (a flags entry: a string, or NaN where a CSV cell was empty) says
    anything."""
    return isinstance(flags, str) and bool(flags)


def _join_flags(*flags) -> str:
    """The non-empty flags strings, "; "-joined, each once."""
    return "; ".join(dict.fromkeys(f for f in flags if _flagged(f)))


def _fit_columns(fits, energy: str) -> dict:
    """sigma_improvement_{process}_{kind} (its paired-bootstrap error and its flags) of one
    energy hypothesis's fits: where it is finite, or NaN with flags saying why (a zero baseline
    sigma_CB); a failed fit has neither and no columns."""
    columns: dict = {}
    for fit in fits:
        improvement = fit.get("sigma_improvement")  # null in JSON when a fit failed or was NaN
        flags = fit.get("sigma_improvement_flags")
        if fit["energy"] == energy and (finite(improvement) or _flagged(flags)):
            column = f"sigma_improvement_{fit['process']}_{fit['kind']}"
            error = fit.get("sigma_improvement_error")
            columns[column] = improvement if finite(improvement) else np.nan
            columns[f"{column}_error"] = error if finite(error) else np.nan
            columns[f"{column}_flags"] = flags if _flagged(flags) else ""
    return columns


def _flag_note(flags) -> str:
    """The warning that goes beside a flagged number (empty when there is none)."""
    return f" (FLAGGED: {flags})" if _flagged(flags) else ""


def _inverted(improvement, error, flags, zero: str) -> tuple[float, float, str]:
    """1 - 1 / (1 - x) and its first-order error from x = ``improvement`` = 1 - a / b (so
    1 - b / a): NaN with the flag ``zero`` added where a = 0 (1 - x is not positive), and NaN
    with ``flags`` unchanged where x is NaN; never raises."""
    flags = flags if _flagged(flags) else ""
    if not finite(improvement):
        return np.nan, np.nan, flags
    keep = 1.0 - improvement
    if not keep > 0:
        return np.nan, np.nan, _join_flags(flags, zero)
    return 1.0 - 1.0 / keep, (error / keep**2 if finite(error) else np.nan), flags


def binned_step(summary: dict) -> dict | None:
    """The step from the binned reference to the MVA baseline in one model's metrics: rIQR
    75/95 of the baseline against the binned energy (with riqr{q}_flags), their eIQR75, and per
    Z dataset 1 - sigma_CB(baseline) / sigma_CB(binned) as (value, error, flags). None when the
    metrics have no binned energy. Undefined values (a zero binned sigma_CB, a zero or
    undefined width) are NaN with flags, never an exception."""
    inclusive = summary.get("inclusive", {})
    step: dict = {"fits": {}}
    for fit in summary["z_fits"]:
        improvement = fit.get("sigma_improvement")
        flags = fit.get("sigma_improvement_flags")
        if fit["energy"] == BINNED and (finite(improvement) or _flagged(flags)):
            # 1 - baseline / binned from the stored paired 1 - binned / baseline (first order).
            step["fits"][(fit["process"], fit["kind"])] = _inverted(
                improvement, fit.get("sigma_improvement_error"), flags, "zero binned sigma"
            )
    if "eiqr75_baseline_binned" in inclusive:
        for q in (75, 95):
            step[f"riqr{q}"] = _nan_for_none(inclusive[f"riqr{q}_baseline_vs_binned"])
            step[f"riqr{q}_error"] = _nan_for_none(inclusive[f"riqr{q}_baseline_vs_binned_error"])
            step[f"riqr{q}_flags"] = inclusive.get(f"riqr{q}_baseline_vs_binned_flags") or ""
        step["eiqr75_binned"] = _nan_for_none(inclusive["eiqr75_baseline_binned"])
        # The baseline's eIQR75 on the same objects (those with a binned energy).
        step["eiqr75_baseline"] = step["eiqr75_binned"] * (1.0 - step["riqr75"])
    elif not step["fits"]:
        return None
    return step


def _binned_row(step: dict, particle: str, fits) -> dict:
    """The binned reference as a row of the ablation table, measured against the MVA baseline
    like the models (rIQR = 1 - eIQR_binned / eIQR_baseline, negative where it is worse)."""
    row: dict = {"model": BINNED, "particle": particle}
    if "riqr75" in step:
        for q in (75, 95):
            # 1 - binned / MVA from the stored 1 - MVA / binned (first-order error).
            row[f"riqr{q}"], row[f"riqr{q}_error"], row[f"riqr{q}_flags"] = _inverted(
                step[f"riqr{q}"], step[f"riqr{q}_error"], step[f"riqr{q}_flags"], ZERO_BASELINE
            )
        row["eiqr75_model"] = step["eiqr75_binned"]
        row["eiqr75_baseline"] = step["eiqr75_baseline"]
    return {**row, **_fit_columns(fits, BINNED)}


def compare(metric_paths: Iterable[str | Path], recommended: str, out: dict) -> pd.DataFrame:
    """The seed's ablation table over all models (plus, where the ntuples carry it, a row of the
    binned reference per particle), and the recommended model's summary."""
    rows, binned_rows, steps = [], [], {}
    for path in metric_paths:
        summary = json.loads(Path(path).read_text())
        inclusive = summary.get("inclusive") or {
            "riqr75_flags": NO_MC,
            "riqr95_flags": NO_MC,
        }
        rows.append(
            {
                "model": summary["model"],
                "particle": summary["particle"],
                "trained_on": summary.get("trained_on", ""),
                **{
                    k: inclusive.get(k, "" if k.endswith("_flags") else np.nan)
                    for k in INCLUSIVE_COLUMNS
                },
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


def _percent(value) -> str:
    """100 * ``value`` with one decimal and a per cent sign; "n/a" where it is missing or NaN."""
    return f"{100 * value:.1f} %" if finite(value) else "n/a"


def _number(value) -> str:
    """``value`` with four decimals; "n/a" where it is missing or NaN."""
    return f"{value:.4f}" if finite(value) else "n/a"


def _value_error(value, error) -> str:
    """ "x +- e %" in per cent; "n/a" for a missing or NaN value, "x % (error n/a)" for a
    missing or NaN error."""
    if not finite(value):
        return "n/a"
    if not finite(error):
        return f"{100 * value:.1f} % (error n/a)"
    return f"{100 * value:.1f} +- {100 * error:.1f} %"


def _riqr_flags(r) -> str:
    """The flags of rIQR75 and rIQR95 of a row or step: once where they agree, else each named."""
    flags = {
        q: r.get(f"riqr{q}_flags") if _flagged(r.get(f"riqr{q}_flags")) else "" for q in (75, 95)
    }
    if flags[75] == flags[95]:
        return flags[75]
    return "; ".join(f"rIQR{q}: {flags[q]}" for q in (75, 95) if flags[q])


def _riqr_line(r, reference: str, other: str) -> str:
    """The seed's form "x % improvement in eIQR75 (+- e %), y % in eIQR95 (eIQR75: ...)", "n/a"
    with the flags where a value is undefined."""
    return (
        f"- {_percent(r['riqr75'])} improvement in eIQR75 "
        f"(+- {_percent(r['riqr75_error'])}), {_percent(r['riqr95'])} in eIQR95 "
        f"(eIQR75: {reference} {_number(r[f'eiqr75_{reference}'])}, "
        f"{other} {_number(r[f'eiqr75_{other}'])}){_flag_note(_riqr_flags(r))}"
    )


def _summary_lines(rows: pd.DataFrame) -> list[str]:
    """The seed's form: "x % improvement in eIQR75", "1 - sigma_CB^model / sigma_CB^baseline";
    an undefined (NaN) number is written "n/a" with its flags."""
    if not len(rows):
        return []
    r = rows.iloc[0]
    lines = [_riqr_line(r, "baseline", "model")]
    for process, name in Z_PROCESSES:
        for kind in ("mc", "data"):
            column = f"sigma_improvement_{process}_{kind}"
            flags = r.get(f"{column}_flags")
            if column in r and (finite(r[column]) or _flagged(flags)):
                lines.append(
                    f"- {name} {kind}: 1 - sigma_CB^model / sigma_CB^baseline = "
                    f"{_value_error(r[column], r.get(f'{column}_error'))} "
                    f"(paired bootstrap){_flag_note(flags)}"
                )
    return lines


def _binned_lines(step: dict) -> list[str]:
    """The MVA baseline's own step over the binned reference, in the seed's form ("n/a" with the
    flags where a number is undefined)."""
    lines = []
    if "riqr75" in step:
        lines.append(_riqr_line(step, "binned", "baseline"))
    for process, name in Z_PROCESSES:
        for kind in ("mc", "data"):
            if (process, kind) in step["fits"]:
                value, error, flags = step["fits"][(process, kind)]
                lines.append(
                    f"- {name} {kind}: 1 - sigma_CB^baseline / sigma_CB^binned = "
                    f"{_value_error(value, error)} (paired bootstrap){_flag_note(flags)}"
                )
    return lines
