"""Shards: per skim file, one TFRecord per split plus a Parquet sidecar (docs/design.md#shards).

Each TFRecord example holds one object; ``record_format`` defines its features once, for the
writer here and the reader (egcalib.train.input_pipeline): the image (upsampled 56x55x4, or the
native windows in ``native`` mode, upsampled later by the input pipeline), the optional time image,
scalars, tracks and mask, the regression target E_true / E_acc, the data-label target
E_label / E_acc, weight, E_acc and the ids. The sidecar is the object table without the big
arrays, plus the split and the targets, so anything evaluated later joins back by ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egcalib.core.atomic import atomic_path
from egcalib.core.contract import (
    CELL_COLUMNS,
    LAYERS,
    N_TRACKS,
    SCALAR_COLUMNS,
    SCALARS,
    TIME_COLUMNS,
    TRACK_COLUMNS,
    TRACK_FEATURES,
)
from egcalib.shards.skim_table import fixed_size, targets
from egcalib.shards.splits import SPLITS, dataset_key, table_dataset, table_splits
from egcalib.shards.upsampling import Upsampler

# Ids of an object: the skim table's columns, then the key of its dataset's name.
ID_COLUMNS = ("runNumber", "eventNumber", "object_index", "particle")
ID_FEATURES = (*ID_COLUMNS, "dataset_key")
# Objects upsampled at once: bounded memory for the upsampled images.
BLOCK_SIZE = 4096


@dataclass(frozen=True)
class Feature:
    """One feature of an example: an array of ``dtype`` ("float32", "int64"; "float16" only
    ``raw``) and ``shape`` (() for one value), stored as a list of its values, or with ``raw``
    as the array's bytes (one string; C order)."""

    dtype: str
    shape: tuple[int, ...]
    raw: bool = False


# The largest finite float16 (IEEE 754 binary16): a cell above it would be stored as inf.
FLOAT16_MAX = float(np.finfo(np.float16).max)


def stored_image_shape(images: dict, shards: dict) -> tuple[int, ...]:
    """Shape of the image an example holds: (H, W, 4) of ``images.target_shape`` in
    ``upsampled`` shard mode, the (n_native,) cells of all layers concatenated (lr0 to lr3,
    eta-major) in ``native`` mode."""
    if shards["mode"] == "native":
        return (sum(int(np.prod(images["native_shapes"][layer])) for layer in LAYERS),)
    return (*images["target_shape"], len(LAYERS))


def record_format(images: dict, shards: dict) -> dict[str, Feature]:
    """The features of a shard example, name -> Feature: what write_shards writes and the input
    pipeline parses. Set by the ``images`` config (time_images, native_shapes, target_shape)
    and the shard mode; scalars (16,), tracks (N_TRACKS, 11) and mask (N_TRACKS,) are of the
    contract (egcalib.core.contract). Images (and time images) are stored in ``shards.image_dtype``
    (float32, or float16: half the bytes, each value rounded to 2^-11 of itself)."""
    image = Feature(shards["image_dtype"], stored_image_shape(images, shards), raw=True)
    features = {
        "image": image,
        "scalars": Feature("float32", (len(SCALARS),)),
        "tracks": Feature("float32", (N_TRACKS, len(TRACK_FEATURES))),
        "track_mask": Feature("float32", (N_TRACKS,)),
        "target": Feature("float32", ()),
        "label_target": Feature("float32", ()),
        "e_acc": Feature("float32", ()),
        "weight": Feature("float32", ()),
        **{name: Feature("int64", ()) for name in ID_FEATURES},
    }
    if images["time_images"]:
        features["time_image"] = image
    return features


def compression_type(shards: dict) -> str:
    """TFRecord compression from config ('none' -> ''; GZIP at level 1 writes ~20x faster than
    at the default level, docs/design.md#known-pitfalls)."""
    return "" if shards["compression"] == "none" else shards["compression"]


def as_format(features: dict[str, Feature], columns: dict, n: int) -> dict[str, np.ndarray]:
    """Per-object ``columns`` (name -> array of n objects) as (n, *shape) arrays of each
    feature's dtype. Raises ValueError naming the feature when a column does not hold n values
    of its shape."""
    arrays = {}
    for name, column in columns.items():
        feature = features[name]
        array = np.asarray(column, feature.dtype)
        if array.size != n * int(np.prod(feature.shape)):
            raise ValueError(
                f"records: {name} has {array.size} values, not {n} objects of shape {feature.shape}"
            )
        arrays[name] = array.reshape(n, *feature.shape)
    return arrays


def serialize_example(features: dict[str, Feature], values: dict) -> bytes:
    """One object's ``values`` (name -> array of the feature's dtype and shape, for every
    feature of ``features``) as a serialized tf.train.Example."""
    import tensorflow as tf

    encoded = {}
    for name, feature in features.items():
        value = values[name]
        if feature.raw:
            encoded[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.tobytes()]))
        elif feature.dtype == "float32":
            encoded[name] = tf.train.Feature(float_list=tf.train.FloatList(value=value.reshape(-1)))
        else:
            encoded[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=value.reshape(-1)))
    example = tf.train.Example(features=tf.train.Features(feature=encoded))
    # deterministic: map order otherwise follows the process hash seed
    return example.SerializeToString(deterministic=True)


def write_shards(
    skim_path: str | Path,
    shard_paths: dict[str, str | Path],
    sidecar_path: str | Path,
    images: dict,
    splits: dict,
    shards: dict,
) -> dict[str, int]:
    """Write the TFRecord shards of one skim file (``shard_paths``: split name -> path; examples
    of ``record_format``) and the Parquet sidecar; return objects per split.

    ``images``, ``splits`` (fractions, salt) and ``shards`` are those blocks of the config.
    Raises ValueError where the float16 images would overflow (cells beyond 65504 GeV) or a
    column does not hold its feature's shape (``as_format``)."""
    import tensorflow as tf

    table = pq.read_table(skim_path)
    n = table.num_rows
    split = table_splits(table, splits)
    features = record_format(images, shards)
    upsampler = Upsampler(images["native_shapes"], images["target_shape"])
    # The native windows of each image feature, upsampled per block below unless native mode.
    windows = {
        "image": upsampler.concatenate(
            {c.removeprefix("cells_"): fixed_size(table[c]) for c in CELL_COLUMNS}
        )
    }
    if "time_image" in features:
        windows["time_image"] = upsampler.concatenate(
            {c.removeprefix("time_"): fixed_size(table[c]) for c in TIME_COLUMNS}
        )
    if shards["image_dtype"] == "float16":
        for name, native in windows.items():
            largest = float(np.abs(native).max(initial=0.0))
            if not largest <= FLOAT16_MAX:
                raise ValueError(
                    f"{skim_path}: {name} holds {largest:.6g} (cells of an object), beyond "
                    f"float16's range ({FLOAT16_MAX:.0f}); set shards.image_dtype: float32"
                )
    values = targets(table)
    key = int(dataset_key(table_dataset(table), splits["salt"]).astype(np.int64))
    columns = as_format(
        features,
        {
            "scalars": np.stack([table[c].to_numpy() for c in SCALAR_COLUMNS], axis=1),
            "tracks": fixed_size(table["tracks"]),
            "track_mask": fixed_size(table["tracks_mask"]),
            **values,
            "weight": table["weight"].to_numpy(),
            **{name: table[name].to_numpy() for name in ID_COLUMNS},
            "dataset_key": np.full(n, key),
        },
        n,
    )
    options = tf.io.TFRecordOptions(
        compression_type=compression_type(shards), compression_level=shards["compression_level"]
    )
    counts = {}
    for index, name in enumerate(SPLITS):
        rows = np.nonzero(split == index)[0]
        counts[name] = len(rows)
        with atomic_path(shard_paths[name]) as tmp, tf.io.TFRecordWriter(str(tmp), options) as out:
            for start in range(0, len(rows), BLOCK_SIZE):
                block = rows[start : start + BLOCK_SIZE]
                stored = {}
                for feature, native in windows.items():
                    if shards["mode"] == "native":
                        stored[feature] = native[block]
                    else:  # a copy: the upsampler's buffer is reused by its next call
                        intensive = feature == "time_image"  # times are not divided
                        stored[feature] = upsampler(native[block], intensive=intensive).copy()
                stored = as_format(features, stored, len(block))
                for j, row in enumerate(block):
                    example = {name: column[row] for name, column in columns.items()}
                    example.update({name: image[j] for name, image in stored.items()})
                    out.write(serialize_example(features, example))
    big = set(CELL_COLUMNS) | set(TIME_COLUMNS) | set(TRACK_COLUMNS)
    sidecar = table.drop_columns([c for c in table.column_names if c in big])
    sidecar = sidecar.append_column(
        "split", pa.array(np.array(SPLITS)[split].tolist(), pa.string())
    )
    for name, column in values.items():
        sidecar = sidecar.append_column(name, pa.array(column, pa.float32()))
    with atomic_path(sidecar_path) as tmp:
        pq.write_table(sidecar, tmp)
    return counts
