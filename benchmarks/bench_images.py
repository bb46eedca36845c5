"""Images and input pipeline throughput, each beside its bound measured in the same run.

- upsampling: GB/s of output beside np.copyto of an array of the same size (ratio);
- input pipeline: samples/s (and per core) reading shards beside iterating the same decoded
  samples already in memory with the same batch size (ratio), for upsampled and native shards,
  each with float32 and float16 images (shards.image_dtype);
  beside them the rate at which tf.data reads the shard's raw records alone (batched, not
  parsed): the ceiling of the file format on this machine;
- bytes per object on disk for each.

Each ratio's rates are measured in turn, five times, and the best of each kept.

    .venv/bin/python benchmarks/bench_images.py [n_objects]   (default 16384)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]


def best_of(fns, repeat=5):
    """The best time of each of ``fns``, run in turn ``repeat`` times: a slower spell of the
    machine then falls on all of them alike, not on the one measured during it."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, kept in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            kept.append(time.perf_counter() - start)
    return [min(kept) for kept in times]


def synthetic_skim(path, n, config):
    """A skim table with random but correctly shaped content."""
    from egcalib.skim.skimming import arrow_schema

    schema = arrow_schema(config["images"]["native_shapes"])
    rng = np.random.default_rng(0)
    columns = []
    for field in schema:
        if pa.types.is_fixed_size_list(field.type):
            size = field.type.list_size
            values = rng.exponential(0.2, n * size).astype(np.float32)
            columns.append(pa.FixedSizeListArray.from_arrays(pa.array(values), size))
        elif pa.types.is_string(field.type):
            columns.append(pa.array(["bench"] * n))
        elif field.name == "eventNumber":
            columns.append(pa.array(np.arange(n), field.type))
        else:
            columns.append(
                pa.array(rng.uniform(1, 50, n).astype(field.type.to_pandas_dtype()), field.type)
            )
    pq.write_table(pa.Table.from_arrays(columns, schema=schema), path)


def main(n: int = 16384) -> None:
    from egcalib.shards.upsampling import Upsampler
    from egcalib.shards.writing import write_shards
    from egcalib.train.input_pipeline import InputPipeline
    from egcalib.train.normalisation import identity_statistics

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    upsampler = Upsampler(config["images"]["native_shapes"], config["images"]["target_shape"])
    native = np.random.default_rng(1).exponential(1.0, (n, upsampler.n_native)).astype(np.float32)
    out = np.empty((n, *upsampler.target_shape, 4), np.float32)
    source = np.ones_like(out)
    up, copy = best_of([lambda: upsampler(native, out=out), lambda: np.copyto(out, source)])
    gb = out.nbytes / 1e9
    print(f"upsampling {n} objects to {upsampler.target_shape + (4,)}:")
    print(f"  upsample      : {gb / up:7.2f} GB/s of output")
    print(f"  np.copyto     : {gb / copy:7.2f} GB/s  (bound)")
    print(f"  ratio         : {copy / up:7.3f}")

    import tensorflow as tf

    identity = identity_statistics()
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        skim = Path(tmp) / "skim.parquet"
        synthetic_skim(skim, n, config)
        everything = {"train": 1.0, "val": 0.0, "test": 0.0}
        for mode, dtype in (
            ("upsampled", "float32"),
            ("upsampled", "float16"),
            ("native", "float32"),
            ("native", "float16"),
        ):
            shards = {**config["shards"], "mode": mode, "image_dtype": dtype}
            name = f"{mode}.{dtype}"
            paths = {s: Path(tmp) / f"{name}.{s}.tfrecord" for s in ("train", "val", "test")}
            start = time.perf_counter()
            write_shards(
                skim,
                paths,
                Path(tmp) / f"{name}.parquet",
                config["images"],
                {**config["splits"], "fractions": everything},
                shards,
            )
            write_rate = n / (time.perf_counter() - start)
            pipeline = InputPipeline(config["images"], shards, identity)
            dataset = pipeline.dataset([paths["train"]], 256, training=False)
            in_memory = (
                tf.data.Dataset.from_tensor_slices(
                    next(iter(pipeline.dataset([paths["train"]], n, training=False)))
                )
                .batch(256)
                .prefetch(tf.data.AUTOTUNE)
            )
            for ds in (dataset, in_memory):  # warm up (graph tracing)
                for _ in ds:
                    pass
            records = tf.data.TFRecordDataset(str(paths["train"])).batch(256)
            for _ in records:
                pass
            raw, read, memory = best_of(
                [lambda ds=ds: [None for _ in ds] for ds in (records, dataset, in_memory)]
            )
            size = paths["train"].stat().st_size / n
            print(
                f"input pipeline, {mode} shards, {dtype} images ({size / 1e3:.1f} KB/object on "
                f"disk, written at {write_rate:.0f} objects/s):"
            )
            print(f"  from shards   : {n / read:9.0f} samples/s ({n / read / cores:.0f} per core)")
            print(f"  from memory   : {n / memory:9.0f} samples/s  (bound)")
            print(f"  ratio         : {memory / read:9.3f}")
            print(
                f"  raw records   : {n / raw:9.0f} samples/s  (the format's ceiling: ratio "
                f"{memory / raw:.3f})"
            )


if __name__ == "__main__":
    # 16,384 objects: with fewer, filling the pipeline's buffers weighs on the rate.
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16384)
