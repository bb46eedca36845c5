"""ATLAS's cut-based photon identification, loose and tight, as the baseline of the photon-ID
stage: the menus, their tuning on signal photons, the menu file and its application.

What ATLAS's menus are (ATLAS, Eur. Phys. J. C 79 (2019) 205, arXiv:1810.05087, section 3 and
Table 2): rectangular cuts on shower-shape variables in bins of the cluster's |eta|,
0-0.6-0.8-1.15-1.37-1.52-1.81-2.01-2.37, the crack 1.37-1.52 and |eta| >= 2.37 excluded (a
photon there passes neither menu). Loose cuts on the hadronic leakage R_had (R_had1 outside
0.8-1.37), R_eta and w_eta2, the same for converted and unconverted photons; tight adds R_phi
and the strip variables w_s3, w_stot, f_side, Delta E and E_ratio, tuned separately for
converted and unconverted photons. A photon passes a cut on R_had, w_eta2, w_s3, w_stot,
f_side or Delta E when at or below it, on R_eta, R_phi or E_ratio when at or above it
(DIRECTIONS). ATLAS optimised its cuts on simulated prompt photons and jets; egcalib tunes them
on signal alone (tune_menus), so that the menus pass a documented share of prompt photons.

Tuning (deterministic, exact on the sample; docs/photon-id.md#tuning): in each |eta| bin (and,
for tight, each conversion category) every variable of the menu is cut at the same signal
quantile, the r-th most signal-like value from the worst end of each variable; r is the
largest integer (found by bisection) for which the menu's combined efficiency on the signal
is at least the target. Loose is tuned first on all signal photons of the bin; tight's cuts
on the loose variables are then clipped to be no looser than loose's, so that every tight
photon passes loose (apply_menus also requires loose for tight).

Targets (TIGHT_TARGETS, LOOSE_TARGET): ATLAS's tight efficiency for isolated prompt photons
rises with E_T, from about 53-64 % (unconverted) and 47-61 % (converted) at 10 GeV to about
88-92 % and 96-98 % above 100 GeV (arXiv:1810.05087, conclusions; approximate, not re-read
here). egcalib takes one inclusive target per category, the middle of the plateau ranges:
0.90 unconverted, 0.97 converted. Loose is the preselection that keeps nearly every prompt
photon: 0.98 is egcalib's choice, not a cited number.

The menu file (write_menus, read_menus) is YAML a user can read: bins, variables with their
direction and unit, the cuts, the targets, the signal count and achieved efficiency per bin,
the source. Shower-shape tables (the inputs) come from egcalib.photon_id.inputs.menu_inputs:
a dict of (n,) arrays keyed by variable.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from egcalib.core.atomic import atomic_path
from egcalib.photon_id.inputs import MENU_VARIABLES

# ATLAS's |eta| bins of the photon menus (arXiv:1810.05087, section 3), the crack excluded.
ABS_ETA_EDGES = (0.0, 0.6, 0.8, 1.15, 1.37, 1.52, 1.81, 2.01, 2.37)
CRACK = (1.37, 1.52)
ABS_ETA_BINS = tuple((lo, hi) for lo, hi in itertools.pairwise(ABS_ETA_EDGES) if lo != CRACK[0])
# How a photon passes each variable's cut, as ATLAS cuts it: "<=" the cut is an upper bound.
DIRECTIONS = {
    "r_had": "<=",
    "r_eta": ">=",
    "r_phi": ">=",
    "w_eta2": "<=",
    "w_s3": "<=",
    "w_stot": "<=",
    "f_side": "<=",
    "delta_e": "<=",
    "e_ratio": ">=",
}
UNITS = {"w_eta2": "eta", "w_s3": "strips", "w_stot": "strips", "delta_e": "GeV"}
LOOSE_VARIABLES = ("r_had", "r_eta", "w_eta2")  # arXiv:1810.05087, Table 2
TIGHT_VARIABLES = MENU_VARIABLES  # loose's and R_phi, w_s3, w_stot, f_side, Delta E, E_ratio
CATEGORIES = ("unconverted", "converted")
# Module docstring: the plateau of ATLAS's tight efficiency; loose is egcalib's choice.
TIGHT_TARGETS = {"unconverted": 0.90, "converted": 0.97}
LOOSE_TARGET = 0.98
# Fewer signal photons than this in a bin leave its quantiles to a handful of objects.
MIN_SIGNAL = 100
SOURCE = (
    "ATLAS, Measurement of the photon identification efficiencies with the ATLAS detector "
    "using LHC Run 2 data collected in 2015 and 2016, Eur. Phys. J. C 79 (2019) 205, "
    "arXiv:1810.05087: variables (Table 1), menus (section 3, Table 2), |eta| bins, tight "
    "efficiency plateau (conclusions)"
)
TUNING = (
    "per |eta| bin (tight: and per conversion category), every variable cut at a common "
    "signal quantile, the largest for which the menu's efficiency on the signal photons is at "
    "least the target (integer bisection on the quantile's rank); tight no looser than loose "
    "on the loose variables (docs/photon-id.md#tuning)"
)


def _signs(variables: Sequence[str]) -> np.ndarray:
    """(k,) +1 for an upper cut, -1 for a lower one: sign * x <= sign * cut passes."""
    return np.array([1.0 if DIRECTIONS[v] == "<=" else -1.0 for v in variables])


def _columns(table: Mapping[str, Any], variables: Sequence[str], n: int) -> np.ndarray:
    """The (n, k) float values of ``variables``; ValueError naming a missing or misshapen one."""
    out = np.empty((n, len(variables)))
    for j, name in enumerate(variables):
        if name not in table:
            raise ValueError(f"the shower-shape table has no variable {name!r}")
        column = np.asarray(table[name], float)
        if column.shape != (n,):
            raise ValueError(f"variable {name!r} has shape {column.shape}, expected ({n},)")
        out[:, j] = column
    return out


def _check_finite(values: np.ndarray, variables: Sequence[str], where: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        j = int(np.argmax(bad.any(axis=0)))
        raise ValueError(
            f"variable {variables[j]!r} has {int(bad[:, j].sum())} non-finite values {where}: "
            "drop such objects first"
        )


def _kinematics(eta: np.ndarray, converted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    eta, converted = np.asarray(eta, float), np.asarray(converted)
    if eta.ndim != 1 or converted.shape != eta.shape:
        raise ValueError(f"eta {eta.shape} and converted {converted.shape} must be (n,) alike")
    if not np.all(np.isfinite(eta)):
        raise ValueError(f"eta has {int((~np.isfinite(eta)).sum())} non-finite values")
    return eta, converted.astype(bool)


def abs_eta_bin(eta: np.ndarray, bins: Sequence[Sequence[float]] = ABS_ETA_BINS) -> np.ndarray:
    """The index (n,) into ``bins`` (ascending [lo, hi) ranges of |eta|) of each ``eta`` (n,),
    -1 outside every bin (the crack, beyond the last). Raises nothing: NaN gives -1."""
    abs_eta = np.abs(np.asarray(eta, float))
    lows = np.array([lo for lo, _ in bins], float)
    highs = np.array([hi for _, hi in bins], float)
    index = np.searchsorted(lows, abs_eta, side="right") - 1
    inside = (index >= 0) & (abs_eta < highs[np.clip(index, 0, None)])
    return np.where(inside, index, -1)


def _tune(upper: np.ndarray, target: float, bound: np.ndarray) -> tuple[np.ndarray, float]:
    """Cuts (k,) in upper-bound form on signal values ``upper`` (m, k) (sign * x, passing at or
    below the cut), at a common rank r from the top of each column, no looser than ``bound``
    (k,); r the largest with efficiency >= ``target`` (0 where even r = 0 falls short). Returns
    the cuts and their efficiency on the sample."""
    m = len(upper)
    ordered = np.sort(upper, axis=0)

    def cuts(rank: int) -> np.ndarray:
        return np.minimum(ordered[m - 1 - rank], bound)

    def efficiency(rank: int) -> float:
        return float(np.mean(np.all(upper <= cuts(rank), axis=1)))

    lo, hi = 0, m - 1
    if efficiency(hi) >= target:
        lo = hi
    elif efficiency(lo) >= target:
        while hi - lo > 1:  # invariant: efficiency(lo) >= target > efficiency(hi)
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if efficiency(mid) >= target else (lo, mid)
    return cuts(lo), efficiency(lo)


def _block(variables, target, rows, bins) -> dict[str, Any]:
    return {
        "target_efficiency": float(target),
        "variables": list(variables),
        "bins": [
            {
                "abs_eta": [float(lo), float(hi)],
                "n_signal": n,
                "efficiency": eff,
                "cuts": {v: float(c) for v, c in zip(variables, cut, strict=True)},
            }
            for (lo, hi), (n, eff, cut) in zip(bins, rows, strict=True)
        ],
    }


def tune_menus(
    table: Mapping[str, Any],
    eta: np.ndarray,
    converted: np.ndarray,
    tight_targets: Mapping[str, float] = TIGHT_TARGETS,
    loose_target: float = LOOSE_TARGET,
    min_signal: int = MIN_SIGNAL,
    tuned_on: str = "",
) -> dict[str, Any]:
    """Loose and tight menus tuned on signal (prompt) photons (module docstring, Tuning).

    ``table``: the photons' shower-shape variables (TIGHT_VARIABLES at least), each (n,);
    ``eta``: (n,) the cluster's eta; ``converted``: (n,) bool (convType > 0);
    ``tight_targets``: efficiency per CATEGORIES; ``tuned_on``: what the sample is, recorded.
    Photons outside the bins are ignored. Returns the menus as the plain dict the menu file
    holds (write_menus). Raises ValueError for a missing or misshapen variable, a non-finite
    value of a photon in a bin, a non-finite eta, a bin (and category) with fewer than
    ``min_signal`` photons, naming it, or a target outside (0, 1]."""
    eta, converted = _kinematics(eta, converted)
    targets = {"loose": loose_target, **{c: tight_targets[c] for c in CATEGORIES}}
    for name, target in targets.items():
        if not 0.0 < target <= 1.0:
            raise ValueError(f"target efficiency of {name} is {target}, not in (0, 1]")
    values = _columns(table, TIGHT_VARIABLES, len(eta))
    upper = values * _signs(TIGHT_VARIABLES)
    bins = abs_eta_bin(eta)
    _check_finite(values[bins >= 0], TIGHT_VARIABLES, "among the photons in |eta| bins")
    loose_columns = [TIGHT_VARIABLES.index(v) for v in LOOSE_VARIABLES]
    loose_rows: list[tuple[int, float, np.ndarray]] = []
    tight_rows: dict[str, list[tuple[int, float, np.ndarray]]] = {c: [] for c in CATEGORIES}
    for b, (lo, hi) in enumerate(ABS_ETA_BINS):
        in_bin = bins == b
        where = f"|eta| bin [{lo}, {hi})"
        if in_bin.sum() < min_signal:
            raise ValueError(
                f"{where}: {int(in_bin.sum())} signal photons, fewer than {min_signal}"
            )
        loose_cut, loose_eff = _tune(
            upper[in_bin][:, loose_columns], loose_target, np.full(len(loose_columns), np.inf)
        )
        loose_rows.append((int(in_bin.sum()), loose_eff, loose_cut * _signs(LOOSE_VARIABLES)))
        bound = np.full(len(TIGHT_VARIABLES), np.inf)
        bound[loose_columns] = loose_cut
        for i, category in enumerate(CATEGORIES):
            group = in_bin & (converted == bool(i))
            if group.sum() < min_signal:
                raise ValueError(
                    f"{where}, {category}: {int(group.sum())} signal photons, fewer than "
                    f"{min_signal}"
                )
            cut, eff = _tune(upper[group], tight_targets[category], bound)
            tight_rows[category].append((int(group.sum()), eff, cut * _signs(TIGHT_VARIABLES)))
    return {
        "menu": "egcalib cut-based photon identification (ATLAS's loose and tight, re-tuned)",
        "source": SOURCE,
        "tuning": TUNING,
        "tuned_on": tuned_on,
        "abs_eta_bins": [[float(lo), float(hi)] for lo, hi in ABS_ETA_BINS],
        "outside_bins": "a photon in the crack 1.37 <= |eta| < 1.52 or at |eta| >= 2.37 "
        "passes neither menu",
        "variables": {
            v: {"pass": DIRECTIONS[v], "unit": UNITS.get(v, "dimensionless")}
            for v in TIGHT_VARIABLES
        },
        "loose": _block(LOOSE_VARIABLES, loose_target, loose_rows, ABS_ETA_BINS),
        "tight": {
            c: _block(TIGHT_VARIABLES, tight_targets[c], tight_rows[c], ABS_ETA_BINS)
            for c in CATEGORIES
        },
    }


def _passes(block, bins, inside, table, n, directions, where) -> np.ndarray:
    """(n,) bool: the photons in a bin that pass every cut of one menu ``block``."""
    variables = block["variables"]
    values = _columns(table, variables, n)
    _check_finite(values[inside], variables, where)
    index = np.where(inside, bins, 0)
    ok = inside.copy()
    for j, name in enumerate(variables):
        cuts = np.array([row["cuts"][name] for row in block["bins"]], float)[index]
        ok &= values[:, j] <= cuts if directions[name]["pass"] == "<=" else values[:, j] >= cuts
    return ok


def apply_menus(
    menus: Mapping[str, Any], table: Mapping[str, Any], eta: np.ndarray, converted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The (loose, tight) decisions, each (n,) bool, of photons with shower-shape ``table``
    (the menus' variables, each (n,)), cluster ``eta`` (n,) and ``converted`` (n,) bool, by
    ``menus`` (tune_menus or read_menus). A photon outside the |eta| bins passes neither; tight
    requires loose. Raises ValueError for a missing or misshapen variable, a non-finite value
    of a photon in a bin (naming the variable) or a non-finite eta."""
    eta, converted = _kinematics(eta, converted)
    n = len(eta)
    bins = abs_eta_bin(eta, menus["abs_eta_bins"])
    inside = bins >= 0
    directions = menus["variables"]
    loose = _passes(menus["loose"], bins, inside, table, n, directions, "(loose)")
    tight = np.zeros(n, bool)
    for i, category in enumerate(CATEGORIES):
        group = inside & (converted == bool(i))
        block = menus["tight"][category]
        tight |= _passes(block, bins, group, table, n, directions, f"(tight, {category})")
    return loose, tight & loose


def _check_menus(menus: Any, where: str) -> None:
    """ValueError naming ``where`` and the key unless ``menus`` has the menu file's layout."""

    def need(mapping, key, what):
        if not isinstance(mapping, dict) or key not in mapping:
            raise ValueError(f"{where}: no {key!r} in {what}")
        return mapping[key]

    bins = need(menus, "abs_eta_bins", "the menu file")
    variables = need(menus, "variables", "the menu file")
    blocks = {"loose": need(menus, "loose", "the menu file")}
    tight = need(menus, "tight", "the menu file")
    blocks.update({f"tight {c}": need(tight, c, "tight") for c in CATEGORIES})
    for name, block in blocks.items():
        rows = need(block, "bins", name)
        if len(rows) != len(bins):
            raise ValueError(f"{where}: {name} has {len(rows)} bins, not {len(bins)}")
        for row, edges in zip(rows, bins, strict=True):
            if need(row, "abs_eta", name) != edges:
                raise ValueError(f"{where}: {name} bin {row['abs_eta']} is not {edges}")
            for v in need(block, "variables", name):
                pass_ = need(need(variables, v, "variables"), "pass", f"variable {v!r}")
                cut = need(need(row, "cuts", f"{name} bin {edges}"), v, f"{name} bin {edges}")
                if pass_ not in ("<=", ">=") or not math.isfinite(cut):
                    raise ValueError(f"{where}: {name} bin {edges}: bad cut {v} {pass_} {cut}")


def write_menus(menus: Mapping[str, Any], path: str | Path) -> None:
    """Write ``menus`` (tune_menus's dict) as YAML to ``path``, atomically. Floats are written
    as Python's repr, so read_menus gives back the same numbers exactly."""
    _check_menus(dict(menus), str(path))
    text = yaml.safe_dump(dict(menus), sort_keys=False, default_flow_style=None, width=100)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_menus(path: str | Path) -> dict[str, Any]:
    """The menus of a file written by write_menus (or edited by hand in its layout). Raises
    ValueError naming the file and the key when the layout is broken."""
    menus = yaml.safe_load(Path(path).read_text())
    _check_menus(menus, str(path))
    return menus
