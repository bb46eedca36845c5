"""The inputs of the cut-based photon menus: ATLAS's shower-shape variables of each photon
candidate, computed from its cell windows by egcalib.core.shower_shapes (the one home of the
formulas; this module only selects and arranges them).

The menus cut on the hadronic leakage as ATLAS's photon selector does (R_had over
0.8 <= |eta| < 1.37, R_had1 elsewhere: shower_shapes.hadronic_leakage), stored as ``r_had``,
and on the middle-layer and strip variables under their shower_shapes names. Windows are the
contract's (docs/design.md#images): (n, n_eta, n_phi) eta-major, or flat (n, n_eta * n_phi) as
the skim tables store them (the cells_lr* columns) with the native shapes given; energies in
GeV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from egcalib.core import shower_shapes as shapes

# The variables of ATLAS's photon menus (arXiv:1810.05087, Table 2), in the order of the table.
MENU_VARIABLES = (
    "r_had",
    "r_eta",
    "r_phi",
    "w_eta2",
    "w_s3",
    "w_stot",
    "f_side",
    "delta_e",
    "e_ratio",
)


def as_windows(
    cells: np.ndarray, layer: str, native_shapes: Mapping[str, Sequence[int]] | None
) -> np.ndarray:
    """One layer's windows as (n, n_eta, n_phi) floats: ``cells`` as they are when
    three-dimensional, reshaped eta-major from (n, n_eta * n_phi) with ``native_shapes[layer]``
    (config ``images.native_shapes``) when flat. Raises ValueError for a flat window without
    its shape or whose size is not n_eta * n_phi."""
    cells = np.asarray(cells, float)
    if cells.ndim == 3:
        return cells
    if cells.ndim != 2 or native_shapes is None or layer not in native_shapes:
        raise ValueError(
            f"{layer}: expected (n, n_eta, n_phi) windows, or (n, n_eta * n_phi) with its "
            f"native shape; got {cells.shape} and native shapes {native_shapes}"
        )
    n_eta, n_phi = native_shapes[layer]
    if cells.shape[1] != n_eta * n_phi:
        raise ValueError(f"{layer}: {cells.shape[1]} cells per window, not {n_eta} x {n_phi}")
    return cells.reshape(len(cells), n_eta, n_phi)


def menu_inputs(
    cells: Mapping[str, np.ndarray],
    e_layers: np.ndarray,
    e_had1: np.ndarray,
    e_had: np.ndarray,
    eta: np.ndarray,
    native_shapes: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, np.ndarray]:
    """The menus' input table: MENU_VARIABLES, each (n,), for n photon candidates.

    ``cells``: windows by layer, at least ``lr1`` (strips) and ``lr2`` (middle), see
    as_windows; ``e_layers``: (n, 4) the cluster's layer energies cl_E0 .. cl_E3 [GeV];
    ``e_had1``, ``e_had``: (n,) the energies behind the cluster [GeV] (the contract's optional
    Ehad1, Ehad); ``eta``: (n,) the cluster's eta, which picks R_had or R_had1. Definitions,
    units and source: egcalib.core.shower_shapes (arXiv:1810.05087, Table 1); NaN where a
    variable is undefined (empty windows). Raises KeyError without ``lr1`` or ``lr2``,
    ValueError for windows or arrays of the wrong shape."""
    windows = {layer: as_windows(cells[layer], layer, native_shapes) for layer in ("lr1", "lr2")}
    all_shapes = shapes.shower_shapes(windows, e_layers, e_had1=e_had1, e_had=e_had)
    table = {name: all_shapes[name] for name in MENU_VARIABLES if name in all_shapes}
    table["r_had"] = shapes.hadronic_leakage(all_shapes["r_had1"], all_shapes["r_had"], eta)
    return {name: table[name] for name in MENU_VARIABLES}
