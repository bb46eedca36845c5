"""The evaluation step of the photon identification (rule evaluate_photon_id): the menus and
the classifiers on the test split, the menus on radiative Z photons, the tables and figures
(docs/photon-id.md#the-stage). Apart from the training steps (egcalib.photon_id.study), so a
change here reruns the evaluation alone.

The radiative-Z photons of data have no split: all of them are a test sample the training
never saw (no data trains anything here).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from egcalib.core.atomic import atomic_path
from egcalib.photon_id import evaluation, plotting
from egcalib.photon_id.candidates import SIGNAL
from egcalib.photon_id.study import TEST, menu_decisions


def _groups(frame: pd.DataFrame, binning: Mapping) -> dict[str, np.ndarray]:
    """Boolean masks of the evaluation's groups: inclusive, by conversion, and by E_T, |eta|
    and pile-up <mu> bins (config ``photon_id.binning``)."""
    converted = frame["converted"].to_numpy()
    groups = {"inclusive": np.ones(len(frame), bool), "unconverted": ~converted}
    groups["converted"] = converted
    for name, column in (("et", frame["et"]), ("abs_eta", frame["eta"].abs()), ("mu", frame["mu"])):
        groups.update(evaluation.bin_masks(column.to_numpy(), binning[name], name))
    return groups


def evaluate(
    frame: pd.DataFrame,
    radiative_z_data: pd.DataFrame,
    radiative_z_mc: pd.DataFrame,
    menu_file: dict,
    classifiers: Mapping[str, Callable[[pd.DataFrame], np.ndarray]],
    binning: Mapping,
    out: Mapping[str, str | Path],
) -> dict:
    """Evaluate the menus and the ``classifiers`` (name -> the scores (n,) of a frame's
    candidates; the first is the figures' main one) on the test split of ``frame`` and the
    menus on radiative Z photons; write ``out`` (working_points and radiative_z CSV, metrics
    JSON, the roc figure and efficiency_{et,abs_eta,mu} figures of the main classifier against the
    tight menu). The working points: per classifier, menu and group
    (_groups), the menu's efficiencies and the classifier's signal efficiency at the menu's
    background efficiency (evaluation.working_point_table). The radiative-Z photons of data
    (all of them) and of MC (test split, signal) give each menu's efficiency in data and MC
    and their scale factor (evaluation.data_mc_efficiency). Returns the metrics written."""
    test = frame[(frame["split"] == TEST) & (frame["label"] >= 0)].reset_index(drop=True)
    labels = test["label"].to_numpy()
    weights = test["weight"].to_numpy()
    decisions = dict(zip(("loose", "tight"), menu_decisions(menu_file, test)))
    scores = {name: score(test) for name, score in classifiers.items()}
    groups = _groups(test, binning)
    tables = {
        (name, menu): evaluation.working_point_table(scores[name], labels, passed, groups, weights)
        for name in scores
        for menu, passed in decisions.items()
    }
    working_points = pd.concat(
        [t.assign(classifier=name, menu=menu) for (name, menu), t in tables.items()],
        ignore_index=True,
    )
    radiative_z = _radiative_z(radiative_z_data, radiative_z_mc, menu_file)
    metrics = {
        "test_candidates": {
            "signal": int((labels == SIGNAL).sum()),
            "background": int((labels != SIGNAL).sum()),
        },
        "auc": {name: evaluation.roc_auc(s, labels, weights) for name, s in scores.items()},
        "working_points": json.loads(working_points.to_json(orient="records")),
        "radiative_z": json.loads(radiative_z.to_json(orient="records")),
    }
    with atomic_path(out["working_points"]) as tmp:
        working_points.to_csv(tmp, index=False)
    with atomic_path(out["radiative_z"]) as tmp:
        radiative_z.to_csv(tmp, index=False)
    with atomic_path(out["metrics"]) as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    main = next(iter(scores))
    inclusive = {
        menu: tables[(main, menu)].set_index("group").loc["inclusive"] for menu in decisions
    }
    menu_points = {
        menu: (float(row["menu_signal_eff"]), float(row["menu_background_eff"]))
        for menu, row in inclusive.items()
    }
    curves = {name: evaluation.roc_curve(s, labels, weights)[:2] for name, s in scores.items()}
    plotting.roc_figure(curves, menu_points, out["roc"])
    # E_T and |eta| as seed 003 shows them; <mu>: the pile-up dependence seed 004 shows.
    for variable in ("et", "abs_eta", "mu"):
        plotting.efficiency_figure(tables[(main, "tight")], variable, out[f"efficiency_{variable}"])
    return metrics


def _radiative_z(data: pd.DataFrame, mc: pd.DataFrame, menu_file: dict) -> pd.DataFrame:
    """Each menu's efficiency on the photons of radiative Z decays: all of ``data``'s, and the
    prompt photons of ``mc``'s test split; their scale factor."""
    mc = mc[(mc["split"] == TEST) & (mc["label"] == SIGNAL)].reset_index(drop=True)
    passed = {sample: menu_decisions(menu_file, z) for sample, z in (("data", data), ("mc", mc))}
    return pd.DataFrame(
        [
            {
                "menu": menu,
                **evaluation.data_mc_efficiency(
                    passed["data"][i], passed["mc"][i], mc["weight"].to_numpy()
                ),
            }
            for i, menu in enumerate(("loose", "tight"))
        ]
    )
