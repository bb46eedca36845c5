"""Training weights: one policy for negative and zero MC event weights, the same for every trainer
(docs/design.md#models; config ``training.negative_weights``).

NLO generators (Sherpa, MG5_aMC@NLO) give ~30 % of their events a negative ``mcEventWeight``: the
sign comes from the matrix element's NLO subtraction, not from the shower or the detector. The
regression target E_true / E_acc is a detector response: an object of a negative-weight event is a
sample of that response like any other. So the trainers learn from the magnitudes (``abs``, the
default: the objects of every event, with their relative sizes), or from unit weights (``unit``),
or leave the negative ones out (``drop``: they contribute nothing; ROOT TMVA's
``IgnoreNegWeightsInTraining``). Training on |w| is the common practice of detector-response and
calibration training; negative weights are only needed where the training must reproduce the
signed cross section, which a response does not. They are also ill-posed for the learners:
LightGBM requires non-negative weights (its documentation since lightgbm-org/LightGBM#5013; the
check in C++ is lightgbm-org/LightGBM#5023) and its L1 leaf values are weighted medians, which a
negative weight makes meaningless; Keras accepts negative sample weights without a word and then
rewards a larger loss on those objects.

Zero weights contribute nothing under every policy. The evaluation (Z fits) keeps the signed
weights: only training reads this module.

The Kish effective sample size N_eff = (sum w)^2 / sum w^2 says what the weights leave of the
statistics: n for equal weights, about n (1 - 2 f)^2 for a fraction f of weights -1 (0.16 n for
f = 0.3). Both trainers log it for the signed weights and for those trained on
(``describe_weights``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow.compute as pc
import pyarrow.parquet as pq

from egcalib.skim.duplicates import IDENTITY, table_without_later_copies

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# The values of training.negative_weights (config.schema.yaml); abs is the default.
NEGATIVE_WEIGHT_POLICIES = ("abs", "drop", "unit")
# The training target of each kind of dataset (sidecar columns and record features, records.py):
# MC objects train on the truth E_true / E_acc, data objects on the Z-mass label E_label / E_acc.
TARGET_COLUMN = {"mc": "target", "data": "label_target"}


def trained_weights(weight: Any, policy: str, xp: ModuleType = np) -> Any:
    """The weights a trainer uses for the signed per-object ``weight`` under ``policy``
    (NEGATIVE_WEIGHT_POLICIES): ``abs`` |w|, ``drop`` max(w, 0), ``unit`` 1 for every non-zero
    weight; a zero weight stays zero. ``xp`` is the array namespace: numpy (the BDT) or
    ``tf.math`` (the CNN's input pipeline, egcalib.train.input_pipeline), so both apply the same
    function. A positive weight is returned unchanged by every policy but ``unit``. Raises
    ValueError for another policy."""
    if policy == "abs":
        return xp.abs(weight)
    if policy == "drop":
        return xp.maximum(weight, 0)
    if policy == "unit":
        return xp.abs(xp.sign(weight))
    raise ValueError(
        f"training.negative_weights: unknown policy {policy!r}, not one of "
        f"{list(NEGATIVE_WEIGHT_POLICIES)}"
    )


def effective_sample_size(weight: npt.ArrayLike) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 of ``weight`` (n,); 0 for no weights or
    only zero ones."""
    w = np.asarray(weight, np.float64)
    squares = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / squares if squares > 0 else 0.0


def weight_summary(weight: npt.ArrayLike, policy: str) -> dict:
    """Counts and effective sample sizes of the signed ``weight`` (n,) of training objects and of
    the weights trained on under ``policy``: ``n``, ``negative``, ``zero``, ``n_eff_signed``,
    ``n_eff_trained``."""
    w = np.asarray(weight, np.float64)
    return {
        "n": len(w),
        "negative": int(np.sum(w < 0)),
        "zero": int(np.sum(w == 0)),
        "n_eff_signed": effective_sample_size(w),
        "n_eff_trained": effective_sample_size(trained_weights(w, policy)),
    }


def describe_weights(model: str, what: str, weight: npt.ArrayLike, policy: str) -> str:
    """One log line on the weights of ``what`` (e.g. "mc train objects") of ``model``."""
    s = weight_summary(weight, policy)
    return (
        f"model {model}: {s['n']} {what}, {s['negative']} with a negative and {s['zero']} with a "
        f"zero weight; Kish N_eff = (sum w)^2 / sum w^2 {s['n_eff_signed']:.1f} signed, "
        f"{s['n_eff_trained']:.1f} as trained (training.negative_weights: {policy})"
    )


def check_finite(values: npt.ArrayLike, what: str, where: str) -> None:
    """Raise ValueError naming ``where`` when ``values`` (n,) hold NaN or infinity."""
    values = np.asarray(values, np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{where}: {int(bad.sum())} training objects with a non-finite {what} (first: "
            f"{values[bad][:5].tolist()}); a NaN or infinite value would turn the loss into NaN"
        )


def sidecar_objects(
    path: str | Path,
    split: str,
    kind: str,
    columns: Iterable[str] = (),
    model: str | None = None,
    later: pd.DataFrame | None = None,
) -> pa.Table:
    """The objects of ``split`` with a target in the shard sidecar ``path`` (pyarrow table of
    ``columns``, the target column of ``kind`` and ``weight``): a NaN target means none (no
    truth match, no label) and leaves the object out, as the input pipeline gives it weight 0;
    so do the ``later`` copies of repeated events (egcalib.skim.duplicates report rows), if given.
    Raises ValueError naming ``model`` and the file for an infinite target or a non-finite
    weight of an object with a target."""
    target = TARGET_COLUMN[kind]
    ids = ["dataset", "file", *IDENTITY] if later is not None and len(later) else []
    table = pq.read_table(path, columns=[*columns, *ids, "split", target, "weight"])
    table = table.filter(
        pc.and_(pc.equal(table["split"], split), pc.invert(pc.is_nan(table[target])))
    )
    if ids:
        table = table_without_later_copies(table, later)
    where = f"{'' if model is None else f'model {model}: '}{path} ({split} split)"
    check_finite(table[target].to_numpy(), f"target ({target})", where)
    check_finite(table["weight"].to_numpy(), "weight", where)
    return table


def split_weights(
    files_by_kind: dict, split: str, model: str | None = None, later: pd.DataFrame | None = None
) -> dict[str, np.ndarray]:
    """{kind: signed weights (n,) float64} of the objects of ``split`` with a target in the
    sidecars of ``files_by_kind`` ("mc" / "data" -> paths), checked by sidecar_objects; kinds
    without files are left out."""
    return {
        kind: np.concatenate(
            [
                sidecar_objects(p, split, kind, model=model, later=later)["weight"].to_numpy()
                for p in files
            ]
        ).astype(np.float64)
        for kind, files in sorted(files_by_kind.items())
        if files
    }


def describe_split_weights(
    model: str, files_by_kind: dict, split: str, policy: str, later: pd.DataFrame | None = None
) -> list[str]:
    """describe_weights lines, one per kind, of the objects of ``split`` with a target in the
    sidecars of ``files_by_kind``, checked by sidecar_objects (a non-finite weight or an
    infinite target raises ValueError naming ``model`` and the file)."""
    return [
        describe_weights(model, f"{kind} {split} objects", weight, policy)
        for kind, weight in split_weights(files_by_kind, split, model, later).items()
    ]
