"""Photon-ID figures in the project's HEP style (mplhep's ATLAS style, Agg backend, written
atomically by egcalib.core.atomic.save_figure, as egcalib.evaluate.plotting): background
rejection against signal efficiency with the cut-based menus as markers, and the signal
efficiency of the menu and the classifier in bins of a variable (egcalib.photon_id.evaluation
working-point tables)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mplhep
import numpy as np

from egcalib.core.atomic import save_figure

if TYPE_CHECKING:
    import pandas as pd

plt.style.use(mplhep.style.ATLAS)

MARKERS = ("o", "s", "^", "v", "D", "P")


def roc_figure(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    working_points: Mapping[str, tuple[float, float]],
    path: str | Path,
) -> None:
    """Background rejection (1 / background efficiency, log scale) against signal efficiency.

    ``curves``: label -> (signal_eff, background_eff), each (k,) (egcalib.photon_id.evaluation
    roc_curve); points without background (rejection infinite) are not drawn.
    ``working_points``: label -> (signal_eff, background_eff) of a cut-based menu (e.g.
    "loose", "tight"), drawn as markers. Writes a PNG to ``path``."""
    fig, ax = plt.subplots(figsize=(8, 6), layout="constrained")
    for label, (signal_eff, background_eff) in curves.items():
        signal_eff, background_eff = np.asarray(signal_eff), np.asarray(background_eff)
        drawn = background_eff > 0
        ax.plot(signal_eff[drawn], 1 / background_eff[drawn], linewidth=2, label=label)
    for i, (label, (sig, bkg)) in enumerate(working_points.items()):
        if bkg > 0:
            ax.plot(
                sig,
                1 / bkg,
                MARKERS[i % len(MARKERS)],
                color="black",
                markersize=9,
                label=f"{label} ({100 * sig:.1f} %, rejection {1 / bkg:.1f})",
            )
    ax.set_yscale("log")
    ax.set(xlabel="signal efficiency", ylabel="background rejection", xlim=(0, 1.02))
    ax.legend(fontsize="small")
    save_figure(fig, path)


def _bins(groups: pd.Series, variable: str) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges of the ``{variable}_{lo}_{hi}`` groups (bin_masks names)."""
    edges = groups.str.removeprefix(f"{variable}_").str.split("_", n=1)
    return (
        np.array([float(lo) for lo, _ in edges]),
        np.array([float(hi) for _, hi in edges]),
    )


def efficiency_figure(table: pd.DataFrame, variable: str, path: str | Path) -> None:
    """The signal efficiency of the menu and of the classifier at the menu's background
    efficiency in the bins of ``variable``: the rows of ``table`` (working_point_table) whose
    group is named ``{variable}_{lo}_{hi}`` (bin_masks; e.g. variable "et" for "et_10_20"),
    with the menu's Clopper-Pearson intervals and the classifier's bootstrap errors, and the
    classifier's gain in points below. Bins without signal or background are left out. Writes a
    PNG to ``path``; raises ValueError when ``table`` has no bins of ``variable``."""
    pattern = rf"^{re.escape(variable)}_[-+0-9.e]+_[-+0-9.e]+$"
    rows = table[table["group"].str.match(pattern)]
    if rows.empty:
        raise ValueError(f"efficiency figure: no groups {variable}_<lo>_<hi> in the table")
    lo, hi = _bins(rows["group"], variable)
    centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    fig, (ax, gain_ax) = plt.subplots(
        2,
        1,
        figsize=(8, 7),
        sharex=True,
        height_ratios=(3, 1),
        layout="constrained",
    )
    menu = rows["menu_signal_eff"].to_numpy()
    ax.errorbar(
        centre,
        menu,
        xerr=half,
        yerr=[menu - rows["menu_signal_eff_low"], rows["menu_signal_eff_high"] - menu],
        fmt="o",
        label="menu",
    )
    ax.errorbar(
        centre,
        rows["id_signal_eff"],
        xerr=half,
        yerr=rows["id_signal_eff_error"],
        fmt="s",
        label="classifier at the menu's background efficiency",
    )
    ax.set(ylabel="signal efficiency")
    ax.legend(fontsize="small")
    gain_ax.errorbar(
        centre, rows["gain_points"], xerr=half, yerr=rows["gain_points_error"], fmt="s", color="C1"
    )
    gain_ax.axhline(0, color="grey", linewidth=1)
    label = {"et": "ET [GeV]", "abs_eta": "|eta|", "mu": "<mu>"}.get(variable, variable)
    gain_ax.set(xlabel=label, ylabel="gain [points]")
    save_figure(fig, path)
