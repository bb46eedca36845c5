"""Validation of the jets process: do the strips resolve a pi0's two showers, against E_T, and
does the two maxima's distance follow the decay's kinematics?

Single pi0s are decayed (mesons.two_photon_decays) and showered as one object with two EM
sub-showers (calorimeter.SubShowers) in the MC detector, with all its effects; their strips are
read as ATLAS's Delta E and E_ratio read them (core.shower_shapes.strip_maxima_positions).
Energies in GeV, angles in radians.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import itertools

import matplotlib.pyplot as plt
import numpy as np

from egcalib.core.atomic import save_figure
from egcalib.core.contract import MIDDLE_CELL_ETA
from egcalib.core.kinematics import wrap_phi
from egcalib.core.shower_shapes import delta_e, strip_maxima_positions
from egcalib.simulation.calorimeter import SubShowers, simulate_showers
from egcalib.simulation.detector import UNCONVERTED
from egcalib.simulation.mesons import MESON_MASS, PI0_PDG, two_photon_decays

# ATLAS's strip profile sums three of the native window's five phi cells (core.shower_shapes).
_PROFILE_PHI_CELLS = 3


def delta_e_significance(
    strips: np.ndarray, first: np.ndarray, second: np.ndarray, sim: dict, detector: dict
) -> np.ndarray:
    """Delta E over its own fluctuation, (n,), for strip windows (n, n_strips, n_phi) with
    maxima at strips ``first`` and ``second`` (n,) (-1: none, giving 0): Delta E = E(2nd) -
    E(least strip between) on ATLAS's profile (the central three of the five phi cells), its
    variance that of two strips' electronic noise (the strips' cell noise times three cells)
    plus their sampling fluctuations (a^2 E, a the strips' sampling term). The validation
    counts two maxima at 3 or more as two showers, not a fluctuation of one (a one-sided
    0.13 % chance per pair of strips for Gaussian fluctuations)."""
    profile = np.asarray(strips, float)[:, :, 1:4].sum(axis=2)
    has = second >= 0
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    index = np.arange(profile.shape[1])
    between = (index[None, :] > lo[:, None]) & (index[None, :] < hi[:, None])
    e_min = np.where(between, profile, np.inf).min(axis=1)
    e_second = np.take_along_axis(profile, np.where(has, second, 0)[:, None], axis=1)[:, 0]
    e_min = np.where(np.isfinite(e_min), e_min, e_second)
    noise = detector["noise"][1] ** 2 * _PROFILE_PHI_CELLS
    sampling = sim["sampling_term"][1] ** 2 * (np.maximum(e_second, 0) + np.maximum(e_min, 0))
    significance = (e_second - e_min) / np.sqrt(2 * noise + sampling)
    return np.where(has, significance, 0.0)


def pi0_strip_showers(
    et: np.ndarray,
    eta: np.ndarray,
    sim: dict,
    rng: np.random.Generator,
    kind: str = "mc",
    n_sigma: float = 3.0,
) -> dict[str, np.ndarray]:
    """n pi0s of transverse energy ``et`` [GeV] at ``eta`` (n,), phi uniform, decayed and
    showered as unconverted photons in the ``kind`` detector with its electronic noise and
    every effect ``sim`` switches on but pile-up, whose particles would make second maxima of
    their own: the second maximum is the second photon's.

    Returns (n,) ``opening_angle`` [rad], ``true_d_eta`` = |eta_1 - eta_2| of the two photons,
    ``measured_d_eta`` = the distance of the strips' two maxima times the strip pitch (NaN
    without a 2nd maximum), ``delta_e`` [GeV] (core.shower_shapes) and ``resolved``: a 2nd
    maximum whose Delta E is at least ``n_sigma`` times its fluctuation
    (delta_e_significance)."""
    et, eta = np.asarray(et, float), np.asarray(eta, float)
    n = len(et)
    detector = sim["detectors"][kind]
    mass = np.full(n, MESON_MASS[PI0_PDG])
    phi = rng.uniform(-np.pi, np.pi, n)
    energy = et * np.cosh(eta)
    decay = two_photon_decays(energy, eta, phi, mass, rng)
    sources = SubShowers(
        share=decay["e"] / energy[:, None],
        d_eta=decay["eta"] - eta[:, None],
        d_phi=wrap_phi(decay["phi"] - phi[:, None]),
        layer_energy=np.zeros((n, 0, 4)),
        deposit_d_eta=np.zeros((n, 0)),
        deposit_d_phi=np.zeros((n, 0)),
        deposit_sigma_cells=1.0,
    )
    quiet = {**sim, "effects": {**sim.get("effects", {}), "pileup": False}}
    showers = simulate_showers(
        energy,
        eta,
        phi,
        np.zeros(n, int),
        np.full(n, UNCONVERTED),
        np.zeros(n),
        quiet,
        detector,
        rng,
        sources,
    )
    strips = showers.cells["lr1"]
    pitch = 7 * MIDDLE_CELL_ETA / strips.shape[1]  # the window spans 7 middle cells
    first, second = strip_maxima_positions(strips)
    dip = delta_e(strips)
    return {
        "opening_angle": decay["opening_angle"],
        "true_d_eta": np.abs(decay["eta"][:, 0] - decay["eta"][:, 1]),
        "measured_d_eta": np.where(second >= 0, np.abs(first - second) * pitch, np.nan),
        "delta_e": dip,
        "resolved": delta_e_significance(strips, first, second, sim, detector) >= n_sigma,
    }


def resolved_fraction(
    sim: dict,
    rng: np.random.Generator,
    et_edges: Sequence[float] = (5, 10, 15, 20, 30, 40, 60, 80, 100),
    per_bin: int = 2000,
    abs_eta_max: float = 1.2,
    n_sigma: float = 3.0,
) -> list[dict]:
    """The fraction of pi0s whose two showers the strips resolve (pi0_strip_showers), per E_T
    bin (``et_edges`` [GeV], E_T uniform in each), |eta| uniform below ``abs_eta_max`` (the
    barrel, away from the crack), ``per_bin`` pi0s each, resolved at ``n_sigma``: rows {et_lo,
    et_hi, n, n_sigma, resolved,
    error (binomial), min_angle_strips (2m/E_T at the bin centre, in strips at eta = 0),
    median_separation_ratio (measured / true separation of the resolved ones)}."""
    rows = []
    for lo, hi in itertools.pairwise(et_edges):
        et = rng.uniform(lo, hi, per_bin)
        eta = rng.uniform(-abs_eta_max, abs_eta_max, per_bin)
        out = pi0_strip_showers(et, eta, sim, rng, n_sigma=n_sigma)
        fraction = float(out["resolved"].mean())
        ok = out["resolved"]
        ratio = out["measured_d_eta"][ok] / out["true_d_eta"][ok]
        rows.append(
            {
                "et_lo": float(lo),
                "et_hi": float(hi),
                "n": per_bin,
                "n_sigma": n_sigma,
                "resolved": fraction,
                "error": float(np.sqrt(fraction * (1 - fraction) / per_bin)),
                "min_angle_strips": float(
                    2 * MESON_MASS[PI0_PDG] / (0.5 * (lo + hi)) / (MIDDLE_CELL_ETA / 8)
                ),
                "median_separation_ratio": float(np.median(ratio)) if ok.any() else float("nan"),
            }
        )
    return rows


def plot_resolved_fraction(rows: list[dict], path: str | Path) -> None:
    """The resolved fraction against E_T (resolved_fraction's rows), with binomial errors and
    the minimum opening angle 2m/E_T in strips on a second axis; a PNG at ``path``."""
    centre = np.array([0.5 * (r["et_lo"] + r["et_hi"]) for r in rows])
    half = np.array([0.5 * (r["et_hi"] - r["et_lo"]) for r in rows])
    fig, ax = plt.subplots(layout="constrained")
    ax.errorbar(
        centre,
        [r["resolved"] for r in rows],
        xerr=half,
        yerr=[r["error"] for r in rows],
        fmt="o",
        label=r"$\pi^0$: two showers in the strips",
    )
    ax.set_xlabel(r"$\pi^0$ $E_\mathrm{T}$ [GeV]")
    n_sigma = rows[0]["n_sigma"] if rows else float("nan")
    ax.set_ylabel(rf"fraction resolved ($\Delta E$ > {n_sigma:g} $\sigma_{{\Delta E}}$)")
    ax.set_ylim(0, 1.05)
    twin = ax.twinx()
    twin.plot(centre, [r["min_angle_strips"] for r in rows], "s--", color="grey")
    twin.set_ylabel(r"$2m_{\pi^0}/E_\mathrm{T}$ [strips at $\eta$ = 0]", color="grey")
    twin.set_yscale("log")
    ax.legend(loc="upper right")
    save_figure(fig, path)
