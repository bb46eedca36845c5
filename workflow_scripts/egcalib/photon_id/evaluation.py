"""Photon-ID metrics as seeds 003/004 and ATLAS report them (docs/photon-id.md#metrics): the
ROC curve of a classifier (signal efficiency against background efficiency, background
rejection = 1 / background efficiency), its AUC, the classifier's signal efficiency at a menu's
background efficiency (and the background at its signal efficiency), Clopper-Pearson intervals
of efficiencies, a table of these per group of photons (conversion, ET, |eta|, <mu> bins), and
the data/MC efficiency scale factor of a pure photon sample (radiative Z decays: Eur. Phys. J.
C 79 (2019) 205).

Conventions: labels are 1 (True) for signal (prompt photons) and 0 for background (jets faking
photons); a classifier cut passes the objects with ``score >= threshold``; efficiencies are
fractions of the (weighted) objects of a class that pass. Weights are optional everywhere (ones
when None). With weights, Clopper-Pearson intervals use the effective number of objects,
n_eff = (sum w)^2 / sum w^2, and n_eff * efficiency passing (the usual approximation: exact
for equal weights).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from resample.bootstrap import bootstrap
from scipy.stats import beta

# Bootstrap replicas of the working-point table's errors on the classifier, and their seed.
N_BOOTSTRAP = 200
BOOTSTRAP_SEED = 1


def _prepare(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores (n,) float64, labels (n,) bool and weights (n,) float64, checked."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels)
    n = len(scores)
    if scores.shape != (n,) or labels.shape != (n,):
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must both be (n,)")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 / 1 (or bool)")
    if not np.isfinite(scores).all():
        raise ValueError("non-finite scores")
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (n,) or not np.isfinite(w).all():
        raise ValueError(f"weights must be (n,) = ({n},) and finite; got shape {w.shape}")
    return scores, labels.astype(bool), w


def roc_curve(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve of ``scores`` (n,) for ``labels`` (n,) (1 signal, 0 background), weighted
    by ``weights`` (n,) if given.

    Returns (signal_eff, background_eff, thresholds), each (k + 1,) for k distinct scores: the
    fractions of signal and of background with ``score >= threshold``, thresholds decreasing,
    the first point the origin (threshold +inf: nothing passes), the last (1, 1). Tied scores
    are one point (they pass or fail together). Raises ValueError for misshapen inputs,
    labels other than 0 / 1, non-finite scores or weights, and when a class is absent or its
    weights do not sum to a positive number."""
    scores, labels, w = _prepare(scores, labels, weights)
    totals = {name: w[mask].sum() for name, mask in (("signal", labels), ("background", ~labels))}
    for name, total in totals.items():
        if not total > 0:
            raise ValueError(f"ROC curve: no {name} (its weights sum to {total:g})")
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    cum_signal = np.cumsum(np.where(labels, w, 0.0)[order])
    cum_background = np.cumsum(np.where(labels, 0.0, w)[order])
    # The last object of each run of equal scores: where the cut below that score lands.
    last = np.flatnonzero(np.r_[np.diff(sorted_scores) != 0, True])
    signal_eff = np.r_[0.0, cum_signal[last] / totals["signal"]]
    background_eff = np.r_[0.0, cum_background[last] / totals["background"]]
    thresholds = np.r_[np.inf, sorted_scores[last]]
    return signal_eff, background_eff, thresholds


def roc_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The area under the ROC curve (roc_curve) by the trapezoid rule, in [0, 1]: the
    probability that a random signal object scores above a random background object, ties
    counted 1/2 (Mann-Whitney U / (n_s n_b), weighted pairs with weights). Same inputs and
    errors as roc_curve."""
    signal_eff, background_eff, _ = roc_curve(scores, labels, weights)
    return float(np.trapezoid(signal_eff, background_eff))


def efficiency_at_background(
    scores: np.ndarray,
    labels: np.ndarray,
    background_eff: float,
    weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """The signal efficiency of the loosest classifier cut (``score >= threshold``) that
    passes at most ``background_eff`` (a fraction, e.g. the tight menu's fake rate) of the
    background, and that threshold (+inf when no cut passes so little background: efficiency
    0). Same inputs and errors as roc_curve; ValueError for a target outside [0, 1] or NaN."""
    if not 0 <= background_eff <= 1:
        raise ValueError(f"background efficiency {background_eff} outside [0, 1]")
    signal, background, thresholds = roc_curve(scores, labels, weights)
    # Efficiencies rise along the curve; the last point within the target (1e-12: rounding).
    index = np.flatnonzero(background <= background_eff + 1e-12)[-1]
    return float(signal[index]), float(thresholds[index])


def background_at_efficiency(
    scores: np.ndarray,
    labels: np.ndarray,
    signal_eff: float,
    weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """The background efficiency of the tightest classifier cut (``score >= threshold``) that
    passes at least ``signal_eff`` (a fraction) of the signal, and that threshold; the
    rejection is 1 / background efficiency. Same inputs and errors as roc_curve; ValueError for
    a target outside [0, 1] or NaN."""
    if not 0 <= signal_eff <= 1:
        raise ValueError(f"signal efficiency {signal_eff} outside [0, 1]")
    signal, background, thresholds = roc_curve(scores, labels, weights)
    index = np.flatnonzero(signal >= signal_eff - 1e-12)[0]
    return float(background[index]), float(thresholds[index])


def binomial_interval(passed: Any, total: Any, cl: float = 0.683) -> tuple[np.ndarray, np.ndarray]:
    """The Clopper-Pearson (exact binomial) interval of the efficiency passed / total at
    confidence level ``cl`` (central: (1 - cl) / 2 on each side), from the Beta quantiles
    (scipy.stats.beta; Clopper and Pearson, Biometrika 26 (1934) 404).

    ``passed``, ``total``: counts, scalars or arrays of one shape (non-integer counts are
    allowed: effective numbers of weighted objects). Returns (low, high) as float64 arrays of
    that shape (0-d for scalars: float() them); low is 0 when nothing passes, high 1 when all
    pass, both NaN where total is 0. Raises ValueError for passed < 0, passed > total or cl
    outside (0, 1)."""
    if not 0 < cl < 1:
        raise ValueError(f"confidence level {cl} outside (0, 1)")
    k, n = np.broadcast_arrays(np.asarray(passed, np.float64), np.asarray(total, np.float64))
    if (k < 0).any() or (k > n * (1 + 1e-12)).any():
        raise ValueError("binomial interval: need 0 <= passed <= total")
    alpha = 1 - cl
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def _efficiency(passed: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Weighted efficiency of boolean ``passed`` and its Clopper-Pearson (low, high) interval
    with effective numbers of objects; NaN without weight."""
    total, squares = w.sum(), (w * w).sum()
    if not total > 0:
        return float("nan"), float("nan"), float("nan")
    eff = float(w[passed].sum() / total)
    n_eff = total * total / squares
    low, high = binomial_interval(min(max(eff, 0.0), 1.0) * n_eff, n_eff)
    return eff, float(low), float(high)


def bin_masks(values: np.ndarray, edges: Sequence[float], name: str) -> dict[str, np.ndarray]:
    """Boolean masks (n,) of ``values`` (n,) in the bins [lo, hi) of increasing ``edges``,
    named ``{name}_{lo:g}_{hi:g}`` (e.g. "et_10_20", "abs_eta_0_0.6"), in bin order; NaN is in
    no bin. Raises ValueError for fewer than 2 edges or edges that do not increase."""
    edges = [float(e) for e in edges]
    if len(edges) < 2 or not all(lo < hi for lo, hi in itertools.pairwise(edges)):
        raise ValueError(f"bin edges of {name} must be 2 or more, increasing: {edges}")
    values = np.asarray(values, np.float64)
    return {
        f"{name}_{lo:g}_{hi:g}": (values >= lo) & (values < hi)
        for lo, hi in itertools.pairwise(edges)
    }


# The working-point table's metric columns (all NaN in a group without signal or background).
TABLE_METRICS = (
    "menu_signal_eff",
    "menu_signal_eff_low",
    "menu_signal_eff_high",
    "menu_background_eff",
    "menu_background_eff_low",
    "menu_background_eff_high",
    "menu_rejection",
    "id_signal_eff",
    "id_signal_eff_error",
    "id_threshold",
    "gain_points",
    "gain_points_error",
    "id_background_eff",
    "id_rejection",
    "auc",
)


def _menu_point(data: np.ndarray) -> tuple[float, float, float, float]:
    """(menu signal eff, menu background eff, classifier signal eff at the menu's background
    eff, gain in points) of rows (score, label, menu pass, weight); NaN when a class is gone."""
    scores, labels, menu, w = data[:, 0], data[:, 1] > 0.5, data[:, 2] > 0.5, data[:, 3]
    sig_w, bkg_w = w[labels].sum(), w[~labels].sum()
    if not (sig_w > 0 and bkg_w > 0):
        return (float("nan"),) * 4
    menu_sig = w[labels & menu].sum() / sig_w
    menu_bkg = min(max(w[~labels & menu].sum() / bkg_w, 0.0), 1.0)
    id_sig, _ = efficiency_at_background(scores, labels, menu_bkg, w)
    return menu_sig, menu_bkg, id_sig, 100 * (id_sig - menu_sig)


def working_point_table(
    scores: np.ndarray,
    labels: np.ndarray,
    menu_pass: np.ndarray,
    groups: Mapping[str, np.ndarray],
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """The classifier against a cut-based menu in each group of photons.

    ``scores``: (n,) classifier scores; ``labels``: (n,) 1 signal / 0 background;
    ``menu_pass``: (n,) bool, the menu's decision (e.g. the tight decision of
    egcalib.photon_id.menus.apply_menus); ``groups``: name -> (n,) boolean mask (e.g.
    {"inclusive": all, "unconverted": ..., **bin_masks(et, edges, "et")}); ``weights``: (n,).

    One row per group, in ``groups`` order: ``group``, ``n_signal`` and ``n_background``
    (objects), ``menu_signal_eff`` / ``menu_background_eff`` with their Clopper-Pearson 68.3 %
    intervals (``_low``, ``_high``; binomial_interval) and ``menu_rejection`` (1 /
    background eff); ``id_signal_eff``: the classifier's signal efficiency at the menu's
    background efficiency (efficiency_at_background), ``id_threshold`` its cut, ``gain_points``
    = 100 (id_signal_eff - menu_signal_eff); ``id_background_eff``: the classifier's background
    efficiency at the menu's signal efficiency (background_at_efficiency) and ``id_rejection``;
    ``auc`` (roc_auc). ``id_signal_eff_error`` and ``gain_points_error``: the standard
    deviations over N_BOOTSTRAP bootstrap replicas of the group's objects (resample library,
    seed BOOTSTRAP_SEED, signal and background resampled apart so their counts are kept), in
    each of which the menu's working point is recomputed: they include the menu's statistical
    fluctuation and its correlation with the classifier's. A group without signal or
    background, or in which the menu keeps no signal (a region it is not defined in, as the
    crack), gets NaN metrics (``note`` says why) and no error. Raises
    ValueError for misshapen inputs (roc_curve's checks) or masks."""
    scores, labels, w = _prepare(scores, labels, weights)
    menu = np.asarray(menu_pass)
    if menu.shape != scores.shape:
        raise ValueError(f"menu_pass has shape {menu.shape}, not {scores.shape}")
    menu = menu.astype(bool)
    rows = []
    for name, mask in groups.items():
        mask = np.asarray(mask)
        if mask.shape != scores.shape or mask.dtype != bool:
            raise ValueError(f"group {name}: mask must be (n,) bool, got {mask.dtype} {mask.shape}")
        s, y, m, wg = scores[mask], labels[mask], menu[mask], w[mask]
        row: dict[str, Any] = {
            "group": name,
            "n_signal": int(y.sum()),
            "n_background": int((~y).sum()),
        }
        row.update(dict.fromkeys(TABLE_METRICS, float("nan")))
        missing = [
            what
            for what, ok in (("signal", (wg[y].sum() > 0)), ("background", (wg[~y].sum() > 0)))
            if not ok
        ]
        row["note"] = f"no {' and no '.join(missing)}" if missing else ""
        if not missing:
            if wg[y & m].sum() > 0:
                row.update(_group_metrics(s, y, m, wg))
            else:
                # A menu defines no cuts there (the crack, 1.37 < |eta| < 1.52, in ATLAS's): no
                # working point to compare with.
                row["note"] = "the menu keeps no signal"
        rows.append(row)
    return pd.DataFrame(rows, columns=["group", "n_signal", "n_background", *TABLE_METRICS, "note"])


def _group_metrics(s: np.ndarray, y: np.ndarray, m: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """The metrics of working_point_table of one group with signal and background."""
    menu_sig, menu_sig_low, menu_sig_high = _efficiency(m[y], w[y])
    menu_bkg, menu_bkg_low, menu_bkg_high = _efficiency(m[~y], w[~y])
    id_sig, threshold = efficiency_at_background(s, y, min(max(menu_bkg, 0.0), 1.0), w)
    id_bkg, _ = background_at_efficiency(s, y, min(max(menu_sig, 0.0), 1.0), w)
    data = np.stack([s, y.astype(float), m.astype(float), w], axis=1)
    draws = bootstrap(
        _menu_point, data, size=N_BOOTSTRAP, random_state=BOOTSTRAP_SEED, strata=y.astype(int)
    )
    with np.errstate(divide="ignore"):
        return {
            "menu_signal_eff": menu_sig,
            "menu_signal_eff_low": menu_sig_low,
            "menu_signal_eff_high": menu_sig_high,
            "menu_background_eff": menu_bkg,
            "menu_background_eff_low": menu_bkg_low,
            "menu_background_eff_high": menu_bkg_high,
            "menu_rejection": float(np.divide(1.0, menu_bkg)),
            "id_signal_eff": id_sig,
            "id_signal_eff_error": float(np.nanstd(draws[:, 2], ddof=1)),
            "id_threshold": threshold,
            "gain_points": 100 * (id_sig - menu_sig),
            "gain_points_error": float(np.nanstd(draws[:, 3], ddof=1)),
            "id_background_eff": id_bkg,
            "id_rejection": float(np.divide(1.0, id_bkg)),
            "auc": roc_auc(s, y, w),
        }


def data_mc_efficiency(
    pass_data: np.ndarray, pass_mc: np.ndarray, weights_mc: np.ndarray | None = None
) -> dict[str, float]:
    """The photon-ID efficiency in data and MC and their scale factor, for a pure photon sample
    (photons of radiative Z decays, Z -> ll gamma: signal only in both), as ATLAS reports photon
    ID scale factors (Eur. Phys. J. C 79 (2019) 205, section 5).

    ``pass_data``: (n_data,) bool, each data photon's ID decision; ``pass_mc``: (n_mc,) bool,
    with MC event weights ``weights_mc`` (n_mc,) (ones if None; the MC interval then uses the
    effective number of objects, module docstring). Returns a dict: ``eff_data``,
    ``eff_data_low``, ``eff_data_high`` (Clopper-Pearson 68.3 %, binomial_interval),
    ``eff_data_error`` (half the interval's width), the same four for ``eff_mc``, ``n_data``,
    ``n_mc`` (objects), ``sf`` = eff_data / eff_mc and ``sf_error`` = sf sqrt((err_data /
    eff_data)^2 + (err_mc / eff_mc)^2), the two samples independent. Raises ValueError for an
    empty sample, MC weights that do not sum to a positive number, misshapen inputs, or an MC
    efficiency of 0 (no scale factor)."""
    out: dict[str, float] = {}
    for kind, passed, weights in (("data", pass_data, None), ("mc", pass_mc, weights_mc)):
        passed = np.asarray(passed)
        if passed.ndim != 1 or not len(passed):
            raise ValueError(f"data/MC efficiency: {kind} decisions must be (n,), n > 0")
        w = np.ones(len(passed)) if weights is None else np.asarray(weights, np.float64)
        if w.shape != passed.shape or not np.isfinite(w).all() or not w.sum() > 0:
            raise ValueError(
                f"data/MC efficiency: {kind} weights must be ({len(passed)},), finite, with a "
                "positive sum"
            )
        eff, low, high = _efficiency(passed.astype(bool), w)
        out.update(
            {
                f"eff_{kind}": eff,
                f"eff_{kind}_low": low,
                f"eff_{kind}_high": high,
                f"eff_{kind}_error": 0.5 * (high - low),
                f"n_{kind}": float(len(passed)),
            }
        )
    if not out["eff_mc"] > 0:
        raise ValueError("data/MC efficiency: MC efficiency 0, no scale factor")
    eff_data, eff_mc = out["eff_data"], out["eff_mc"]
    out["sf"] = eff_data / eff_mc
    # sf sqrt((err_data / eff_data)^2 + (err_mc / eff_mc)^2), written to hold at eff_data = 0.
    out["sf_error"] = float(
        np.hypot(out["eff_data_error"] / eff_mc, eff_data * out["eff_mc_error"] / eff_mc**2)
    )
    return out
