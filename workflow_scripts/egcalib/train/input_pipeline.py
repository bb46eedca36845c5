"""The one tf.data input pipeline, shared by training and inference (docs/design.md#shards).

Shard files are read interleaved, records are batched *before* parsing (``tf.io.parse_example`` on a
batch is ~1.5x faster than one by one, docs/design.md#known-pitfalls), raw image bytes are decoded
(and upsampled in ``native`` mode), inputs are normalised with the training statistics, and batches
are prefetched. Training shuffles with a seed and keeps batch shapes fixed (XLA); inference keeps
the file order so predictions line up with the ids."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from egcalib.core.contract import LAYERS
from egcalib.shards.upsampling import Upsampler
from egcalib.shards.writing import compression_type, record_format
from egcalib.train.normalisation import image_factor, normalise
from egcalib.train.weights import NEGATIVE_WEIGHT_POLICIES, trained_weights

AUTOTUNE = tf.data.AUTOTUNE


def feature_spec(features: dict) -> dict:
    """The ``tf.io.parse_example`` spec of a record format (records.record_format): a raw array
    as one string, a list of values as a fixed-length feature of its shape and dtype."""
    return {
        name: tf.io.FixedLenFeature([], tf.string)
        if feature.raw
        else tf.io.FixedLenFeature(list(feature.shape), tf.as_dtype(feature.dtype))
        for name, feature in features.items()
    }


class InputPipeline:
    """Builds datasets of (inputs, target, weight) or (inputs, ids) from shard files."""

    def __init__(self, images: dict, shards: dict, stats: dict, parallel_reads: int = 1, skip=None):
        self.time_images = images["time_images"]
        self.mode = shards["mode"]
        self.compression = compression_type(shards)
        self.upsampler = Upsampler(images["native_shapes"], images["target_shape"])
        self.image_shape = (*self.upsampler.target_shape, len(LAYERS))
        self.stats = stats
        self.features = record_format(images, shards)
        self.spec = feature_spec(self.features)
        # Files read at once by their own threads (1: in turn); the order is the same.
        self.parallel_reads = parallel_reads
        # {shard path: (k, 2) (runNumber, eventNumber)}: records of later copies of events
        # (egcalib.skim.duplicates.shard_drop_keys), skipped wherever the pipeline reads that shard.
        self.skip = {path: keys for path, keys in (skip or {}).items() if len(keys)}

    def _records(self, path):
        """The records of one shard file, without the skipped events of that file."""
        records = tf.data.TFRecordDataset(path, compression_type=self.compression)
        if not self.skip:  # the usual case: the graph of a dataset without repeated events
            return records
        keys = [
            f"{shard}|{run}|{event}"
            for shard, pairs in sorted(self.skip.items())
            for run, event in pairs.tolist()
        ]
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.ones(len(keys), tf.int32)), 0
        )
        ids = {name: tf.io.FixedLenFeature([], tf.int64) for name in ("runNumber", "eventNumber")}

        def kept(serialized):
            record = tf.io.parse_single_example(serialized, ids)
            key = tf.strings.join(
                [
                    path,
                    tf.strings.as_string(record["runNumber"]),
                    tf.strings.as_string(record["eventNumber"]),
                ],
                "|",
            )
            return table.lookup(key) == 0

        return records.filter(kept)

    def _decode(self, raw, name, intensive, factor=None):
        """(batch, H, W, 4) images from the raw bytes of image feature ``name``, times
        ``factor`` (batch,) if given."""
        feature = self.features[name]
        stored = tf.reshape(tf.io.decode_raw(raw, tf.as_dtype(feature.dtype)), (-1, *feature.shape))
        if feature.dtype != "float32":  # float16 on disk: computed in float32 from here
            stored = tf.cast(stored, tf.float32)
        if self.mode == "native":
            return self.upsampler.tf_upsample(stored, intensive=intensive, factor=factor)
        return stored if factor is None else stored * factor[:, None, None, None]

    def parse_batch(
        self, serialized: tf.Tensor
    ) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """Parse a batch of serialized examples into (inputs, record) tensors."""
        record = tf.io.parse_example(serialized, self.spec)
        # The image's normalisation is applied while decoding (on the native cells in native
        # mode, 26x fewer values than the upsampled image).
        factor = image_factor(record["e_acc"], self.image_shape[0] * self.image_shape[1])
        # The raw bytes leave the record: carried on to the batch consumer they halve the
        # throughput of native shards (benchmarks/bench_images.py).
        inputs = {
            "image": self._decode(record.pop("image"), "image", intensive=False, factor=factor),
            "scalars": record["scalars"],
            "tracks": record["tracks"],
            "track_mask": record["track_mask"],
            "e_acc": record["e_acc"],
        }
        if self.time_images:
            inputs["time_image"] = self._decode(
                record.pop("time_image"), "time_image", intensive=True
            )
        return normalise(inputs, self.stats, scale_image=False), record

    def dataset(
        self,
        files: Iterable[str | Path],
        batch_size: int,
        training: bool,
        target: str = "target",
        seed: int = 0,
        with_ids: bool = False,
        negative_weights: str = "abs",
    ) -> tf.data.Dataset:
        """A batched dataset over ``files``.

        ``target`` is ``"target"`` (E_true / E_acc, MC) or ``"label_target"`` (data labels).
        The sample weight is the object's ``weight`` under the ``negative_weights`` policy
        (training.negative_weights: egcalib.train.weights.trained_weights, the BDT's too). Objects
        without a finite target get weight 0 (and target 1), so MC and data shards can be mixed
        and Keras simply ignores them. ``with_ids`` yields (inputs, record) instead, for
        inference.
        """
        if negative_weights not in NEGATIVE_WEIGHT_POLICIES:
            trained_weights(0.0, negative_weights)  # raises ValueError naming the policies
        files = [str(f) for f in files]
        ds = tf.data.Dataset.from_tensor_slices(files)
        if training:
            ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        cycle = min(len(files), 8) or 1
        readers = min(self.parallel_reads, cycle)
        parallel = {"num_parallel_calls": readers, "deterministic": True} if readers > 1 else {}
        ds = ds.interleave(
            self._records,
            cycle_length=cycle,
            **parallel,
        )
        if training:
            ds = ds.shuffle(16 * batch_size, seed=seed, reshuffle_each_iteration=True)
        # Batches are copied together by threads of their own, in order: the reader thread
        # then only reads (float16 upsampled shards 1.2x faster, benchmarks/bench_images.py).
        ds = ds.batch(
            batch_size, drop_remainder=training, num_parallel_calls=AUTOTUNE, deterministic=True
        )
        if with_ids:
            return ds.map(
                self.parse_batch, num_parallel_calls=AUTOTUNE, deterministic=True
            ).prefetch(AUTOTUNE)

        def to_keras(serialized):  # one map: each stage of tf.data costs throughput
            inputs, record = self.parse_batch(serialized)
            value = record[target]
            valid = tf.math.is_finite(value)
            weight = trained_weights(record["weight"], negative_weights, tf.math)
            weight = tf.where(valid, weight, 0.0)
            return inputs, tf.where(valid, value, 1.0), weight

        return ds.map(to_keras, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)


def numpy_batches(dataset: tf.data.Dataset) -> Any:
    """Concatenate a finite dataset of dicts/tuples of tensors into numpy arrays (tests, tools)."""
    batches = list(dataset.as_numpy_iterator())
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *batches)
