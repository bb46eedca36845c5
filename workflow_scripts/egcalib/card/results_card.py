"""A results card: the run's numbers beside the seed's, written from the outputs of a finished run.

    python -m egcalib.card.results_card --results results --out docs/reference-results.md \
        --title "Reference run" \
        --command "snakemake --configfile config.yaml configs/reference.yaml"

Reads results/eval/ablation.csv, results/eval/{model}/metrics.json (the photon models' rIQR for
converted and unconverted photons apart, per dataset, among them), the models' predictions (the
BDT control, each transformer against its CNN), their ONNX metadata (what each model is) and
results/simulation/validation.json;
writes the Markdown card and copies the few figures it cites beside it. Nothing in the card is
typed by hand: rerun the command after the run to refresh it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from egcalib import __version__
from egcalib.card.sections import (
    control_section,
    percent,
    photon_id_section,
    photon_section,
    transformer_section,
)
from egcalib.core.provenance import cpu_model
from egcalib.stats.metrics import finite

# Seed 000's ablation table (relIQR75, relIQR95 against ATLAS's standard calibration, MC Z -> ee),
# keyed by the config's model names for the twelve film/top placements.
SEED_ABLATION = {
    "basic": (-0.121, -0.025),
    "film_scalars": (0.229, 0.257),
    "film_scalars_top_scalars": (0.229, 0.252),
    "film_scalars_top_scalars_tracks": (0.223, 0.251),
    "film_scalars_top_tracks": (0.226, 0.264),
    "film_scalars_tracks": (0.228, 0.265),
    "film_scalars_tracks_top_scalars_tracks": (0.210, 0.262),
    "film_tracks_top_scalars": (-0.042, -0.067),
    "film_tracks_top_tracks": (0.140, 0.149),
    "top_scalars": (-0.154, -0.131),
    "top_scalars_tracks": (0.213, 0.233),
    "top_tracks": (0.136, 0.164),
    # The recommended model is the film_scalars_top_tracks placement.
    "recommended": (0.226, 0.264),
}
# Seed 000: 1 - sigma_CB(model) / sigma_CB(baseline); 2.393 -> 1.831 GeV in MC Z -> ee, and in
# data 9.4 % (MC training), 5.9 % (data-label training), MC + data "greater than the sum".
SEED_SIGMA = {
    ("zee", "mc"): "23.5 +- 0.4 % (2.393 -> 1.831 GeV)",
    ("zee", "data"): "9.4 +- 0.9 % (MC training), 5.9 +- 0.9 % (data labels)",
}


def ablation_section(table: pd.DataFrame) -> list[str]:
    """The ablation rows (models and the binned reference) against the MVA baseline; an
    undefined (NaN) number is "n/a" with the flags of its ``*_flags`` column."""
    lines = [
        "## Ablation: every model against the MVA baseline (MC test objects)",
        "",
        "| model | particle | rIQR75 | rIQR95 | seed rIQR75 / rIQR95 | "
        "Z->ee MC 1 - sigma ratio | Z->ee data | Z->mumugamma MC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        seed = SEED_ABLATION.get(row["model"])
        seed_text = f"{100 * seed[0]:+.1f} / {100 * seed[1]:+.1f} %" if seed else ""
        fits = []
        for column in (
            "sigma_improvement_zee_mc",
            "sigma_improvement_zee_data",
            "sigma_improvement_zmumug_mc",
        ):
            fits.append(
                percent(row.get(column), row.get(f"{column}_error"), row.get(f"{column}_flags", ""))
            )
        lines.append(
            f"| {row['model']} | {row['particle']} | "
            f"{percent(row['riqr75'], row['riqr75_error'], row.get('riqr75_flags'))} | "
            f"{percent(row['riqr95'], row['riqr95_error'], row.get('riqr95_flags'))} | "
            f"{seed_text} | " + " | ".join(fits) + " |"
        )
    return lines + [
        "",
        "Errors: rIQR from a paired bootstrap of the objects; sigma_CB ratios "
        "from a paired bootstrap of the events (both fits on each resample; half "
        "the central 68 % interval). The "
        "`baseline_binned` row is the older binned calibration measured against the "
        "MVA baseline (negative: worse). A data fit whose `tail_from` column in "
        "`zfits.csv` names an MC dataset has its CB tail (alpha, n) fixed at that "
        "MC fit's, for the same energy (`evaluation.data_tail: mc`).",
    ]


# Seed 000's data experiment: the recommended model's data Z -> ee sigma_CB gain by what it
# trained on (MC + data: "greater than the sum" of the two, no number given).
SEED_DATA_GAIN = {"mc": "9.4 +- 0.9 %", "data": "5.9 +- 0.9 %", "mc+data": "> 9.4 + 5.9 %"}


def training_data_section(table: pd.DataFrame) -> list[str]:
    """The seed's MC / data / combined training experiment: each electron model's Z -> ee
    sigma_CB gain in MC and in data by what it trained on, and the drop from MC to data (its
    error: the two gains' errors in quadrature, MC and data being independent events). Empty
    when the table has no data Z -> ee fits or no ``trained_on`` column (an older run)."""
    if "trained_on" not in table or "sigma_improvement_zee_data" not in table:
        return []
    rows = table[(table["particle"] == "electron") & table["trained_on"].isin(SEED_DATA_GAIN)]
    if rows.empty:
        return []
    lines = [
        "## Training on MC, on data, on both: Z -> ee data",
        "",
        "| model | trained on | Z->ee MC 1 - sigma ratio | Z->ee data | MC - data | seed, data |",
        "|---|---|---|---|---|---|",
    ]
    for _, row in rows.iterrows():
        mc, data = row["sigma_improvement_zee_mc"], row["sigma_improvement_zee_data"]
        mc_error = row["sigma_improvement_zee_mc_error"]
        data_error = row["sigma_improvement_zee_data_error"]
        drop = percent(mc - data, float(np.hypot(mc_error, data_error)))
        lines.append(
            f"| {row['model']} | {row['trained_on']} | "
            f"{percent(mc, mc_error, row.get('sigma_improvement_zee_mc_flags', ''))} | "
            f"{percent(data, data_error, row.get('sigma_improvement_zee_data_flags', ''))} | "
            f"{drop} | {SEED_DATA_GAIN[row['trained_on']]} |"
        )
    return lines + [
        "",
        "MC training learns the truth, data training the Z-mass labels "
        "(docs/design.md#selections-and-labels). In the seed the MC-trained model loses most "
        "of its MC gain in data (target mismatch), and MC + data training gains more than MC "
        "and data training together.",
        "",
    ]


def baseline_section(results: Path) -> list[str]:
    """The MVA and binned baselines' Z -> ee sigma_CB in MC, and what each detector effect costs."""
    path = results / "simulation/validation.json"
    if not path.exists():
        return []
    validation = json.loads(path.read_text())
    lines = ["## The baseline and the toy detector", ""]
    peak = validation.get("zee_sigma_cb")
    if peak:
        for name in ("mva", "binned"):
            fit = peak[name]
            value = (
                f"{fit['sigma_cb']:.3f} +- {fit['sigma_cb_error']:.3f} GeV"
                if "sigma_cb" in fit
                else f"fit failed: {fit.get('fit_error')}"
            )
            lines.append(
                f"- {name} baseline, MC Z -> ee sigma_CB: {value}"
                + (f" **FLAGGED: {', '.join(fit['flags'])}**" if fit.get("flags") else "")
            )
        lines.append(
            f"- anchor {peak['anchor'][0]}-{peak['anchor'][1]} GeV; the seed's ATLAS MC: "
            f"{peak['seed_atlas_mc']} GeV; in the anchor: {peak['in_anchor']}"
        )
    effects = validation.get("effects")
    if effects:
        lines += [
            "",
            "| detector variant (own MVA calibration) | sigma_CB [GeV] | both in the barrel "
            "(< 1.37) | one or both in the end-cap (> 1.52) | eIQR75 |",
            "|---|---|---|---|---|",
        ]
        for label, row in effects.items():
            sigmas = [
                f"{row[f'sigma_cb{suffix}']:.3f} +- {row[f'sigma_cb_error{suffix}']:.3f}"
                if f"sigma_cb{suffix}" in row
                else "fit failed"
                if f"fit_error{suffix}" in row
                else "n/a"
                for suffix in ("", "_barrel", "_endcap")
            ]
            eiqr75 = f"{100 * row['eiqr75']:.2f} %" if finite(row.get("eiqr75")) else "n/a"
            lines.append(f"| {label} | {' | '.join(sigmas)} | {eiqr75} |")
    return lines


def mdn_section(results: Path, table: pd.DataFrame) -> list[str]:
    """The MDN models' pull width and 68 / 95 % coverage on the test objects; where the pulls
    are too few for a width (NaN), "n/a" with the flag of the pulls."""
    lines = []
    for model in table["model"]:
        path = results / "eval" / model / "metrics.json"
        pulls = json.loads(path.read_text()).get("pulls") if path.exists() else None
        if pulls and not finite(pulls.get("pull_width")):
            flags = pulls.get("flags") or "undefined width"
            lines.append(f"- {model}: pull width n/a **FLAGGED: {flags}** ({pulls['n']} objects)")
        elif pulls:
            lines += [
                f"- {model}: pull width {pulls['pull_width']:.3f}, 68 % coverage "
                f"{100 * pulls['coverage68']:.1f} %, 95 % coverage "
                f"{100 * pulls['coverage95']:.1f} % ({pulls['n']} objects; target width "
                "0.9-1.1, 68 % coverage 64-72 %)"
            ]
    note = (
        "Test objects; each MDN model's sigma is scaled after training by the 68.27 % quantile "
        "of |pull| on its validation objects (egcalib/train/sigma_calibration.py)."
    )
    return ["## Per-object resolution (MDN models)", "", note, "", *lines, ""] if lines else []


FIGURES = (
    "eval/ablation.png",
    "simulation/plots/effects.png",
    *(
        f"photon_id/evaluation/{name}.png"
        for name in ("roc", "efficiency_et", "efficiency_abs_eta", "efficiency_mu")
    ),
)


PRODUCTION = ("ntuples", "skim", "shards", "models")  # evaluation may be rerun alone later


def run_span_minutes(results: Path, models: list[str] | None = None) -> float:
    """Minutes between the first and the last file the run's production wrote (ntuples to
    trained models; modification times); of the trained models, only ``models`` where given
    (those of the card: an overlay's models trained later into the same folder are another
    run's)."""
    times = [
        p.stat().st_mtime
        for stage in PRODUCTION
        for p in (results / stage).rglob("*")
        if p.is_file()
        and (
            models is None or stage != "models" or p.relative_to(results / stage).parts[0] in models
        )
    ]
    return (max(times) - min(times)) / 60 if times else float("nan")


def insitu_section(results: Path, table: pd.DataFrame) -> list[str]:
    """The in-situ scale factors of Z -> ee data per energy hypothesis (from each model's Z fits;
    empty when the run did not calibrate its data)."""
    alphas: dict = {}
    for model in table["model"].drop_duplicates():
        path = results / f"eval/{model}/zfits.csv"
        if not path.exists():
            continue
        fits = pd.read_csv(path, keep_default_na=False)
        if "insitu_alpha" not in fits:
            continue
        for _, fit in fits[(fits["kind"] == "data") & (fits["insitu_alpha"] != "")].iterrows():
            alphas.setdefault(fit["energy"], fit["insitu_alpha"])
    if not alphas:
        return []
    return [
        "## In-situ scale of Z -> ee data",
        "",
        "alpha per |eta| bin of `evaluation.insitu_eta_edges` (E_data = E (1 + alpha)), "
        "from the data / MC Z peaks of the (eta_i, eta_j) categories, per energy:",
        "",
        "| energy | alpha per bin |",
        "|---|---|",
        *[f"| {energy} | {values} |" for energy, values in alphas.items()],
        "",
    ]


def cpu_line(results: Path) -> str:
    """Which CPU the networks trained on, from the training logs (``CPU: ...``); the CPU of the
    machine writing the card, said so, where the logs name none. The CNNs' numbers are the same
    on one machine type only (docs/reproducibility.md)."""
    names = set()
    for log in sorted((results / "logs" / "train").glob("*.log")):
        names.update(re.findall(r"CPU: (.+)$", log.read_text(errors="replace"), re.M))
    if names:
        return f"The networks trained on: {', '.join(sorted(names))}."
    return (
        f"CPU: {cpu_model()} (that of the machine writing this card: the training logs name none)."
    )


def write_card(results: str | Path, out: str | Path, title: str, command: str) -> Path:
    """Write the card to ``out`` and its figures to ``out``'s stem folder; returns ``out``. A
    run without the energy models' comparison (``eval/ablation.csv``: e.g. the photon-ID stage
    run alone) gets the sections whose outputs it has."""
    results, out = Path(results), Path(out)
    ablation = results / "eval/ablation.csv"
    table = pd.read_csv(ablation) if ablation.exists() else None
    span = run_span_minutes(results, None if table is None else list(table["model"]))
    figures = out.parent / out.stem
    figures.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# {title}",
        "",
        f"Written by `python -m egcalib.card.results_card` (egcalib {__version__}) from the "
        f"outputs of `{command}`; the seed's values are those of the DeepCalo talk (seed 000) "
        f"and, for photons, seed 001. The run wrote its ntuples, skims, shards and models over "
        f"{span:.0f} minutes (first to last file). {cpu_line(results)}",
        "",
    ]
    if table is not None:
        lines += ablation_section(table) + [""]
        lines += [
            f"Seed, sigma_CB: MC Z -> ee {SEED_SIGMA[('zee', 'mc')]}; data Z -> ee "
            f"{SEED_SIGMA[('zee', 'data')]}.",
            "",
        ]
        lines += control_section(results, table)
        lines += transformer_section(results, table)
        lines += training_data_section(table)
        lines += insitu_section(results, table)
        lines += photon_section(results, table) + mdn_section(results, table)
    lines += photon_id_section(results)
    lines += baseline_section(results) + [""]
    for figure in FIGURES:
        if (results / figure).exists():
            shutil.copyfile(results / figure, figures / Path(figure).name)
            lines.append(f"![{Path(figure).stem}]({figures.name}/{Path(figure).name})")
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    # No default: a card is written where its run is documented, never over another by accident.
    parser.add_argument("--out", required=True)
    parser.add_argument("--title", default="Reference run: results card")
    parser.add_argument("--command", default="snakemake --cores all")
    args = parser.parse_args(argv)
    print(write_card(args.results, args.out, args.title, args.command))


if __name__ == "__main__":
    main()
