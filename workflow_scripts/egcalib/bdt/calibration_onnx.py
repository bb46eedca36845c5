"""The BDT control as a self-contained ONNX calibration (docs/design.md#models): the 16 scalars
as an ntuple gives them in, the energy in GeV out, like the CNN's
(egcalib.infer.calibration_onnx), for onnxruntime alone.

The LightGBM model predicts the correction E / E_acc from the scalars in physical units (no
normalisation); the calibration is onnxmltools' conversion of it (a TreeEnsembleRegressor) times
E_acc, the first scalar. Input ``scalars`` (n, 16) float32 in contract order, output ``energy``
(n,) float32 [GeV]; the metadata are the CNN calibration's, plus ``native_shapes``: the cell
windows the skim computed the scalars from (poscs2 and the hottest cell come from the middle
layer's window), so egcalib.apply reads an ntuple's windows as the model saw them.

Thresholds. LightGBM sends x left when double(x) <= t, t a double; ONNX's TreeEnsembleRegressor
keeps its thresholds as float32 and compares the float32 input with them. Rounded to nearest,
float32(t) lies above t for many splits, and an input equal to it would go left in
ONNX and right in LightGBM. For a float32 x, x <= t exactly when x <= the largest float32 not
above t, so the export first rounds every threshold down to that (rounded_model: it changes no
LightGBM decision on float32 inputs) and ONNX takes LightGBM's leaf in every tree for every
float32 input. LightGBM also reads every |x| <= 1e-35 as 0 (ZERO_THRESHOLD), and so does the
calibration, in front of the trees. What remains is the sum of the leaves: float32 in ONNX
(double in LightGBM), in double between blocks of TREES_PER_NODE trees (the converter's
``split``), so it stays near float32 rounding of the correction however many rounds the model
has.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from egcalib.bdt.training import NUM_THREADS
from egcalib.core.contract import SCALAR_COLUMNS, SCALARS
from egcalib.infer.onnx_export import (
    ENERGY,
    compare_outputs,
    onnx_energies,
    scalars_input,
    write_calibration,
)

if TYPE_CHECKING:
    import lightgbm as lgb
    import onnx

# The converter's largest opset (onnxmltools 1.16 with onnx 1.23).
OPSET = 15
# Trees per TreeEnsembleRegressor node: their leaves summed in float32, the nodes' sums in double,
# so the float32 rounding of the sum does not grow with the number of boosting rounds.
TREES_PER_NODE = 10
E_ACC = SCALARS.index("E_acc")
# LightGBM's kZeroThreshold (1e-35f): it reads an input of |x| <= it as 0 (a sparse zero).
ZERO_THRESHOLD = np.float32(1e-35)


def _trees(model_text: str) -> tuple[str, list[str], str]:
    """A LightGBM text model cut into (what precedes the trees, each ``Tree=`` block in order,
    from ``end of trees`` on)."""
    first = re.search(r"^Tree=", model_text, re.M)
    if first is None:
        return model_text, [], ""
    end = model_text.index("end of trees", first.start())
    trees = re.split(r"^(?=Tree=)", model_text[first.start() : end], flags=re.M)
    return model_text[: first.start()], [tree for tree in trees if tree], model_text[end:]


def _field(tree: str, key: str) -> list[str]:
    """The values of the line ``key=v1 v2 ...`` of a tree block ([] where it has none: a single
    leaf has no splits)."""
    line = re.search(rf"^{key}=(.*)$", tree, re.M)
    return [] if line is None else line.group(1).split()


def numerical_splits(model_text: str) -> tuple[np.ndarray, np.ndarray]:
    """The numerical splits of every tree of a LightGBM text model: the feature index (k,) int64
    and the threshold (k,) float64 of each (x goes left when x <= threshold). Raises ValueError
    for a categorical split (the BDT has no categorical feature)."""
    features, thresholds = [np.zeros(0, np.int64)], [np.zeros(0)]
    for tree in _trees(model_text)[1]:
        if np.any(np.array(_field(tree, "decision_type"), np.int64) & 1):  # kCategoricalMask
            raise ValueError("a categorical split: not a BDT of egcalib.bdt.training")
        features.append(np.array(_field(tree, "split_feature"), np.int64))
        thresholds.append(np.array(_field(tree, "threshold"), np.float64))
    return np.concatenate(features), np.concatenate(thresholds)


def round_down_to_float32(values: np.ndarray) -> np.ndarray:
    """The largest float32 <= each of ``values`` (float64): (k,) float32. For a float32 x,
    x <= v exactly when x <= the result."""
    values = np.asarray(values, np.float64)
    with np.errstate(over="ignore"):  # beyond the float32 range: inf, stepped back below
        rounded = values.astype(np.float32)
    above = rounded.astype(np.float64) > values
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def _rounded_thresholds(line: re.Match) -> str:
    values = round_down_to_float32(np.array(line.group(1).split(), np.float64))
    # repr: the shortest text that reads back as the same double (LightGBM's parser rounds
    # correctly), here exactly the float32 value.
    return "threshold=" + " ".join(repr(float(v)) for v in values)


def rounded_model(model_text: str) -> str:
    """The LightGBM text model with every threshold rounded down to float32
    (round_down_to_float32): the same decision as the original for every float32 input, and
    thresholds that ONNX's float32 holds exactly. The header's ``tree_sizes`` (the length of
    each tree block, which LightGBM's reader relies on) follow. Raises ValueError as
    numerical_splits does."""
    numerical_splits(model_text)  # refuses categorical splits
    head, trees, tail = _trees(model_text)
    trees = [re.sub(r"^threshold=(.*)$", _rounded_thresholds, tree, flags=re.M) for tree in trees]
    sizes = " ".join(str(len(tree.encode())) for tree in trees)
    head = re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", head, flags=re.M)
    return head + "".join(trees) + tail


def model_hash(spec: dict, model_text: str) -> str:
    """sha256 of what fixes the calibration's outputs: the model spec and the LightGBM text
    model (canonical JSON of the spec and the model text's own sha256)."""
    digest = hashlib.sha256(model_text.encode()).hexdigest()
    text = json.dumps({"spec": spec, "model_txt_sha256": digest}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def calibration_graph(booster: lgb.Booster, name: str) -> onnx.ModelProto:
    """onnxmltools' conversion of ``booster`` (the correction, (n, 1)) wrapped into the
    calibration: ``scalars`` (n, 16) float32 -> ``energy`` = correction x E_acc (n,) float32
    [GeV], the trees reading the scalars as LightGBM does (ZERO_THRESHOLD). Its thresholds as
    given: export_bdt_calibration passes the rounded_model. No metadata. Raises onnx's
    ValidationError if the graph is not valid ONNX."""
    import onnx
    from onnx import TensorProto, helper
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    # The converter's split fails on a single block: one node then.
    split = TREES_PER_NODE if booster.num_trees() > TREES_PER_NODE else None
    proto = convert_lightgbm(
        booster,
        name=name,
        initial_types=[("trees_input", FloatTensorType([None, len(SCALARS)]))],
        target_opset=OPSET,
        zipmap=False,
        split=split,
    )
    for opset in proto.opset_import:
        if opset.domain in ("", "ai.onnx"):  # the converter's minimum: 8 lacks Where
            opset.version = OPSET
    graph = proto.graph
    (correction,) = graph.output
    # |x| <= ZERO_THRESHOLD exactly when |x| < the next float32 above it; NaN stays NaN.
    tiny = np.nextafter(ZERO_THRESHOLD, np.float32(np.inf))
    graph.initializer.extend(
        [
            helper.make_tensor("tiny", TensorProto.FLOAT, [], [float(tiny)]),
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("e_acc_index", TensorProto.INT64, [], [E_ACC]),
            helper.make_tensor("flat", TensorProto.INT64, [1], [-1]),
        ]
    )
    before = [
        helper.make_node("Abs", ["scalars"], ["abs_scalars"]),
        helper.make_node("Less", ["abs_scalars", "tiny"], ["is_zero"]),
        helper.make_node("Where", ["is_zero", "zero", "scalars"], ["trees_input"]),
    ]
    after = [
        helper.make_node("Gather", ["scalars", "e_acc_index"], ["e_acc"], axis=1),
        helper.make_node("Reshape", [correction.name, "flat"], ["correction_flat"]),
        helper.make_node("Mul", ["correction_flat", "e_acc"], [ENERGY]),
    ]
    nodes = [*before, *graph.node, *after]  # in topological order, as ONNX requires
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.input[:], graph.output[:]
    graph.input.append(
        helper.make_tensor_value_info("scalars", TensorProto.FLOAT, [None, len(SCALARS)])
    )
    graph.output.append(helper.make_tensor_value_info(ENERGY, TensorProto.FLOAT, [None]))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_bdt_calibration(
    model_path: str | Path,
    spec: dict,
    particle: str,
    native_shapes: dict,
    path: str | Path,
) -> dict[str, str]:
    """Write the self-contained calibration of the LightGBM text model ``model_path`` (the
    train_bdt rule's model.txt; ``spec``: its resolved model entry, with ``name`` and
    ``train_on``; ``particle``: "electron" or "photon"; ``native_shapes``: config["images"]
    ["native_shapes"], the windows its scalars were computed from) to ``path`` as ONNX,
    atomically. Input ``scalars`` (n, 16) float32 in contract order and physical units, output
    ``energy`` (n,) float32 [GeV]. Returns the metadata written into the file. Raises
    ValueError for a model with a categorical split (numerical_splits)."""
    import lightgbm as lgb

    model_text = Path(model_path).read_text()
    booster = lgb.Booster(model_str=rounded_model(model_text))
    proto = calibration_graph(booster, spec["name"])
    native = {layer: list(shape) for layer, shape in sorted(native_shapes.items())}
    return write_calibration(
        proto,
        path,
        spec,
        particle,
        {"scalars": scalars_input()},
        model_hash(spec, model_text),
        native_shapes=json.dumps(native),
    )


def lightgbm_energies(model_path: str | Path, scalars: np.ndarray) -> np.ndarray:
    """The reference: the LightGBM text model ``model_path`` as the workflow predicts with it
    (egcalib.bdt.prediction), on ``scalars`` (n, 16) float32, times their E_acc: (n, 1) [GeV]."""
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(model_path))
    scalars = np.asarray(scalars, np.float32)
    if not len(scalars):
        return np.zeros((0, 1))
    correction = np.asarray(booster.predict(scalars, num_threads=NUM_THREADS), np.float64)
    return (correction * scalars[:, E_ACC])[:, None]


def check_bdt_calibration(
    name: str,
    model_path: str | Path,
    path: str | Path,
    scalars: np.ndarray,
    tolerance: float,
    what: str,
) -> float:
    """Compare the ONNX calibration ``path`` of model ``name`` with its LightGBM text model
    ``model_path`` on ``scalars`` (n, 16) float32 (``what``: their description for the
    message); returns the largest difference of E in units of E_acc. Raises RuntimeError
    (onnx_export.compare_outputs) when an energy of either is not finite or when they differ by
    more than ``tolerance`` of E_acc."""
    scalars = np.asarray(scalars, np.float32)
    e_acc = np.maximum(np.abs(scalars[:, E_ACC]), 1e-3)[:, None]
    return compare_outputs(
        name,
        lightgbm_energies(model_path, scalars),
        onnx_energies(path, {"scalars": scalars}),
        tolerance,
        what,
        scale=("E_acc", e_acc),
        quantity="energy",
        reference="LightGBM",
    )


def split_scalars(sidecar_paths: Iterable[str | Path], split: str = "val") -> np.ndarray:
    """The scalars of the ``split`` objects of shard sidecars, as the BDT reads them: (n, 16)
    float32 in contract order and physical units."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parts = [np.zeros((0, len(SCALARS)), np.float32)]
    for path in sidecar_paths:
        table = pq.read_table(path, columns=[*SCALAR_COLUMNS, "split"])
        table = table.filter(pc.equal(table["split"], split))
        parts.append(np.stack([table[c].to_numpy() for c in SCALAR_COLUMNS], axis=1))
    return np.concatenate(parts).astype(np.float32)


def threshold_objects(model_path: str | Path, base: np.ndarray) -> np.ndarray:
    """Objects on both sides of every split of the model, each one reaching its split: per
    numerical split (feature f, threshold t) of each tree, ``base`` (16,) float32 clipped into
    the box of scalars whose path leads to the split, with scalar f set to the largest float32
    <= t and to the next float32 above it: (2k, 16) float32, k the number of splits, tree by
    tree. Where float32 thresholds could send an object to another leaf than LightGBM's (a
    loop over the trees' nodes, not over objects)."""
    base = np.asarray(base, np.float32)
    rows = [np.zeros((0, len(SCALARS)), np.float32)]
    for tree in _trees(Path(model_path).read_text())[1]:
        feature = np.array(_field(tree, "split_feature"), np.int64)
        below = round_down_to_float32(np.array(_field(tree, "threshold"), np.float64))
        above = np.nextafter(below, np.float32(np.inf))
        left = np.array(_field(tree, "left_child"), np.int64)
        right = np.array(_field(tree, "right_child"), np.int64)
        infinite = np.full(len(SCALARS), np.inf, np.float32)
        # (node, lowest and highest value of each scalar on the path to it); children < 0 are
        # leaves, and a tree of one leaf has no node.
        stack = [(0, -infinite, infinite)] if len(feature) else []
        while stack:
            node, low, high = stack.pop()
            f = feature[node]
            sides = np.repeat(np.clip(base, low, high)[None, :], 2, axis=0)
            sides[:, f] = below[node], above[node]
            rows.append(sides)
            if left[node] >= 0:  # x <= t
                left_high = high.copy()
                left_high[f] = min(high[f], below[node])
                stack.append((left[node], low, left_high))
            if right[node] >= 0:  # x > t
                right_low = low.copy()
                right_low[f] = max(low[f], above[node])
                stack.append((right[node], right_low, high))
    return np.concatenate(rows)
