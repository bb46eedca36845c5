"""Physical plausibility of what was read: energies and momenta in GeV.

A file in MeV, a mapping to the wrong branch or a leaf that uproot misreads (uproot 5.7.7 reads
``Double32_t`` array leaves with a range, ``el_e[nel]/d[0,200,20]``, as ~1e-40) gives numbers
that no selection can make sense of: in MeV every MC object fails truth matching, at 1e-40 every
object fails the ET cut, and the skim would "succeed" with nothing or with nonsense. So the
median of |value| of every energy and momentum branch read is checked, per step of a file,
against a range no physics sample leaves: below 1 MeV (0.001 GeV) is a misread or a unit error,
above 10 TeV (a Z->ee electron in MeV is ~40000 "GeV") means MeV. The error names the file, the
logical name, its branch and mapping, and the values seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import awkward as ak
import numpy as np

from egcalib.skim.branch_mapping import NtupleContentError

# Median of |value| in GeV that a physics sample stays within.
MEDIAN_RANGE_GEV = (1e-3, 1e4)
# Per-object energy and momentum fields (logical ``{prefix}_{field}``) of each collection.
ENERGY_FIELDS = {
    "el": ("e", "pt", "cl_Eacc", "truth_e", "binned_e", "trk_pt"),
    "ph": ("e", "pt", "cl_Eacc", "truth_e", "binned_e"),
    "mu": ("pt",),
    "trk": ("pt",),
}


def energy_names(fields: Iterable[str]) -> list[str]:
    """The energy/momentum logical names among ``fields``."""
    names = {f"{prefix}_{f}" for prefix, fs in ENERGY_FIELDS.items() for f in fs}
    return [name for name in fields if name in names]


def check_energies(
    events: ak.Array,
    path: str,
    sources: Mapping,
    median_range: tuple[float, float] = MEDIAN_RANGE_GEV,
    zero_is_absent: Iterable[str] = (),
) -> None:
    """Raise NtupleContentError if the median |value| of an energy/momentum field of ``events``
    (GeV; NaN ignored) lies outside ``median_range``. Fields without finite values are skipped
    (an optional reference absent from the file reads as NaN). In the ``zero_is_absent``
    fields 0 means "none" (the truth energy of an unmatched object: most photon candidates of
    jets) and is ignored like NaN."""
    low, high = median_range
    zero_is_absent = set(zero_is_absent)
    for name in energy_names(events.fields):
        values = ak.to_numpy(ak.flatten(events[name], axis=None)).astype(np.float64)
        values = np.abs(values[np.isfinite(values)])
        if name in zero_is_absent:
            values = values[values != 0]
        if len(values) == 0:
            continue
        median = float(np.median(values))
        if low <= median <= high:
            continue
        source = sources.get(name, name)
        seen = (
            f"median {median:.3g} over {len(values)} values (min {values.min():.3g}, "
            f"max {values.max():.3g})"
        )
        if median < low:
            why = (
                f"below {low:g} GeV (1 MeV): not a physical energy; a leaf uproot misreads "
                "(Double32_t/Float16_t with a range) or a branch in other units"
            )
        else:
            why = (
                f"above {high:g} GeV (10 TeV): energies must be in GeV; if the branch is in "
                f"MeV, map it in config ntuple.branches, e.g. {name}: "
                f'"{source.branches[0] if hasattr(source, "branches") else name} / 1000"'
            )
        raise NtupleContentError(f"{path}: {source}: values not plausible as GeV: {seen} is {why}")
