"""The photon-identification table of a dataset: one row per photon candidate of its skim
tables, with the event's split, the kinematics the evaluation bins in, the truth label and the
shower-shape variables of the menus (egcalib.photon_id.inputs).

Labels follow ATLAS's truth classification: a candidate is signal (a prompt photon) when
MCTruthClassifier's ParticleOrigin of its truth particle is one of a prompt photon's, and
background otherwise (the photon candidates of jets: pi0 and other light mesons). Data have no
label.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from egcalib.photon_id.inputs import MENU_VARIABLES, menu_inputs
from egcalib.shards.skim_table import fixed_size
from egcalib.shards.splits import table_splits

log = logging.getLogger(__name__)

# MCTruthClassifier's ParticleOrigin of prompt photons (athena, Generators/TruthUtils,
# TruthClasses.h): SinglePhot 3, PromptPhot 37, UndrPhot 38, ISRPhot 39, FSRPhot 40.
PROMPT_ORIGINS = (3, 37, 38, 39, 40)
SIGNAL, BACKGROUND, UNLABELLED = 1, 0, -1

# The columns of the table besides MENU_VARIABLES.
KEY_COLUMNS = ("dataset", "file", "runNumber", "eventNumber", "object_index")
COLUMNS = (
    *KEY_COLUMNS,
    "split",  # 0 train, 1 val, 2 test (egcalib.shards.splits)
    "eta",  # the cluster's eta
    "et",  # E_T of the baseline energy [GeV]
    "converted",  # reconstructed as converted (convType > 0)
    "mu",  # pile-up: average interactions per bunch crossing
    "weight",  # MC event weight (1 in data)
    "truth_origin",  # ParticleOrigin; -1 in data or without the branch
    "label",  # SIGNAL, BACKGROUND or UNLABELLED
    # The windows of the strips, the middle and the back layer [GeV], flat eta-major as in the
    # skim tables: the ID CNN's input (egcalib.photon_id.cnn).
    "cells_lr1",
    "cells_lr2",
    "cells_lr3",
)


def truth_labels(truth_origin: np.ndarray, is_mc: bool) -> np.ndarray:
    """SIGNAL or BACKGROUND (n,) int8 from the candidates' ParticleOrigin ``truth_origin`` (n,)
    in MC: signal for PROMPT_ORIGINS; UNLABELLED for every candidate in data. Raises ValueError
    for MC candidates without an origin (-1: the file has no truth-origin branch), which no
    label can be given."""
    origin = np.asarray(truth_origin)
    if not is_mc:
        return np.full(len(origin), UNLABELLED, np.int8)
    if (origin < 0).any():
        raise ValueError(
            f"{int((origin < 0).sum())} MC photon candidates have no truth origin (the ntuple "
            "lacks the {el,ph}_truth_origin branch, docs/design.md#input-ntuple-contract): "
            "photon identification needs it for its labels"
        )
    return np.where(np.isin(origin, PROMPT_ORIGINS), SIGNAL, BACKGROUND).astype(np.int8)


def identification_table(
    table: pa.Table,
    native_shapes: Mapping[str, Sequence[int]],
    splits: Mapping,
    is_mc: bool,
) -> tuple[pd.DataFrame, int]:
    """The photon-identification rows of one skim table (docs/design.md#shards, columns
    cells_lr1..3, cl_E0..3, e_had1, e_had, truth_origin and the ids).

    ``native_shapes``: config ``images.native_shapes``; ``splits``: config ``splits`` (the
    assignment the shards use). Returns (COLUMNS and MENU_VARIABLES, one row per candidate
    whose variables are all finite; the number of candidates dropped because a variable is not
    finite: empty windows, or no E_had1 / E_had in the file). Raises ValueError as
    truth_labels does."""
    n = table.num_rows
    cells = {layer: fixed_size(table[f"cells_{layer}"]) for layer in ("lr1", "lr2", "lr3")}
    e_layers = np.stack([table[f"cl_E{i}"].to_numpy() for i in range(4)], axis=1)
    eta = table["cl_eta"].to_numpy().astype(float)
    inputs = menu_inputs(
        cells,
        e_layers,
        table["e_had1"].to_numpy().astype(float),
        table["e_had"].to_numpy().astype(float),
        eta,
        native_shapes,
    )
    frame = pd.DataFrame(
        {
            **{k: table[k].to_numpy(zero_copy_only=False) for k in KEY_COLUMNS},
            "split": table_splits(table, dict(splits)) if n else np.zeros(0, np.int8),
            "eta": eta,
            "et": table["pt"].to_numpy().astype(float),
            "converted": table["conv_type"].to_numpy() > 0,
            "mu": table["scalar_mu"].to_numpy().astype(float),
            "weight": table["weight"].to_numpy().astype(float),
            "truth_origin": table["truth_origin"].to_numpy(),
            "label": truth_labels(table["truth_origin"].to_numpy(), is_mc),
            **{f"cells_{layer}": list(windows) for layer, windows in cells.items()},
            **inputs,
        }
    )
    finite = np.isfinite(frame[list(MENU_VARIABLES)].to_numpy()).all(axis=1)
    return frame[finite].reset_index(drop=True), int((~finite).sum())


# What each role of the stage's datasets must be: (kinds, processes).
_ROLES = {
    "datasets": (("mc",), ("pgun", "zmumug", "jets")),
    "radiative_z.data": (("data",), ("zmumug",)),
    "radiative_z.mc": (("mc",), ("zmumug",)),
}


def stage_datasets(section: Mapping, datasets: Mapping[str, Mapping]) -> list[str]:
    """The datasets the photon-identification stage reads, in order, without repeats: config
    ``photon_id`` ``section``'s ``datasets`` (MC photon candidates: single photons,
    Z -> mumugamma, jets) and its ``radiative_z`` ``data`` and ``mc`` (Z -> mumugamma).
    ``datasets``: config ``datasets``. Raises ValueError naming the key and the dataset when
    one is not in ``datasets`` or is of the wrong kind or process."""
    named = {
        "datasets": list(section["datasets"]),
        "radiative_z.data": [section["radiative_z"]["data"]],
        "radiative_z.mc": [section["radiative_z"]["mc"]],
    }
    for role, names in named.items():
        kinds, processes = _ROLES[role]
        for name in names:
            if name not in datasets:
                raise ValueError(
                    f"photon_id.{role}: unknown dataset {name!r}; datasets has "
                    f"{list(datasets)} (photon_id.datasets: [] turns the stage off)"
                )
            spec = datasets[name]
            if spec["kind"] not in kinds or spec["process"] not in processes:
                raise ValueError(
                    f"photon_id.{role}: dataset {name!r} is {spec['kind']} {spec['process']}; "
                    f"it must be {' or '.join(kinds)} of process {', '.join(processes)}"
                )
    return list(dict.fromkeys(n for names in named.values() for n in names))
