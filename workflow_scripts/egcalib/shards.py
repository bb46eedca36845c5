"""Shards: per skim file, one TFRecord per split plus a Parquet sidecar (docs/design.md section 7).

Each TFRecord example holds one object: its image (upsampled 56x55x4, or the native windows in
``native`` mode, upsampled later by the input pipeline), the optional time image, scalars,
tracks and mask, the regression target E_true / E_acc, the data-label target E_label / E_acc,
weight, E_acc and the ids. The sidecar is the object table without the big arrays, plus the
split and the targets, so anything evaluated later joins back by ids.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egcalib.atomic import atomic_path
from egcalib.contract import CELL_COLUMNS, SCALAR_COLUMNS, TIME_COLUMNS, TRACK_COLUMNS
from egcalib.images import Upsampler
from egcalib.normalisation import fixed_size, targets
from egcalib.splits import SPLITS, assign_splits, dataset_key

ID_FEATURES = ("runNumber", "eventNumber", "object_index", "particle", "dataset_key")


def compression_type(shards: dict) -> str:
    """TFRecord compression from config ('none' -> ''; GZIP at level 1 writes ~20x faster than
    at the default level, docs/design.md section 12)."""
    return "" if shards["compression"] == "none" else shards["compression"]


def _float_feature(values):
    import tensorflow as tf

    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _int_feature(values):
    import tensorflow as tf

    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _bytes_feature(value):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def write_shards(skim_path, shard_paths: dict, sidecar_path, images: dict, splits: dict,
                 shards: dict) -> dict[str, int]:
    """Write the TFRecord shards (one per split) and the sidecar; return objects per split."""
    import tensorflow as tf

    table = pq.read_table(skim_path)
    n = table.num_rows
    dataset = table["dataset"][0].as_py() if n else ""
    split = assign_splits(table["runNumber"].to_numpy(), table["eventNumber"].to_numpy(),
                          dataset, splits["fractions"], splits["salt"])
    upsampler = Upsampler(images["native_shapes"], images["target_shape"])
    native = upsampler.concatenate({c.removeprefix("cells_"): fixed_size(table[c])
                                    for c in CELL_COLUMNS})
    times = (upsampler.concatenate({c.removeprefix("time_"): fixed_size(table[c])
                                    for c in TIME_COLUMNS}) if images["time_images"] else None)
    values = targets(table)
    scalars = np.stack([table[c].to_numpy() for c in SCALAR_COLUMNS], axis=1).astype(np.float32)
    tracks = fixed_size(table["tracks"])
    mask = fixed_size(table["tracks_mask"])
    ids = {name: table[name].to_numpy().astype(np.int64) for name in ID_FEATURES[:-1]}
    key = int(dataset_key(dataset, splits["salt"]).astype(np.int64))
    weight = table["weight"].to_numpy().astype(np.float32)
    options = tf.io.TFRecordOptions(compression_type=compression_type(shards),
                                    compression_level=shards["compression_level"])
    counts = {}
    for index, name in enumerate(SPLITS):
        rows = np.nonzero(split == index)[0]
        counts[name] = len(rows)
        with atomic_path(shard_paths[name]) as tmp, tf.io.TFRecordWriter(str(tmp), options) as out:
            for start in range(0, len(rows), 4096):  # bounded memory for the upsampled images
                block = rows[start:start + 4096]
                if shards["mode"] == "native":
                    image_block = native[block]
                    time_block = times[block] if times is not None else None
                else:
                    image_block = upsampler(native[block]).copy()
                    time_block = (upsampler(times[block], intensive=True).copy()
                                  if times is not None else None)
                for j, row in enumerate(block):
                    feature = {
                        "image": _bytes_feature(image_block[j].tobytes()),
                        "scalars": _float_feature(scalars[row]),
                        "tracks": _float_feature(tracks[row]),
                        "track_mask": _float_feature(mask[row]),
                        "target": _float_feature([values["target"][row]]),
                        "label_target": _float_feature([values["label_target"][row]]),
                        "e_acc": _float_feature([values["e_acc"][row]]),
                        "weight": _float_feature([weight[row]]),
                        **{name: _int_feature([ids[name][row]]) for name in ID_FEATURES[:-1]},
                        "dataset_key": _int_feature([key]),
                    }
                    if time_block is not None:
                        feature["time_image"] = _bytes_feature(time_block[j].tobytes())
                    example = tf.train.Example(features=tf.train.Features(feature=feature))
                    # deterministic: map order otherwise follows the process hash seed
                    out.write(example.SerializeToString(deterministic=True))
    big = set(CELL_COLUMNS) | set(TIME_COLUMNS) | set(TRACK_COLUMNS)
    sidecar = table.drop_columns([c for c in table.column_names if c in big])
    sidecar = sidecar.append_column("split", pa.array(np.array(SPLITS)[split].tolist(), pa.string()))
    for name, column in values.items():
        sidecar = sidecar.append_column(name, pa.array(column, pa.float32()))
    with atomic_path(sidecar_path) as tmp:
        pq.write_table(sidecar, tmp)
    return counts
