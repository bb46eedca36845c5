"""The Z-peak fit: Breit-Wigner (fixed mean and width) convolved with a Crystal Ball.

Binned extended maximum likelihood (iminuit ExtendedBinnedNLL) on the expected counts per bin,
which are integrals of the convolved density. The convolution is done on a fine grid extending
well beyond the fit range (so nothing wraps or is cut at the edges) with an FFT; the density is
then normalised inside the fit range, so the yield is the number of events in range. Two fits of
the same events are compared, with a paired bootstrap, in egcalib.stats.sigma_improvement.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from iminuit import Minuit
from iminuit.cost import ExtendedBinnedNLL
from numba_stats import crystalball
from scipy import fft as sp_fft
from scipy.stats import chi2 as chi2_dist

PARAMETERS = ("yield", "mean", "sigma", "alpha", "n")
ALPHA_MAX = 20.0
LIMITS: dict[str, tuple[float, float | None]] = {
    "n_events": (0, None),
    "mean": (-10, 10),
    "sigma": (0.05, 15),
    "alpha": (0.1, ALPHA_MAX),
    "n": (1.01, 100),
}
# Tail parameters fixed when too few events constrain them: the seed's ATLAS MC Z -> ee fit.
SEED_TAIL = {"alpha": 1.4, "n": 1.5}


class FitError(RuntimeError):
    """MINUIT did not converge: no numbers are returned."""


@dataclass
class FitResult:
    values: dict
    errors: dict
    covariance: np.ndarray
    chi2: float
    ndf: int
    edges: np.ndarray
    counts: np.ndarray
    expected: np.ndarray
    fixed: list
    n_calls: int
    curve_x: np.ndarray = field(repr=False)
    curve_y: np.ndarray = field(repr=False)
    flags: list = field(default_factory=list)
    tail: dict | None = None  # alpha and n given to the fit (e.g. from MC), None when fitted

    @property
    def chi2_ndf(self) -> float:
        return self.chi2 / max(self.ndf, 1)

    def as_dict(self) -> dict:
        return {
            "values": self.values,
            "errors": self.errors,
            "chi2": self.chi2,
            "ndf": self.ndf,
            "chi2_ndf": self.chi2_ndf,
            "fixed": self.fixed,
            "flags": self.flags,
        }

    @property
    def start(self) -> dict:
        """The fitted shape as start values for another fit of the same peak."""
        return {k: self.values[k] for k in ("mean", "sigma", "alpha", "n")}


# A fit whose chi2 has a p-value below this does not describe the peak: its sigma_CB is no
# resolution to compare (e.g. a data peak under a tail taken from MC that it does not have).
MIN_CHI2_PROBABILITY = 1e-3


def quality_flags(
    values: dict, errors: dict, fixed: Collection[str], chi2: float | None = None, ndf: int = 0
) -> list[str]:
    """Why a converged fit must not be reported as a plain number: a free parameter at (within
    0.1 % of the allowed range of) one of its limits, a free tail that the data do not
    constrain (error on alpha above half its value, or on n above its value), or a chi2 whose
    p-value is below MIN_CHI2_PROBABILITY. An undefined (NaN) error fails its check (is flagged)
    and an undefined chi2 is flagged "undefined chi2", never passed."""
    flags = []
    for name in ("mean", "sigma", "alpha", "n"):
        lo, hi = LIMITS[name]
        if name in fixed or hi is None:  # the shape parameters' ranges are closed
            continue
        if min(abs(values[name] - lo), abs(values[name] - hi)) < 1e-3 * (hi - lo):
            flags.append(f"{name} at limit")
    # not (x <= limit): NaN counts as a failure.
    if "alpha" not in fixed and not errors["alpha"] <= 0.5 * values["alpha"]:
        flags.append("alpha unconstrained")
    if "n" not in fixed and not errors["n"] <= values["n"]:
        flags.append("n unconstrained")
    if chi2 is not None and ndf > 0 and not np.isfinite(chi2):
        flags.append("undefined chi2")
    elif chi2 is not None and ndf > 0 and chi2_dist.sf(chi2, ndf) < MIN_CHI2_PROBABILITY:
        flags.append(f"poor fit (chi2/ndf {chi2 / ndf:.2f})")
    return flags


class BreitWignerCrystalBall:
    """Scaled CDF of BW(bw_mean, bw_width) (x) CB(mean, sigma, alpha, n) inside [lo, hi]."""

    def __init__(self, lo, hi, bw_mean, bw_width, step):
        self.lo, self.hi = lo, hi
        pad = 30.0  # GeV beyond the range: the BW tails and CB low tail fit inside
        self.x = np.arange(lo - pad, hi + pad + step / 2, step)
        self.bw = (bw_width / (2 * np.pi)) / ((self.x - bw_mean) ** 2 + bw_width**2 / 4)
        half = len(self.x) // 2
        self.kernel_x = (np.arange(len(self.x)) - half) * step
        self.step = step
        self.in_range = (self.x >= lo - step / 2) & (self.x <= hi + step / 2)
        # The BW is fixed: its transform is taken once, not on every call of a fit (the same
        # padded length and centred slice as scipy.signal.fftconvolve(mode="same")).
        self.n_fft = sp_fft.next_fast_len(2 * len(self.x) - 1, real=True)
        self.bw_transform = sp_fft.rfft(self.bw, self.n_fft)
        self.same = slice((len(self.x) - 1) // 2, (len(self.x) - 1) // 2 + len(self.x))

    def density(self, mean: float, sigma: float, alpha: float, n: float) -> np.ndarray:
        kernel = crystalball.pdf(self.kernel_x, alpha, n, mean, sigma)
        full = sp_fft.irfft(self.bw_transform * sp_fft.rfft(kernel, self.n_fft), self.n_fft)
        return np.maximum(full[self.same] * self.step, 0.0)

    def cdf(self, xe: np.ndarray, mean: float, sigma: float, alpha: float, n: float) -> np.ndarray:
        density = self.density(mean, sigma, alpha, n)
        cumulative = np.concatenate(
            [[0.0], np.cumsum(0.5 * (density[1:] + density[:-1])) * self.step]
        )
        at = np.interp(xe, self.x, cumulative)
        total = np.interp(self.hi, self.x, cumulative) - np.interp(self.lo, self.x, cumulative)
        return (at - np.interp(self.lo, self.x, cumulative)) / total

    def __call__(self, xe, n_events, mean, sigma, alpha, n):
        return n_events * self.cdf(xe, mean, sigma, alpha, n)


def fit_bw_cb(
    masses: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    mass_range: tuple[float, float] = (80.0, 100.0),
    bin_width: float = 0.1,
    bw_mean: float = 91.19,
    bw_width: float = 2.50,
    start: dict[str, float] | None = None,
    grid_step: float | None = None,
    min_events_free_tail: int = 400,
    tail: dict | None = None,
) -> FitResult:
    """Fit the Z peak; raise FitError when MINUIT does not converge.

    ``mean`` is the CB shift relative to ``bw_mean``; the seed's MC baseline has sigma_CB ~2.4
    GeV, alpha ~1.4, n ~1.5. ``weights`` (per event, e.g. mcEventWeight, negative ones
    included) enter as sum(w) and sum(w^2) per bin (a scaled Poisson likelihood), so the errors
    follow the effective number of events, not the sum of weights. With fewer than
    ``min_events_free_tail`` (effective) events in range the CB tail cannot be measured: alpha
    and n are fixed at the seed's values (SEED_TAIL, listed in ``fixed``). ``flags`` lists what
    makes a converged fit untrustworthy (quality_flags). ``tail`` ({"alpha", "n"}) fixes the CB
    tail at given values (e.g. the MC fit's, for a data sample too small to measure it); they are
    listed in ``fixed`` and kept in ``FitResult.tail``.
    """
    masses = np.asarray(masses, float)
    lo, hi = mass_range
    edges = np.arange(lo, hi + bin_width / 2, bin_width)
    counts, _ = np.histogram(masses, bins=edges, weights=weights)
    if weights is None:
        observed, variance = counts, None
    else:  # weighted: the cost needs the sum of squared weights per bin for honest errors
        variance, _ = np.histogram(masses, bins=edges, weights=np.square(weights))
        observed = np.stack([counts, variance], axis=-1)
    n_in = counts.sum()
    if n_in < 50:
        raise FitError(f"Z fit: only {n_in:.0f} events in {mass_range} GeV")
    # The effective number of events, (sum w)^2 / sum w^2, decides whether a tail is measurable.
    n_effective = n_in if variance is None else n_in**2 / max(float(variance.sum()), 1e-12)
    model = BreitWignerCrystalBall(lo, hi, bw_mean, bw_width, grid_step or bin_width / 5)
    inside = masses[(masses > lo) & (masses < hi)]
    q25, q50, q75 = np.percentile(inside, [25, 50, 75])
    spread = (q75 - q25) / 1.349
    guess = {
        "n_events": n_in,
        "mean": q50 - bw_mean,
        "sigma": float(np.clip(np.sqrt(max(spread**2 - (bw_width / 2.355) ** 2, 0.25)), 0.3, 8.0)),
        "alpha": 1.5,
        "n": 3.0,
        **(start or {}),
    }
    cost = ExtendedBinnedNLL(observed, edges, model)
    # Retries: another strategy and start, then n fixed. A Gaussian-like peak (large alpha) makes
    # n irrelevant and the alpha-n valley flat; fixing n is the usual remedy and is reported.
    # When even that runs alpha to its limit, the peak is Gaussian: alpha is fixed there too.
    attempts: tuple[tuple[int, float, tuple[str, ...]], ...] = (
        (1, guess["alpha"], ()),
        (2, 1.0, ()),
        (2, 3.0, ()),
        (2, 5.0, ("n",)),
        (2, ALPHA_MAX, ("n", "alpha")),
    )
    if tail is None and n_effective < min_events_free_tail:
        tail = SEED_TAIL
    if tail is not None:
        tail = {"alpha": float(tail["alpha"]), "n": float(tail["n"])}
        guess.update(tail)
        attempts = ((1, tail["alpha"], ("n", "alpha")), (2, tail["alpha"], ("n", "alpha")))
    for strategy, alpha, held in attempts:
        minuit = Minuit(cost, **{**guess, "alpha": alpha})
        for name, limit in LIMITS.items():
            if name in held:  # a fixed parameter on its limit would flag the minimum invalid
                minuit.fixed[name] = True
            else:
                minuit.limits[name] = limit
        minuit.strategy = strategy
        minuit.migrad()
        if minuit.valid:
            minuit.hesse()  # HESSE can find the minimum invalid after all: check again
        if minuit.valid and minuit.accurate:
            break
    if not (minuit.valid and minuit.accurate):
        raise FitError(
            f"Z fit did not converge (valid={minuit.valid}, "
            f"accurate={minuit.accurate}, fmin={minuit.fmin})"
        )
    names = dict(zip(minuit.parameters, PARAMETERS))
    values = {names[k]: float(minuit.values[k]) for k in minuit.parameters}
    # MINUIT reports a fixed parameter's step size as its error: a fixed value has none.
    errors = {
        names[k]: 0.0 if minuit.fixed[k] else float(minuit.errors[k]) for k in minuit.parameters
    }
    expected = np.diff(model(edges, *minuit.values))
    used = expected > 0
    # Poisson variance, scaled by sum(w^2) / sum(w) per bin for weighted events.
    bin_variance = (
        expected
        if variance is None
        else expected * np.divide(variance, counts, out=np.ones_like(expected), where=counts > 0)
    )
    chi2 = float(np.sum((counts[used] - expected[used]) ** 2 / bin_variance[used]))
    curve_x = np.linspace(lo, hi, 400)
    density = model.density(*list(minuit.values)[1:])
    scale = (
        values["yield"] * bin_width / np.trapezoid(density[model.in_range], model.x[model.in_range])
    )
    fixed = [names[k] for k in minuit.parameters if minuit.fixed[k]]
    ndf = int(used.sum() - minuit.nfit)
    return FitResult(
        values=values,
        errors=errors,
        covariance=np.array(minuit.covariance),
        chi2=chi2,
        ndf=ndf,
        edges=edges,
        fixed=fixed,
        n_calls=int(minuit.nfcn),
        counts=counts,
        expected=expected,
        curve_x=curve_x,
        curve_y=np.interp(curve_x, model.x, density) * scale,
        flags=quality_flags(values, errors, fixed, chi2, ndf),
        tail=tail,
    )
