"""Resolution metrics (docs/design.md#evaluation): eIQR of the relative error and rIQR.

RE = E / E_true. As in the seed, eIQR75 = (P75 - P25) / 1.349 and eIQR95 = (P97.5 - P2.5) / 3.92:
the percentile range over twice the Gaussian quantile of the same central fraction, so a Gaussian
of width sigma has eIQR75 = eIQR95 = sigma. (The general formula in docs/design.md#evaluation
would give P12.5..P87.5 for q = 75; its explicit P25..P75 is what the seed's eIQR75 is, and
wins.) rIQR = 1 - eIQR_model / eIQR_baseline, with bootstrap errors from paired resampling of
the objects.

Degenerate statistics never raise: an rIQR whose reference width is zero or undefined (fewer than
MIN_OBJECTS objects, a baseline of many identical values) is NaN with a flag naming why, in the
``riqr{q}_flags`` entry beside it ("; "-joined, empty when none), as the Z fits carry theirs
(``flags``, ``sigma_improvement_flags``); bootstrap resamples without a width are left out of the
error and counted in a flag.

The percentile range is taken of RE / median(RE) (``relative=True``, the default): the seed's
formula assumes RE centred on 1, and without this a model whose scale is off by a factor would
look that factor better. The scale itself is reported separately (median RE, CB mean).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TypeGuard

import numpy as np
import numpy.typing as npt
import pandas as pd
from resample.bootstrap import bootstrap
from scipy.stats import norm

ET_BINS = ((20, 30), (30, 40), (40, 50), (50, 60), (60, 70))  # GeV, as in the seed
MIN_OBJECTS = 10
ABS_ETA_EDGES = (0.0, 0.4, 0.8, 1.2, 1.37, 1.52, 1.8, 2.1, 2.47)  # the crack is its own bin


# eIQR name -> central fraction (per cent) of the percentile range it uses.
CENTRAL_FRACTION = {75: 50.0, 95: 95.0}
# eIQR name -> the range of the same central fraction of a unit Gaussian (1.349, 3.920), taken
# once: eiqr runs twice per bootstrap resample.
GAUSSIAN_RANGE = {q: float(2 * norm.ppf(0.5 + c / 200)) for q, c in CENTRAL_FRACTION.items()}


def eiqr(values: npt.ArrayLike, q: int = 75, relative: bool = True) -> float:
    """eIQR75 or eIQR95 (q) of ``values`` (n,), non-finite entries dropped: a width in the units
    of ``values`` (relative=False) or in units of their median (relative=True). NaN (an undefined
    width, never an exception) for fewer than 2 finite values or, with ``relative``, a median
    that is not positive."""
    array = np.asarray(values, float)
    array = array[np.isfinite(array)]
    if len(array) < 2:
        return float("nan")
    central = CENTRAL_FRACTION[q]
    lo, median, hi = np.percentile(array, [50 - central / 2, 50, 50 + central / 2])
    width = (hi - lo) / GAUSSIAN_RANGE[q]
    if not relative:
        return float(width)
    return float(width / median) if median > 0 else float("nan")


def _riqr_value(re_model, re_baseline, q: int, names=("model", "baseline")) -> tuple[float, str]:
    """1 - eIQR(model) / eIQR(baseline) and its flag ("" when none): NaN with the flag that says
    why where it is undefined; 1 with "zero {model} width" where the model's width is 0."""
    model, reference = names
    width_reference = eiqr(re_baseline, q)
    if not width_reference > 0:  # zero, or NaN: nothing to divide by
        state = "zero" if width_reference == 0 else "undefined"
        return float("nan"), f"{state} {reference} width"
    width = eiqr(re_model, q)
    if not np.isfinite(width):
        return float("nan"), f"undefined {model} width"
    return 1.0 - width / width_reference, f"zero {model} width" if width == 0 else ""


def riqr(
    re_model: npt.ArrayLike,
    re_baseline: npt.ArrayLike,
    q: int = 75,
    n_bootstrap: int = 200,
    seed: int = 1,
    names: tuple[str, str] = ("model", "baseline"),
) -> tuple[float, float, str]:
    """rIQR_q = 1 - eIQR_q(model) / eIQR_q(baseline) of the paired relative errors ``re_model``
    and ``re_baseline`` (n,) of the same objects, dimensionless.

    Returns (value, error, flags): error is the bootstrap standard error (``n_bootstrap`` paired
    resamples of the objects), flags a "; "-joined string, empty when the numbers are sound.
    ``names`` (model, reference) name the two in the flags. Degenerate statistics never raise:
    value and error are NaN, flagged "undefined width (n objects < MIN_OBJECTS)" for fewer than
    MIN_OBJECTS objects, "zero {reference} width" or "undefined {reference} width" where
    eIQR(baseline) is 0 or NaN, "undefined {model} width" where eIQR(model) is NaN. A model
    width of 0 gives rIQR 1, flagged "zero {model} width" (identical values, not a resolution).
    Resamples whose rIQR is undefined are left out of the error and counted, "degenerate
    bootstrap (k of n_bootstrap resamples without a width)"; the error is NaN when fewer than 2
    resamples have one.
    """
    re_model, re_baseline = np.asarray(re_model, float), np.asarray(re_baseline, float)
    if len(re_model) < MIN_OBJECTS:  # a percentile range of a handful of objects means nothing
        return (
            float("nan"),
            float("nan"),
            f"undefined width ({len(re_model)} objects < {MIN_OBJECTS})",
        )
    value, flag = _riqr_value(re_model, re_baseline, q, names)
    if not np.isfinite(value):
        return float("nan"), float("nan"), flag
    pairs = np.stack([re_model, re_baseline], axis=1)
    draws = bootstrap(
        lambda p: _riqr_value(p[:, 0], p[:, 1], q, names)[0],
        pairs,
        size=n_bootstrap,
        random_state=seed,
    )
    good = draws[np.isfinite(draws)]
    error = float(np.std(good, ddof=1)) if len(good) >= 2 else float("nan")
    degenerate = len(draws) - len(good)
    flags = [flag] if flag else []
    if degenerate:
        flags.append(
            f"degenerate bootstrap ({degenerate} of {len(draws)} resamples without a width)"
        )
    return float(value), error, "; ".join(flags)


def summary(
    re_model: np.ndarray,
    re_baseline: np.ndarray,
    n_bootstrap: int = 200,
    names: tuple[str, str] = ("model", "baseline"),
) -> dict:
    """n, the median RE of both, eIQR75/95 of both and riqr75/95 with their bootstrap errors and
    flags (riqr{q}_flags: riqr's, "" when none; NaN values where a width is zero or undefined)
    of the paired relative errors ``re_model`` and ``re_baseline`` (n,); ``names`` (model,
    reference) name the two in the flags."""
    out: dict = {
        "n": len(re_model),
        "median_re_baseline": float(np.median(re_baseline)) if len(re_model) else np.nan,
        "median_re_model": float(np.median(re_model)) if len(re_model) else np.nan,
    }
    for q in (75, 95):
        out[f"eiqr{q}_baseline"] = eiqr(re_baseline, q)
        out[f"eiqr{q}_model"] = eiqr(re_model, q)
        out[f"riqr{q}"], out[f"riqr{q}_error"], out[f"riqr{q}_flags"] = riqr(
            re_model, re_baseline, q, n_bootstrap, names=names
        )
    return out


def differential(
    re_model: np.ndarray,
    re_baseline: np.ndarray,
    et: np.ndarray,
    abs_eta: np.ndarray,
    et_bins: Iterable[tuple[float, float]] = ET_BINS,
    eta_edges: Iterable[float] = ABS_ETA_EDGES,
    n_bootstrap: int = 100,
) -> pd.DataFrame:
    """eIQR of baseline and model and rIQR (with riqr{q}_flags) in |eta| bins within ET bins,
    one row per bin (summary's columns); a bin with too few objects or no width has NaN and a
    flag, never an exception."""
    rows = []
    for et_lo, et_hi in et_bins:
        for eta_lo, eta_hi in itertools.pairwise(eta_edges):
            sel = (et >= et_lo) & (et < et_hi) & (abs_eta >= eta_lo) & (abs_eta < eta_hi)
            rows.append(
                {
                    "et_lo": et_lo,
                    "et_hi": et_hi,
                    "abs_eta_lo": eta_lo,
                    "abs_eta_hi": eta_hi,
                    **summary(re_model[sel], re_baseline[sel], n_bootstrap),
                }
            )
    return pd.DataFrame(rows)


def pulls(e_pred: npt.ArrayLike, sigma_e: npt.ArrayLike, e_true: npt.ArrayLike) -> np.ndarray:
    """(E_pred - E_true) / sigma_E per object (n,): the check of a predicted per-object
    resolution (MDN models), as CMS checks its semi-parametric regression. NaN (no warning)
    where sigma_E is not positive and finite: such an object has no pull."""
    e_pred, e_true = np.asarray(e_pred, float), np.asarray(e_true, float)
    sigma_e = np.broadcast_to(np.asarray(sigma_e, float), e_pred.shape)
    usable = np.isfinite(sigma_e) & (sigma_e > 0)
    return np.divide(e_pred - e_true, sigma_e, out=np.full(e_pred.shape, np.nan), where=usable)


def pull_summary(values: npt.ArrayLike) -> dict:
    """Pull width (robust: IQR / 1.349, and the standard deviation within |pull| < 5), mean, and
    the coverage of the 68 % and 95 % intervals (fraction with |pull| < 1 and < 1.96); a
    calibrated resolution gives width 1 and coverage 0.683 / 0.950. NaN entries are dropped.
    ``flags`` is "" or, with fewer than MIN_OBJECTS finite pulls (all other entries NaN then),
    "undefined width (n objects < MIN_OBJECTS)"; with fewer than 2 pulls within |pull| < 5,
    pull_std is NaN and flagged "undefined pull_std (k pulls within 5)"."""
    array = np.asarray(values, float)
    array = array[np.isfinite(array)]
    if len(array) < MIN_OBJECTS:
        return {
            "n": len(array),
            **dict.fromkeys(
                ("pull_mean", "pull_width", "pull_std", "coverage68", "coverage95"), float("nan")
            ),
            "flags": f"undefined width ({len(array)} objects < {MIN_OBJECTS})",
        }
    q25, median, q75 = np.percentile(array, [25, 50, 75])
    core = array[np.abs(array) < 5]
    return {
        "n": len(array),
        "pull_mean": float(median),
        "pull_width": float((q75 - q25) / (2 * norm.ppf(0.75))),
        "pull_std": float(core.std()) if len(core) >= 2 else float("nan"),
        "coverage68": float(np.mean(np.abs(array) < 1.0)),
        "coverage95": float(np.mean(np.abs(array) < norm.ppf(0.975))),
        "flags": "" if len(core) >= 2 else f"undefined pull_std ({len(core)} pulls within 5)",
    }


def differential_pulls(
    values: np.ndarray,
    et: np.ndarray,
    abs_eta: np.ndarray,
    et_bins: Iterable[tuple[float, float]] = ET_BINS,
    eta_edges: Iterable[float] = ABS_ETA_EDGES,
) -> pd.DataFrame:
    """pull_summary inclusively, in |eta| bins (all ET) and in ET bins (all |eta|)."""
    rows = [{"bin": "inclusive", "lo": np.nan, "hi": np.nan, **pull_summary(values)}]
    for lo, hi in itertools.pairwise(eta_edges):
        sel = (abs_eta >= lo) & (abs_eta < hi)
        rows.append({"bin": "abs_eta", "lo": lo, "hi": hi, **pull_summary(values[sel])})
    for lo, hi in et_bins:
        sel = (et >= lo) & (et < hi)
        rows.append({"bin": "et", "lo": lo, "hi": hi, **pull_summary(values[sel])})
    return pd.DataFrame(rows)


def finite(value: object) -> TypeGuard[int | float | np.number]:
    """Whether ``value`` is a finite number (None, NaN, inf and strings are not): a number read
    back from metrics.json or a table may be any of these."""
    return isinstance(value, int | float | np.number) and bool(np.isfinite(value))
