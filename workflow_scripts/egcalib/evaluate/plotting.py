"""Evaluation figures in HEP style (mplhep), written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mplhep
import numpy as np
import numpy.typing as npt
from hist.intervals import poisson_interval
from matplotlib.colors import LogNorm

from egcalib.core.atomic import save_figure
from egcalib.stats.metrics import eiqr

if TYPE_CHECKING:
    import pandas as pd

    from egcalib.stats.bw_cb import FitResult

plt.style.use(mplhep.style.ATLAS)


def relative_error_histograms(
    re_baseline: npt.ArrayLike,
    re_model: npt.ArrayLike,
    path: str | Path,
    label: str = "model",
    re_binned: npt.ArrayLike | None = None,
) -> None:
    """E / E_true of the baseline and the model, and of the binned reference where it is
    finite (dashed; ``re_binned`` None or all NaN: not drawn)."""
    fig, ax = plt.subplots(figsize=(8, 6), layout="constrained")
    bins = np.linspace(0.9, 1.1, 81)
    if re_binned is not None and np.isfinite(re_binned).any():
        re_binned = np.asarray(re_binned)[np.isfinite(re_binned)]
        ax.hist(
            np.clip(re_binned, bins[0], bins[-1]),
            # Axes.hist takes an array of edges; matplotlib's stubs say Sequence[float].
            bins=bins,  # type: ignore[arg-type]
            histtype="step",
            linewidth=1.5,
            linestyle="--",
            color="grey",
            label=f"binned baseline: eIQR75 {eiqr(re_binned, 75):.4f}, "
            f"eIQR95 {eiqr(re_binned, 95):.4f}",
        )
    for name, values in (("baseline", re_baseline), (label, re_model)):
        ax.hist(
            np.clip(values, bins[0], bins[-1]),
            # Axes.hist takes an array of edges; matplotlib's stubs say Sequence[float].
            bins=bins,  # type: ignore[arg-type]
            histtype="step",
            linewidth=2,
            label=f"{name}: eIQR75 {eiqr(values, 75):.4f}, eIQR95 {eiqr(values, 95):.4f}",
        )
    ax.set(xlabel="E / E_true", ylabel="objects")
    ax.legend(fontsize="small", loc="upper left")
    save_figure(fig, path)


def et_2d(
    et_true: np.ndarray,
    et_baseline: np.ndarray,
    et_model: np.ndarray,
    path: str | Path,
    label: str = "model",
) -> None:
    """ET_pred against ET_true for the baseline and the model, objects per bin on one
    logarithmic colour scale (as the seed's figures)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 6), layout="constrained")
    bins = np.linspace(10, 100, 46)
    counts = [
        np.histogram2d(et_true, values, bins=[bins, bins])[0].max()
        for values in (et_baseline, et_model)
    ]
    norm = LogNorm(vmin=1, vmax=max(max(counts), 10))
    for ax, (name, values) in zip(axes, (("baseline", et_baseline), (label, et_model))):
        *_, mesh = ax.hist2d(et_true, values, bins=[bins, bins], cmap="viridis", cmin=1, norm=norm)
        ax.plot(bins, bins, "w--", linewidth=1)
        ax.set(xlabel="ET_true [GeV]", ylabel=f"ET_pred [GeV] ({name})")
    fig.colorbar(mesh, ax=axes, label="objects per bin")
    save_figure(fig, path)


def eiqr_vs_eta(table: pd.DataFrame, path: str | Path, label: str = "model") -> None:
    """eIQR75 against |eta| per ET bin for baseline and model, and the relative improvement."""
    fig, axes = plt.subplots(1, 3, figsize=(19, 6), layout="constrained")
    for (et_lo, et_hi), rows in table.groupby(["et_lo", "et_hi"]):
        centre = 0.5 * (rows["abs_eta_lo"] + rows["abs_eta_hi"])
        tag = f"ET {et_lo}-{et_hi} GeV"
        axes[0].plot(centre, rows["eiqr75_baseline"], "o-", label=tag)
        axes[1].plot(centre, rows["eiqr75_model"], "o-", label=tag)
        axes[2].errorbar(centre, rows["riqr75"], rows["riqr75_error"], fmt="o-", label=tag)
    axes[0].set(title="baseline", ylabel="eIQR75")
    axes[1].set(title=label, ylabel="eIQR75")
    axes[2].set(title="relative improvement", ylabel="rIQR75 = 1 - eIQR_model / eIQR_baseline")
    axes[2].axhline(0, color="grey", linewidth=1)
    for ax in axes:
        ax.set_xlabel("|eta|")
    axes[0].legend(fontsize="x-small")
    save_figure(fig, path)


def closure(table: pd.DataFrame, path: str | Path) -> None:
    """Calibration closure: the response peak (E / E_true, stats.response) against |eta|, one
    panel per E_true bin, one line per energy hypothesis (``closure_table``'s rows); a bin
    without a peak is left out of its line."""
    energy_bins = list(table.groupby(["e_lo", "e_hi"], sort=True))
    if not energy_bins:
        placeholder(path, "no MC objects with truth for the closure")
        return
    fig, axes = plt.subplots(
        1, len(energy_bins), figsize=(5 * len(energy_bins), 5), layout="constrained", sharey=True
    )
    for ax, ((e_lo, e_hi), rows) in zip(np.atleast_1d(axes), energy_bins):
        for name, line in rows.groupby("hypothesis", sort=False):
            centre = 0.5 * (line["abs_eta_lo"] + line["abs_eta_hi"])
            ax.errorbar(centre, line["peak"], line["peak_error"], fmt="o-", label=name)
        ax.axhline(1.0, color="grey", linewidth=1)
        ax.set(title=f"E_true {e_lo:g}-{e_hi:g} GeV", xlabel="|eta|")
    np.atleast_1d(axes)[0].set_ylabel("response peak of E / E_true")
    np.atleast_1d(axes)[0].legend(fontsize="small")
    save_figure(fig, path)


def z_fit(result: FitResult, path: str | Path, title: str) -> None:
    """Data points, fitted curve, parameter box and pull panel."""
    fig, (ax, pull_ax) = plt.subplots(
        2,
        1,
        figsize=(9, 8),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": [3, 1]},
    )
    centres = 0.5 * (result.edges[1:] + result.edges[:-1])
    # Poisson (Garwood) intervals: empty bins get an upper error only, nothing below zero.
    lower, upper = poisson_interval(result.counts)
    ax.errorbar(
        centres,
        result.counts,
        [result.counts - lower, upper - result.counts],
        fmt="k.",
        markersize=3,
        label="events",
    )
    ax.plot(result.curve_x, result.curve_y, "r-", label=r"BW $\otimes$ CB fit")
    v, e = result.values, result.errors
    box = (
        rf"$\sigma_\mathrm{{CB}}$ = {v['sigma']:.3f} $\pm$ {e['sigma']:.3f} GeV"
        "\n"
        rf"$\mu_\mathrm{{CB}}$ = {v['mean']:.3f} $\pm$ {e['mean']:.3f} GeV"
        "\n"
        rf"$\alpha_\mathrm{{CB}}$ = {v['alpha']:.2f} $\pm$ {e['alpha']:.2f}"
        "\n"
        rf"$n_\mathrm{{CB}}$ = {v['n']:.2f} $\pm$ {e['n']:.2f}"
        "\n"
        f"N = {v['yield']:.0f}\n"
        rf"$\chi^2$/ndf = {result.chi2:.0f}/{result.ndf}"
        + (f"\nfixed: {', '.join(result.fixed)}" if result.fixed else "")
        + (f"\nFLAGGED: {', '.join(result.flags)}" if result.flags else "")
    )
    ax.text(
        0.03,
        0.95,
        box,
        transform=ax.transAxes,
        va="top",
        fontsize="small",
        color="red" if result.flags else "black",
        bbox={"facecolor": "white", "alpha": 0.8},
    )
    ax.set(
        ylabel=f"events / {result.edges[1] - result.edges[0]:.1f} GeV", title=title, ylim=(0, None)
    )
    ax.legend(loc="upper right", fontsize="small")
    pulls = (result.counts - result.expected) / np.sqrt(np.maximum(result.expected, 1e-9))
    pull_ax.stairs(pulls, result.edges, baseline=0, fill=True, color="grey")  # one artist
    pull_ax.axhline(0, color="r")
    pull_ax.set(xlabel="invariant mass [GeV]", ylabel="pull", ylim=(-5, 5))
    save_figure(fig, path)


def ablation(table: pd.DataFrame, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(table) + 2), layout="constrained")
    y = np.arange(len(table))
    ax.barh(y - 0.2, table["riqr75"], 0.4, xerr=table["riqr75_error"], label="rIQR75")
    ax.barh(y + 0.2, table["riqr95"], 0.4, xerr=table["riqr95_error"], label="rIQR95")
    ax.set_yticks(y, table["model"])
    ax.axvline(0, color="grey")
    ax.set(xlabel="relative improvement over the baseline")
    ax.legend()
    save_figure(fig, path)


def pulls(values: np.ndarray, table: pd.DataFrame, path: str | Path, label: str = "model") -> None:
    """Pull distribution against the unit Gaussian, and the 68 % / 95 % coverage per |eta| bin."""
    from scipy.stats import norm

    fig, (ax, cov_ax) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    values = values[np.isfinite(values)]
    ax.hist(
        np.clip(values, -6, 6),
        bins=60,
        range=(-6, 6),
        density=True,
        histtype="step",
        label=f"{label}: (E_pred - E_true) / sigma_E",
    )
    grid = np.linspace(-6, 6, 300)
    ax.plot(grid, norm.pdf(grid), "k--", label="unit Gaussian")
    inclusive = table[table["bin"] == "inclusive"].iloc[0]
    ax.set(
        xlabel="pull",
        ylabel="density",
        title=f"width {inclusive['pull_width']:.2f}, 68 % coverage "
        f"{100 * inclusive['coverage68']:.1f} %",
    )
    ax.legend(fontsize="small")
    eta = table[table["bin"] == "abs_eta"]
    centres = 0.5 * (eta["lo"] + eta["hi"])
    for column, nominal in (("coverage68", 0.683), ("coverage95", 0.950)):
        cov_ax.plot(centres, eta[column], "o-", label=column)
        cov_ax.axhline(nominal, color="grey", ls=":")
    cov_ax.set(xlabel="|eta|", ylabel="coverage", ylim=(0, 1.05))
    cov_ax.legend(fontsize="small")
    save_figure(fig, path)


def placeholder(path: str | Path, message: str) -> None:
    """A figure saying why there is nothing to show (a tiny or data-only configuration)."""
    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    save_figure(fig, path)
