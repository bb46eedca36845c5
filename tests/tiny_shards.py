"""A few hand-made objects as a native-mode shard and its sidecar, for tests of the input pipeline
and of inference that need given weights, targets or ids (no simulation, no skim)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egcalib.core.contract import N_TRACKS, SCALAR_COLUMNS, TRACK_FEATURES

NATIVE = {"mode": "native", "compression": "none", "compression_level": 1, "image_dtype": "float32"}


def write_tiny_shard(directory, images: dict, weight, target=None, split="train", name="f000"):
    """Write ``len(weight)`` objects of one split as ``{name}.{split}.tfrecord`` (native shard
    mode) and ``{name}.parquet`` (its sidecar: ids, scalars, split, targets, e_acc, weight);
    ``target`` (default 1.05) is the MC target E_true / E_acc, label_target is NaN. Returns
    (shard path, sidecar path, shards config)."""
    from egcalib.shards.writing import record_format, serialize_example

    weight = np.asarray(weight, np.float32)
    n = len(weight)
    target = np.full(n, 1.05, np.float32) if target is None else np.asarray(target, np.float32)
    rng = np.random.default_rng(n)
    features = record_format(images, NATIVE)
    cells = features["image"].shape[0]
    values = {
        "image": rng.exponential(0.5, (n, cells)).astype(np.float32),
        "scalars": rng.normal(size=(n, len(SCALAR_COLUMNS))).astype(np.float32),
        "tracks": np.zeros((n, N_TRACKS, len(TRACK_FEATURES)), np.float32),
        "track_mask": np.zeros((n, N_TRACKS), np.float32),
        "target": target,
        "label_target": np.full(n, np.nan, np.float32),
        "e_acc": rng.uniform(20, 80, n).astype(np.float32),
        "weight": weight,
        "runNumber": np.ones(n, np.int64),
        "eventNumber": np.arange(n, dtype=np.int64),
        "object_index": np.zeros(n, np.int64),
        "particle": np.full(n, 11, np.int64),
        "dataset_key": np.zeros(n, np.int64),
    }
    import tensorflow as tf

    shard = directory / f"{name}.{split}.tfrecord"
    with tf.io.TFRecordWriter(str(shard)) as out:
        for i in range(n):
            out.write(serialize_example(features, {k: v[i] for k, v in values.items()}))
    sidecar = directory / f"{name}.parquet"
    columns = {
        "runNumber": values["runNumber"],
        "eventNumber": values["eventNumber"],
        "object_index": values["object_index"].astype(np.int32),
        **{c: values["scalars"][:, i] for i, c in enumerate(SCALAR_COLUMNS)},
        "weight": weight,
        "split": [split] * n,
        "target": target,
        "label_target": values["label_target"],
        "e_acc": values["e_acc"],
    }
    pq.write_table(pa.table(columns), sidecar)
    return shard, sidecar, NATIVE
