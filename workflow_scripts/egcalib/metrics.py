"""Resolution metrics (docs/design.md section 9): eIQR of the relative error and rIQR.

RE = E / E_true. As in the seed, eIQR75 = (P75 - P25) / 1.349 and eIQR95 = (P97.5 - P2.5) / 3.92:
the percentile range over twice the Gaussian quantile of the same central fraction, so a Gaussian
of width sigma has eIQR75 = eIQR95 = sigma. (The general formula in docs/design.md section 9
would give P12.5..P87.5 for q = 75; its explicit P25..P75 is what the seed's eIQR75 is, and
wins.) rIQR = 1 - eIQR_model / eIQR_baseline, with bootstrap errors from paired resampling of
the objects.

The percentile range is taken of RE / median(RE) (``relative=True``, the default): the seed's
formula assumes RE centred on 1, and without this a model whose scale is off by a factor would
look that factor better. The scale itself is reported separately (median RE, CB mean).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from resample.bootstrap import variance
from scipy.stats import norm

ET_BINS = ((20, 30), (30, 40), (40, 50), (50, 60), (60, 70))  # GeV, as in the seed
MIN_OBJECTS = 10
ABS_ETA_EDGES = (0.0, 0.4, 0.8, 1.2, 1.37, 1.52, 1.8, 2.1, 2.47)  # the crack is its own bin


# eIQR name -> central fraction (per cent) of the percentile range it uses.
CENTRAL_FRACTION = {75: 50.0, 95: 95.0}


def eiqr(values, q: int = 75, relative: bool = True) -> float:
    """eIQR75 or eIQR95 of ``values`` (NaN for empty input)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan")
    central = CENTRAL_FRACTION[q]
    lo, median, hi = np.percentile(values, [50 - central / 2, 50, 50 + central / 2])
    width = (hi - lo) / (2 * norm.ppf(0.5 + central / 200))
    return float(width / median if relative else width)


def riqr(re_model, re_baseline, q: int = 75, n_bootstrap: int = 200, seed: int = 1):
    """1 - eIQR(model) / eIQR(baseline) and its bootstrap standard error (paired objects)."""
    re_model, re_baseline = np.asarray(re_model, float), np.asarray(re_baseline, float)
    if len(re_model) < MIN_OBJECTS:  # a percentile range of a handful of objects means nothing
        return float("nan"), float("nan")
    value = 1.0 - eiqr(re_model, q) / eiqr(re_baseline, q)
    pairs = np.stack([re_model, re_baseline], axis=1)
    var = variance(
        lambda p: 1.0 - eiqr(p[:, 0], q) / eiqr(p[:, 1], q),
        pairs,
        size=n_bootstrap,
        random_state=seed,
    )
    return value, float(np.sqrt(var))


def summary(re_model, re_baseline, n_bootstrap=200) -> dict:
    """eIQR75/95 of both and the rIQRs with errors."""
    out = {
        "n": len(re_model),
        "median_re_baseline": float(np.median(re_baseline)) if len(re_model) else np.nan,
        "median_re_model": float(np.median(re_model)) if len(re_model) else np.nan,
    }
    for q in (75, 95):
        out[f"eiqr{q}_baseline"] = eiqr(re_baseline, q)
        out[f"eiqr{q}_model"] = eiqr(re_model, q)
        out[f"riqr{q}"], out[f"riqr{q}_error"] = riqr(re_model, re_baseline, q, n_bootstrap)
    return out


def differential(
    re_model, re_baseline, et, abs_eta, et_bins=ET_BINS, eta_edges=ABS_ETA_EDGES, n_bootstrap=100
) -> pd.DataFrame:
    """eIQR of baseline and model and rIQR in |eta| bins within ET bins (empty bins: NaN)."""
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


def pulls(e_pred, sigma_e, e_true) -> np.ndarray:
    """(E_pred - E_true) / sigma_E per object (n,): the check of a predicted per-object
    resolution (MDN models), as CMS checks its semi-parametric regression."""
    return (np.asarray(e_pred, float) - np.asarray(e_true, float)) / np.asarray(sigma_e, float)


def pull_summary(values) -> dict:
    """Pull width (robust: IQR / 1.349, and the standard deviation within |pull| < 5), mean, and
    the coverage of the 68 % and 95 % intervals (fraction with |pull| < 1 and < 1.96); a
    calibrated resolution gives width 1 and coverage 0.683 / 0.950. NaN entries are dropped."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) < MIN_OBJECTS:
        return {
            "n": len(values),
            **dict.fromkeys(
                ("pull_mean", "pull_width", "pull_std", "coverage68", "coverage95"), float("nan")
            ),
        }
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    core = values[np.abs(values) < 5]
    return {
        "n": len(values),
        "pull_mean": float(median),
        "pull_width": float((q75 - q25) / (2 * norm.ppf(0.75))),
        "pull_std": float(core.std()),
        "coverage68": float(np.mean(np.abs(values) < 1.0)),
        "coverage95": float(np.mean(np.abs(values) < norm.ppf(0.975))),
    }


def differential_pulls(
    values, et, abs_eta, et_bins=ET_BINS, eta_edges=ABS_ETA_EDGES
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
