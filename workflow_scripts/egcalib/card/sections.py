"""Results-card sections (egcalib.card.results_card writes the card): photon models' rIQR for
unconverted and converted photons apart (seed 001's split) per dataset, from their metrics.json,
and, recomputed from the models' prediction files, every network (CNN or transformer) against
the BDT control of its particle and against the binned baseline on the same MC test objects.
Also the card's percentage format (``percent``, "n/a" with its flags for an undefined number)
and ``finite``, used here and in the card's other sections. And every cell-set model
(transformer) against the CNN with the same inputs, loss and training datasets, the comparison
issue 31 asks for.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from egcalib.evaluate.model_evaluation import object_categories, read_predictions
from egcalib.infer.prediction import KEY
from egcalib.skim.duplicates import read_reports
from egcalib.stats import metrics
from egcalib.stats.metrics import finite

# Seed 001: rIQR of unconverted and converted photon models (photons below 100 GeV).
SEED_PHOTONS = {"unconverted": 0.294, "converted": 0.199}


def percent(value: object, error: object = None, flags: object = "") -> str:
    """A fraction as a signed percentage, with its error and (in bold) its flags: "+12.3 +- 0.4
    % **FLAGGED: ...**". "n/a" when the value is missing or not finite, with the flags that say
    why (e.g. "n/a **FLAGGED: zero baseline width**"); never "nan". ``flags`` that are not a
    non-empty string (NaN from an empty CSV cell, None) are none."""
    note = f" **FLAGGED: {flags}**" if isinstance(flags, str) and flags else ""
    if finite(value):
        error_text = f" +- {100 * error:.1f}" if finite(error) else ""
        return f"{100 * value:+.1f}" + error_text + " %" + note
    return "n/a" + note


def photon_section(results: Path, table: pd.DataFrame) -> list[str]:
    """Photon models' rIQR for unconverted and converted photons apart (seed 001's split), over
    all their MC test photons and on each MC dataset (the photon gun, Z -> mumugamma), as the
    evaluation measured them (metrics.json ``categories``); an undefined rIQR (too few photons
    of a kind, a zero baseline width) is "n/a" with its flag."""
    lines = []
    for model in table.loc[
        (table["particle"] == "photon") & (table["model"] != "baseline_binned"), "model"
    ]:
        rows = json.loads((results / f"eval/{model}/metrics.json").read_text()).get(
            "categories", []
        )
        if not rows:
            continue
        lines += [
            f"## Photon model {model}: unconverted and converted photons",
            "",
            "| MC test photons | photons | objects | rIQR75 | rIQR95 | seed 001 rIQR |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            seed = SEED_PHOTONS.get(row["category"])
            lines.append(
                f"| {'all datasets' if row['dataset'] == 'all' else row['dataset']} | "
                f"{row['category']} | {row['n']} | "
                f"{percent(row['riqr75'], row['riqr75_error'], row['riqr75_flags'])} | "
                f"{percent(row['riqr95'], row['riqr95_error'], row['riqr95_flags'])} | "
                f"{'' if seed is None else f'{100 * seed:+.1f} %'} |"
            )
        lines.append("")
    return lines


ID_COLUMNS = ["dataset", *KEY]


def _mc_predictions(results: Path, model: str) -> pd.DataFrame:
    """A model's predictions for MC objects with truth (all its evaluation datasets): the files
    its evaluation read (metrics.json), not whatever else the folder holds."""
    metrics = json.loads((results / f"eval/{model}/metrics.json").read_text())
    # Without the later copies of repeated events, as the evaluation read them.
    later = read_reports(sorted((results / "skim").glob("*.duplicates.csv")))
    frame = read_predictions([results / path for path in metrics["predictions"]], later)
    return frame[np.isfinite(frame["e_truth"])] if len(frame) else frame


def _paired_cells(
    model_re: pd.Series, reference_re: pd.Series, n_bootstrap: int, names: tuple[str, str]
) -> str:
    """ "objects | rIQR75 | rIQR95" of the paired relative errors (metrics.summary) as table
    cells; a width that is zero or undefined is "n/a" with its flag."""
    s = metrics.summary(model_re.to_numpy(), reference_re.to_numpy(), n_bootstrap, names=names)
    return (
        f"{s['n']} | {percent(s['riqr75'], s['riqr75_error'], s['riqr75_flags'])} | "
        f"{percent(s['riqr95'], s['riqr95_error'], s['riqr95_flags'])}"
    )


def control_section(results: Path, table: pd.DataFrame, n_bootstrap: int = 200) -> list[str]:
    """Every network (CNN or transformer) against the BDT control of its particle and against the
    binned baseline: rIQR on the same MC test objects, paired bootstrap errors (positive: the
    model is better; "n/a" with its flag where a width is zero or undefined)."""
    kinds = table.drop_duplicates("model").set_index("model")["particle"]
    # A BDT control's deliverable is its LightGBM text model (a network's is model.keras).
    controls = {
        particle: model
        for model, particle in kinds.items()
        if (results / "models" / model / "model.txt").exists()
    }
    lines = []
    for model, particle in kinds.items():
        if model == "baseline_binned" or model in controls.values():
            continue
        frame = _mc_predictions(results, model)
        if frame.empty:
            continue
        re_model = frame["e_pred"] / frame["e_truth"]
        references = {}
        if particle in controls:
            control = _mc_predictions(results, controls[particle])
            joined = frame[ID_COLUMNS + ["e_truth", "e_pred"]].merge(
                control[ID_COLUMNS + ["e_pred"]], on=ID_COLUMNS, suffixes=("", "_control")
            )
            references[f"BDT control {controls[particle]}"] = (
                joined["e_pred"] / joined["e_truth"],
                joined["e_pred_control"] / joined["e_truth"],
                "control",
            )
        if "e_baseline_binned" in frame and np.isfinite(frame["e_baseline_binned"]).any():
            has = np.isfinite(frame["e_baseline_binned"])
            references["binned baseline"] = (
                re_model[has],
                frame.loc[has, "e_baseline_binned"] / frame.loc[has, "e_truth"],
                "binned",
            )
        for name, (model_re, reference_re, label) in references.items():
            cells = _paired_cells(model_re, reference_re, n_bootstrap, ("model", label))
            lines.append(f"| {model} | {name} | {cells} |")
    if not lines:
        return []
    return [
        "## Against the BDT control and the binned baseline (MC test objects)",
        "",
        "| model | reference | objects | rIQR75 | rIQR95 |",
        "|---|---|---|---|---|",
        *lines,
        "",
        "rIQR = 1 - eIQR(model) / eIQR(reference) on the same objects, paired "
        "bootstrap errors; positive: the model is better.",
        "",
    ]


def exported_spec(results: Path, model: str) -> dict | None:
    """The spec a model was exported with (its model.onnx's ``model_spec`` metadata, written by
    egcalib.infer.onnx_export and egcalib.bdt.calibration_onnx), or None when the run has no
    ONNX export of it. The export is the self-contained deliverable, so the card reads what a
    model is from it rather than from a config the card does not have."""
    import onnx

    path = results / "models" / model / "model.onnx"
    if not path.exists():
        return None
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return json.loads(props["model_spec"]) if "model_spec" in props else None


# What makes a CNN the same model as a transformer but for the reader of the cells.
SAME_MODEL_KEYS = ("film", "top", "loss", "train_on")


def _last_val_loss(results: Path, model: str) -> str:
    path = results / "models" / model / "history.csv"
    if not path.exists():
        return "n/a"
    history = pd.read_csv(path)
    return f"{history['val_loss'].iloc[-1]:.4f} ({len(history)} epochs)" if len(history) else "n/a"


def transformer_section(results: Path, table: pd.DataFrame, n_bootstrap: int = 200) -> list[str]:
    """Every cell-set model (``kind: transformer``) against the CNN of the run with the same
    inputs, loss and training datasets (SAME_MODEL_KEYS; its counterpart differs only in reading
    the cells as an image): rIQR on the same MC test objects, for photons also unconverted and
    converted apart, with paired bootstrap errors (positive: the transformer is better); its
    settings (egcalib/train/transformer.py) and both models' last validation loss (the same loss
    on the same targets). A transformer without such a CNN in the run gets a line saying so."""
    specs = {m: exported_spec(results, m) for m in table["model"].drop_duplicates()}
    particles = table.drop_duplicates("model").set_index("model")["particle"]
    cnns = {m: s for m, s in specs.items() if s and s["kind"] == "cnn"}
    rows, alone = [], []
    for model, spec in specs.items():
        if not spec or spec["kind"] != "transformer":
            continue
        same = [
            cnn
            for cnn, cnn_spec in cnns.items()
            if particles[cnn] == particles[model]
            and all(cnn_spec.get(k) == spec.get(k) for k in SAME_MODEL_KEYS)
        ]
        if not same:
            alone.append(model)
            continue
        settings = ", ".join(f"{k} {v}" for k, v in sorted(spec.get("transformer", {}).items()))
        mine = _mc_predictions(results, model)
        for cnn in same:
            joined = mine[ID_COLUMNS + ["e_truth", "e_pred", "conv_type"]].merge(
                _mc_predictions(results, cnn)[ID_COLUMNS + ["e_pred"]],
                on=ID_COLUMNS,
                suffixes=("", "_cnn"),
            )
            for category, mask in object_categories(joined, particles[model]).items():
                part = joined[mask]
                cells = _paired_cells(
                    part["e_pred"] / part["e_truth"],
                    part["e_pred_cnn"] / part["e_truth"],
                    n_bootstrap,
                    ("transformer", "CNN"),
                )
                rows.append(
                    f"| {model} | {cnn} | {category} | {cells} | "
                    + (
                        f"{settings} | {_last_val_loss(results, model)} | "
                        f"{_last_val_loss(results, cnn)} |"
                        if category == "all"
                        else "| | |"
                    )
                )
    if not rows and not alone:
        return []
    lines = ["## Cells as a set against cells as an image: each transformer and its CNN", ""]
    if rows:
        lines += [
            "| transformer | CNN | category | objects | rIQR75 | rIQR95 | transformer "
            "settings | transformer: last val loss | CNN: last val loss |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "rIQR = 1 - eIQR(transformer) / eIQR(CNN) on the same objects, paired bootstrap "
            "errors; positive: the transformer is better. The CNN has the transformer's film and "
            "top inputs, loss and training datasets.",
            "",
        ]
    lines += [
        f"- {model}: no CNN with its inputs, loss and training datasets in this run."
        for model in alone
    ]
    return lines + ([""] if alone else [])


# Seed 003 (ATLAS photon ID with a CNN): the CNN's efficiency at the tight menu's background
# rejection is about 20 % above the tight menu's (issue 29).
SEED_ID_GAIN = "about +20 points (seed 003)"


def photon_id_section(results: Path) -> list[str]:
    """The photon identification (results/photon_id/evaluation, when the run has it): each
    classifier's AUC and, inclusive and per conversion category, its prompt-photon efficiency
    at the tight menu's background efficiency beside the menu's (the gain with its bootstrap
    error); the tight menu's efficiency on radiative Z photons in data and MC and the scale
    factor. Empty without the stage's outputs."""
    evaluation = results / "photon_id/evaluation"
    if not (evaluation / "metrics.json").exists():
        return []
    metrics = json.loads((evaluation / "metrics.json").read_text())
    points = pd.read_csv(evaluation / "working_points.csv")
    test = metrics["test_candidates"]
    lines = [
        "## Photon identification: prompt photons against jets",
        "",
        f"Test split: {test['signal']} prompt photons, {test['background']} jet candidates. AUC: "
        + ", ".join(f"{name} {auc:.3f}" for name, auc in metrics["auc"].items())
        + ".",
        "",
        "| classifier | photons | tight menu: signal eff | tight menu: background eff | "
        "classifier: signal eff at the menu's background eff | gain [points] | seed |",
        "|---|---|---|---|---|---|---|",
    ]
    tight = points[(points["menu"] == "tight")]
    for _, row in tight[tight["group"].isin(["inclusive", "unconverted", "converted"])].iterrows():
        lines.append(
            f"| {row['classifier']} | {row['group']} | {row['menu_signal_eff']:.3f} | "
            f"{row['menu_background_eff']:.3f} | {row['id_signal_eff']:.3f} | "
            f"{row['gain_points']:+.1f} ± {row['gain_points_error']:.1f} | "
            f"{SEED_ID_GAIN if row['group'] == 'inclusive' else ''} |"
        )
    lines += [
        "",
        "| menu | radiative Z photons: data eff | MC eff | scale factor |",
        "|---|---|---|---|",
    ]
    for row in metrics["radiative_z"]:
        lines.append(
            f"| {row['menu']} | {row['eff_data']:.3f} ± {row['eff_data_error']:.3f} "
            f"({row['n_data']:.0f}) | {row['eff_mc']:.3f} ± {row['eff_mc_error']:.3f} "
            f"({row['n_mc']:.0f}) | {row['sf']:.3f} ± {row['sf_error']:.3f} |"
        )
    return [*lines, ""]
