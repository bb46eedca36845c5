"""The Z-peak fits of one model's predictions, per Z dataset (docs/design.md#evaluation).

m_ee (m_mumugamma for photon models) is rebuilt with each energy hypothesis (the MVA baseline,
the binned reference where the ntuples carry it, the model) and fitted with BW (x) CB
(egcalib.stats.bw_cb); each hypothesis's width is compared with the baseline's under a paired
bootstrap (egcalib.stats.sigma_improvement). Z -> ee data are first scale-calibrated in situ against
the MC (egcalib.stats.insitu_scale: the Z-based calibration of ATLAS, Eur. Phys. J. C 74 (2014)
3071, section 9.1). The rows become the model's zfits.csv.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from egcalib.evaluate import plotting
from egcalib.evaluate.masses import dielectron_masses, mumugamma_masses
from egcalib.stats import insitu_scale
from egcalib.stats.bw_cb import FitError, fit_bw_cb
from egcalib.stats.sigma_improvement import paired_sigma_improvement

log = logging.getLogger(__name__)


# The Z-peak mass of each process, rebuilt with any energy hypothesis of its objects.
Z_MASSES = {"zee": dielectron_masses, "zmumug": mumugamma_masses}

# The older binned response correction, reported beside the MVA baseline where the ntuples carry
# it (NaN where they do not), so the step from binned to MVA is visible beside the CNN's step.
BINNED, BINNED_COLUMN = "baseline_binned", "e_baseline_binned"


def z_fits(
    predictions: pd.DataFrame,
    datasets: dict,
    fit_config: dict,
    plot_dir: Path,
    model_name: str,
    n_bootstrap: int = 50,
    data_tail: str = "mc",
    insitu_eta_edges: Sequence[float] = (),
) -> pd.DataFrame:
    """BW (x) CB fits of the Z peak (m_ee, or m_mumugamma with the photon energy) with the
    baseline, the binned reference (where finite) and the model energies, per Z dataset;
    ``datasets`` maps names to config entries. MC events enter with their weights.

    Every hypothesis but the baseline gets sigma_improvement = 1 - sigma_CB / sigma_CB(baseline)
    with the error of a paired bootstrap of ``n_bootstrap`` resamples (sigma_improvement.
    paired_sigma_improvement). ``flags`` lists what makes a fit untrustworthy (a parameter at a
    limit, an unconstrained tail); sigma_improvement_flags those of the fit and its baseline and
    those of the bootstrap ("unstable bootstrap", and paired_sigma_improvement's flags of
    degenerate statistics: "zero baseline sigma", "degenerate bootstrap", "undefined error"), so
    a flagged improvement is never reported as a plain number, and a NaN one never without a
    word.

    With ``data_tail="mc"`` a data fit takes its CB tail (alpha, n) from the fit of the same
    energy hypothesis on the first MC dataset of its process (``tail_from`` names it): a few
    thousand data events cannot separate the tail from the core (the reference run's free fit of
    data_zee's baseline: alpha 0.32 +- 0.12, n 10 +- 23, sigma_CB pulled 0.3 GeV below the
    model's), and widths are only comparable between hypotheses under one tail model. The tail
    comes from bremsstrahlung and material, which the simulation carries. ``"free"`` fits it.

    With ``insitu_eta_edges`` (|eta| bin edges; empty: off) each energy hypothesis of Z -> ee
    data is first scale-calibrated in situ against the MC Z -> ee events of the same hypothesis
    (egcalib.stats.insitu_scale; alpha per bin in ``insitu_alpha``), so that its sigma_CB is a
    resolution and not a spread of mis-scaled regions, as in the seed's data, which carry ATLAS's
    in-situ scale factors. The alphas are held fixed in the bootstrap."""
    rows = []
    mc_tails: dict = {}  # (process, hypothesis) -> (MC dataset, its fitted tail)
    # MC first, so that the data fits of a process find their MC tails.
    for dataset, spec in sorted(datasets.items(), key=lambda item: item[1]["kind"] != "mc"):
        if spec["process"] not in Z_MASSES:
            continue
        kind, process = spec["kind"], spec["process"]
        frame = predictions[predictions["dataset"] == dataset]
        hypotheses = {"baseline": "e_baseline"}
        if BINNED_COLUMN in frame and np.isfinite(frame[BINNED_COLUMN]).any():
            hypotheses[BINNED] = BINNED_COLUMN
        hypotheses[model_name] = "e_pred"
        masses = Z_MASSES[process](frame, list(hypotheses.values()))
        alphas = (
            _insitu_calibrate(
                masses,
                predictions,
                datasets,
                list(hypotheses.values()),
                insitu_eta_edges,
                fit_config["mass_range"],
            )
            if kind == "data" and process == "zee" and len(insitu_eta_edges)
            else {}
        )
        weights = masses["weight"].to_numpy(float) if kind == "mc" and "weight" in masses else None
        results = {}
        for hypothesis, column in hypotheses.items():
            mass = masses[column].to_numpy()
            finite = np.isfinite(mass)  # a pair with one object lacking the binned energy
            row = {
                "dataset": dataset,
                "process": process,
                "kind": kind,
                "energy": hypothesis,
                "events": int(finite.sum()),
            }
            tail_from, tail = (
                mc_tails.get((process, hypothesis), (None, None))
                if kind == "data" and data_tail == "mc"
                else (None, None)
            )
            try:
                result = fit_bw_cb(
                    mass[finite],
                    None if weights is None else weights[finite],
                    tail=tail,
                    **fit_config,
                )
            except FitError as error:
                log.warning("%s %s: %s", dataset, hypothesis, error)
                row["error"] = str(error)
                rows.append(row)
                continue
            results[hypothesis] = result
            if kind == "mc" and result.tail is None:
                mc_tails.setdefault(
                    (process, hypothesis), (dataset, {k: result.values[k] for k in ("alpha", "n")})
                )
            row["tail_from"] = tail_from or ""
            row["insitu_alpha"] = " ".join(f"{a:+.4f}" for a in alphas.get(column, []))
            row.update({f"{k}": v for k, v in result.values.items()})
            row.update({f"{k}_error": v for k, v in result.errors.items()})
            row["chi2_ndf"] = result.chi2_ndf
            row["fixed"] = "; ".join(result.fixed)
            row["flags"] = "; ".join(result.flags)
            plotting.z_fit(
                result,
                plot_dir / f"{dataset}_{hypothesis}.png",
                f"{dataset} ({kind}): {hypothesis} energy",
            )
            if hypothesis != "baseline" and "baseline" in results:
                base = results["baseline"]
                paired = paired_sigma_improvement(
                    mass,
                    masses["e_baseline"].to_numpy(),
                    result,
                    base,
                    weights,
                    n_bootstrap,
                    **fit_config,
                )
                row["sigma_improvement"] = paired["value"]
                row["sigma_improvement_error"] = paired["error"]
                row["bootstrap_failed"] = paired["bootstrap_failed"]
                row["bootstrap_outliers"] = paired["bootstrap_outliers"]
                unstable = (
                    [
                        f"unstable bootstrap ({paired['bootstrap_outliers']} of "
                        f"{paired['bootstrap_ok']} resamples far out)"
                    ]
                    if paired["bootstrap_outliers"]
                    else []
                )
                row["sigma_improvement_flags"] = "; ".join(
                    [f"{flag} ({hypothesis})" for flag in result.flags]
                    + [f"{flag} (baseline)" for flag in base.flags]
                    + unstable
                    + paired["flags"]  # degenerate statistics: a NaN value or error says why
                )
            rows.append(row)
    return pd.DataFrame(rows)


def _insitu_calibrate(
    masses: pd.DataFrame, predictions: pd.DataFrame, datasets: dict, columns, edges, window
) -> dict:
    """Scale-calibrate Z -> ee data ``masses`` in place, each energy column against the MC
    Z -> ee predictions of the same column (egcalib.stats.insitu_scale); returns {column: alpha
    per bin}."""
    mc_names = [d for d, s in datasets.items() if s["kind"] == "mc" and s["process"] == "zee"]
    mc = dielectron_masses(predictions[predictions["dataset"].isin(mc_names)], columns)
    alphas = {}
    for column in columns:
        alphas[column] = insitu_scale.scale_factors(masses, mc, column, edges, window)
        masses[column] = insitu_scale.corrected_masses(masses, column, alphas[column], edges)
    return alphas
