"""1 - sigma_CB / sigma_CB(reference) of two Z-peak fits of the same events, with the error of a
paired bootstrap (docs/design.md section 9).

Both energy hypotheses are fitted (egcalib.fitting.fit_bw_cb) on each resample of the same
events, so the error carries the correlation of the two widths; the error is half the central
68 % interval of the resamples, and resamples far from the median (fits in another minimum) are
counted.
"""

from __future__ import annotations

import numpy as np

from egcalib.fitting import FitError, FitResult, fit_bw_cb

# A bootstrap resample this many errors from the median is a fit in another minimum.
OUTLIER_ERRORS = 5.0


def paired_sigma_improvement(
    masses,
    reference,
    nominal: FitResult,
    nominal_reference: FitResult,
    weights=None,
    n_bootstrap: int = 50,
    seed: int = 1,
    **fit_config,
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
    a Gaussian spread but not inflated by a few fits that land far off; NaN when fewer than 10
    converged), bootstrap_ok, bootstrap_failed (resamples where a fit did not converge) and
    bootstrap_outliers (resamples more than OUTLIER_ERRORS errors from the median: a few fits
    falling into another minimum, which make the error itself uncertain).
    """
    masses, reference = np.asarray(masses, float), np.asarray(reference, float)
    both = np.isfinite(masses) & np.isfinite(reference)
    masses, reference = masses[both], reference[both]
    weights = None if weights is None else np.asarray(weights, float)[both]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_bootstrap):
        pick = rng.integers(0, len(masses), len(masses))
        w = None if weights is None else weights[pick]
        try:
            a = fit_bw_cb(masses[pick], w, start=nominal.start, tail=nominal.tail, **fit_config)
            b = fit_bw_cb(
                reference[pick],
                w,
                start=nominal_reference.start,
                tail=nominal_reference.tail,
                **fit_config,
            )
        except FitError:
            continue
        draws.append(1.0 - a.values["sigma"] / b.values["sigma"])
    error, outliers = bootstrap_error(draws)
    return {
        "value": 1.0 - nominal.values["sigma"] / nominal_reference.values["sigma"],
        "error": error,
        "bootstrap_ok": len(draws),
        "bootstrap_failed": n_bootstrap - len(draws),
        "bootstrap_outliers": outliers,
    }


def bootstrap_error(draws) -> tuple[float, int]:
    """(error, outliers) of bootstrap resample values ``draws``: half the central 68 % interval
    and the number of draws more than OUTLIER_ERRORS errors from the median; (NaN, 0) for fewer
    than 10 draws."""
    if len(draws) < 10:
        return float("nan"), 0
    draws = np.asarray(draws, float)
    low, median, high = np.percentile(draws, [15.865, 50, 84.135])
    error = float(0.5 * (high - low))
    return error, int(np.sum(np.abs(draws - median) > OUTLIER_ERRORS * error))
