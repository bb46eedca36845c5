"""1 - sigma_CB / sigma_CB(reference) of two Z-peak fits of the same events, with the error of a
paired bootstrap (docs/design.md#evaluation).

Both energy hypotheses are fitted (egcalib.stats.bw_cb.fit_bw_cb) on each resample of the same
events, so the error carries the correlation of the two widths; the error is half the central
68 % interval of the resamples, and resamples far from the median (fits in another minimum) are
counted. A zero reference width gives NaN with a flag, never an exception.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from egcalib.stats.bw_cb import FitError, FitResult, fit_bw_cb

# A bootstrap resample this many errors from the median is a fit in another minimum.
OUTLIER_ERRORS = 5.0
# Fewer converged resamples than this give no error (NaN, flagged "undefined error").
MIN_DRAWS = 10


def paired_sigma_improvement(
    masses: npt.ArrayLike,
    reference: npt.ArrayLike,
    nominal: FitResult,
    nominal_reference: FitResult,
    weights: npt.ArrayLike | None = None,
    n_bootstrap: int = 50,
    seed: int = 1,
    **fit_config: Any,
) -> dict:
    """1 - sigma_CB / sigma_CB(reference) with its error from a paired bootstrap.

    ``masses`` and ``reference`` (n,) are the same n events' masses [GeV] with two energy
    hypotheses (NaN where an event has none), ``nominal`` and ``nominal_reference`` their fits
    on the full sample, ``weights`` (n,) or None. Each resample draws events with replacement
    and fits both hypotheses on the same draw (starting from the nominal shapes), so the error
    carries the correlation of the two widths (the same events, largely the same fluctuations),
    which two independent fits' errors in quadrature ignore. A tail given to a nominal fit
    (``FitResult.tail``) is given to its resamples too. Returns value (from the nominal
    fits), error (half the central 68 % interval of the resamples, the standard deviation for
    a Gaussian spread but not inflated by a few fits that land far off; NaN when fewer than
    MIN_DRAWS converged), bootstrap_ok, bootstrap_failed (resamples where a fit did not
    converge), bootstrap_outliers (resamples more than OUTLIER_ERRORS errors from the median: a
    few fits falling into another minimum, which make the error itself uncertain),
    bootstrap_degenerate (resamples whose reference sigma_CB is not positive) and flags (a list
    of strings, empty when the numbers are sound).

    Degenerate statistics never raise: a nominal reference sigma_CB that is not positive and
    finite gives value and error NaN, flagged "zero baseline sigma" (no resampling is done);
    resamples with one are left out and counted, "degenerate bootstrap (k of n_bootstrap
    resamples with zero baseline sigma)"; an error left NaN for want of converged resamples is
    flagged "undefined error (k of n_bootstrap resamples converged, fewer than MIN_DRAWS)".
    """
    if not _positive(nominal_reference.values["sigma"]):
        return {
            "value": float("nan"),
            "error": float("nan"),
            "bootstrap_ok": 0,
            "bootstrap_failed": 0,
            "bootstrap_outliers": 0,
            "bootstrap_degenerate": 0,
            "flags": ["zero baseline sigma"],
        }
    mass, mass_reference = np.asarray(masses, float), np.asarray(reference, float)
    both = np.isfinite(mass) & np.isfinite(mass_reference)
    mass, mass_reference = mass[both], mass_reference[both]
    weight = None if weights is None else np.asarray(weights, float)[both]
    rng = np.random.default_rng(seed)
    draws: list[float] = []
    degenerate = 0
    for _ in range(n_bootstrap if len(mass) else 0):
        pick = rng.integers(0, len(mass), len(mass))
        w = None if weight is None else weight[pick]
        try:
            a = fit_bw_cb(mass[pick], w, start=nominal.start, tail=nominal.tail, **fit_config)
            b = fit_bw_cb(
                mass_reference[pick],
                w,
                start=nominal_reference.start,
                tail=nominal_reference.tail,
                **fit_config,
            )
        except FitError:
            continue
        if not _positive(b.values["sigma"]):
            degenerate += 1
            continue
        draws.append(1.0 - a.values["sigma"] / b.values["sigma"])
    error, outliers = bootstrap_error(draws)
    failed = n_bootstrap - len(draws) - degenerate
    flags = []
    if degenerate:
        flags.append(
            f"degenerate bootstrap ({degenerate} of {n_bootstrap} resamples with zero "
            "baseline sigma)"
        )
    if not np.isfinite(error):
        flags.append(
            f"undefined error ({len(draws)} of {n_bootstrap} resamples converged, fewer than "
            f"{MIN_DRAWS})"
        )
    return {
        "value": 1.0 - nominal.values["sigma"] / nominal_reference.values["sigma"],
        "error": error,
        "bootstrap_ok": len(draws),
        "bootstrap_failed": failed,
        "bootstrap_outliers": outliers,
        "bootstrap_degenerate": degenerate,
        "flags": flags,
    }


def _positive(sigma) -> bool:
    """Whether a fitted width is usable as a denominator (positive and finite)."""
    return bool(np.isfinite(sigma) and sigma > 0)


def bootstrap_error(draws: npt.ArrayLike) -> tuple[float, int]:
    """(error, outliers) of bootstrap resample values ``draws`` (k,): half the central 68 %
    interval and the number of draws more than OUTLIER_ERRORS errors from the median; non-finite
    draws are dropped, and (NaN, 0) is returned, never an exception, for fewer than MIN_DRAWS
    finite draws."""
    array = np.asarray(draws, float)
    array = array[np.isfinite(array)]
    if len(array) < MIN_DRAWS:
        return float("nan"), 0
    low, median, high = np.percentile(array, [15.865, 50, 84.135])
    error = float(0.5 * (high - low))
    return error, int(np.sum(np.abs(array - median) > OUTLIER_ERRORS * error))
