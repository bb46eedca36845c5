"""GPU readiness on whatever machine runs it: training, inference and input-pipeline samples/s,
and which one binds.

- training and inference samples/s of the default (CPU-sized) and the paper-size recommended
  model, and beside each the transformer of the same size (``kind: transformer``, the cells as
  a set of tokens; configs/paper.yaml's settings at paper size), at the config's batch, on
  inputs already in memory, and the default transformer on every cell beside its ``max_tokens``
  (the cost of attention on all 469 cells); the bound for training is inference of the same
  model in the same run (a training step is a forward and a ~2x backward pass: ~1/3 expected);
- the model's FLOPs per sample (forward pass, TensorFlow's profiler; a multiply-add counts 2)
  and the FLOP/s that the training rate implies (3x forward); with a GPU also the fraction of
  its peak (PEAK_TFLOPS, NVIDIA's data sheets);
- the input pipeline reading shards as training does (shuffled, fixed batches) in both shard
  modes: samples/s, and which one binds each model: the slower of pipeline and training step.

    .venv/bin/python benchmarks/bench_training.py [batch] [n_objects]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import yaml
from bench_images import synthetic_skim

REPO = Path(__file__).resolve().parents[1]
PAPER_ARCHITECTURE = {
    "cnn": {"blocks": 3, "depth": 4, "filters": 16, "kernel": 3},
    "scalarnet": [256],
    "film": [512, 1024],
    "tracknet": [128, 64, 32, 16],
    "top": [512, 512],
}
# configs/paper.yaml's transformer settings (its cell threshold is config.yaml's).
PAPER_TRANSFORMER = {"d_model": 128, "heads": 8, "layers": 4, "mlp_ratio": 4, "max_tokens": None}
# Dense peak TFLOP/s under mixed precision (FP16/BF16 tensor cores, without sparsity), from
# NVIDIA's data sheets (A100 SXM, H100 SXM, H200 SXM); a GPU not listed gets no fraction.
PEAK_TFLOPS = {"A100": 312.0, "H100": 989.0, "H200": 989.0}


def synthetic_inputs(batch: int) -> dict:
    rng = np.random.default_rng(0)
    return {
        "image": rng.exponential(0.1, (batch, 56, 55, 4)).astype(np.float32),
        "scalars": rng.normal(size=(batch, 16)).astype(np.float32),
        "tracks": rng.normal(size=(batch, 10, 11)).astype(np.float32),
        "track_mask": np.ones((batch, 10), np.float32),
        "log_e_acc": rng.normal(size=(batch, 1)).astype(np.float32),
    }


def forward_flops(model) -> int:
    """FLOPs of one sample's forward pass, counted by TensorFlow's profiler on the frozen graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2_as_graph,
    )

    specs = {
        name: tf.TensorSpec((1, *value.shape[1:]), tf.float32)
        for name, value in synthetic_inputs(1).items()
    }
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs)
    frozen, _ = convert_variables_to_constants_v2_as_graph(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(
        graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
    )
    return int(info.total_float_ops)


def measure(spec, training, batch, steps, native_shapes=None):
    """(parameters, FLOPs per sample, training samples/s, inference samples/s); a transformer
    needs the ``native_shapes`` of its cells (config images.native_shapes)."""
    import tensorflow as tf

    from egcalib.train.training import compile_model

    model = compile_model(spec, training, (56, 55, 4), False, native_shapes=native_shapes)
    inputs = synthetic_inputs(batch)
    target = np.ones(batch, np.float32)
    data = tf.data.Dataset.from_tensors((inputs, target)).repeat(steps)
    model.fit(data.take(2), verbose=0)  # compile (XLA) outside the timing
    start = time.perf_counter()
    model.fit(data, verbose=0)
    train_rate = batch * steps / (time.perf_counter() - start)
    predict = tf.function(lambda x: model(x, training=False), jit_compile=True)
    predict(inputs)
    start = time.perf_counter()
    for _ in range(steps):
        predict(inputs).numpy()
    infer_rate = batch * steps / (time.perf_counter() - start)
    return model.count_params(), forward_flops(model), train_rate, infer_rate


def pipeline_rates(config, batch: int, n: int) -> dict:
    """Training-mode input pipeline samples/s from shards of ``n`` synthetic objects, per mode."""
    from egcalib.shards.writing import write_shards
    from egcalib.train.input_pipeline import InputPipeline
    from egcalib.train.normalisation import identity_statistics

    identity = identity_statistics()
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        skim = Path(tmp) / "skim.parquet"
        synthetic_skim(skim, n, config)
        for mode in ("upsampled", "native"):
            shards = {**config["shards"], "mode": mode}
            paths = {s: Path(tmp) / f"{mode}.{s}.tfrecord" for s in ("train", "val", "test")}
            write_shards(
                skim,
                paths,
                Path(tmp) / f"{mode}.parquet",
                config["images"],
                {**config["splits"], "fractions": {"train": 1.0, "val": 0.0, "test": 0.0}},
                shards,
            )
            pipeline = InputPipeline(
                config["images"], shards, identity, config["training"]["parallel_reads"]
            )
            dataset = pipeline.dataset([paths["train"]], batch, training=True)
            for _ in dataset:  # warm up (graph tracing)
                pass
            times = []
            for _ in range(3):
                start = time.perf_counter()
                count = sum(len(batch_[1]) for batch_ in dataset)
                times.append(time.perf_counter() - start)
            rates[mode] = count / min(times)
    return rates


def gpu_peak():
    """(device name, peak TFLOP/s or None) of the first GPU; (None, None) without one."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None, None
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return name, peak_tflops(name)


def peak_tflops(name: str) -> float | None:
    """PEAK_TFLOPS of the GPU named ``name`` ("NVIDIA H100 80GB HBM3"); None if not listed."""
    return next((value for key, value in PEAK_TFLOPS.items() if key in name), None)


def recommended_spec(config: dict, architecture: dict) -> dict:
    """The ``recommended`` entry of ``config`` resolved with ``architecture`` over the defaults'
    ({}: the config's own widths)."""
    from egcalib.core.model_specs import resolve_model

    entry = {**config["models"]["recommended"], "architecture": architecture}
    return resolve_model("recommended", entry, config["model_defaults"])


def transformer_spec(config: dict, settings: dict, architecture: dict) -> dict:
    """config.yaml's ``transformer`` entry resolved with ``settings`` over the defaults'
    transformer settings and ``architecture`` (the CNN's, its convolutions left out) over the
    architecture ({}: the config's own)."""
    from egcalib.core.model_specs import resolve_model

    shared = {k: v for k, v in architecture.items() if k != "cnn"}
    entry = {**config["models"]["transformer"], "transformer": settings, "architecture": shared}
    return resolve_model("transformer", entry, config["model_defaults"])


def model_figures(spec, training, batch, steps, pipeline: dict, peak, native_shapes=None) -> dict:
    """measure's figures of one model and what follows from them (derived_figures)."""
    return derived_figures(*measure(spec, training, batch, steps, native_shapes), pipeline, peak)


def derived_figures(params, flops, train_rate, infer_rate, pipeline: dict, peak) -> dict:
    """A model's figures (measure's four) and what follows from them: the FLOP/s its training
    rate implies (3x the forward pass), their fraction of ``peak`` [TFLOP/s] (None without one),
    and per shard mode the pipeline's samples/s (``pipeline``, pipeline_rates) over the training
    step's, and which of the two binds."""
    achieved = 3 * flops * train_rate
    return {
        "parameters": params,
        "forward_flops_per_sample": flops,
        "training_samples_per_s": train_rate,
        "inference_samples_per_s": infer_rate,
        "training_flops_per_s": achieved,
        "peak_fraction": achieved / (peak * 1e12) if peak else None,
        "pipeline_over_training": {mode: rate / train_rate for mode, rate in pipeline.items()},
        "binds": {
            mode: "the input pipeline" if rate < train_rate else "the training step"
            for mode, rate in pipeline.items()
        },
    }


def main(batch: int | None = None, n: int = 16384) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    batch = batch or config["training"]["batch_size"]
    cores = os.cpu_count()
    gpu, peak = gpu_peak()
    print(f"machine: {cores} cores, GPU: {gpu or 'none'}; batch {batch}")
    pipeline = pipeline_rates(config, batch, n)
    for mode, rate in pipeline.items():
        print(
            f"input pipeline, {mode} shards (training mode, {n} objects): {rate:9.0f} samples/s "
            f"({rate / cores:.0f} per core)"
        )
    native_shapes = config["images"]["native_shapes"]
    sizes = (("default", {}, {}, 20), ("paper-size", PAPER_ARCHITECTURE, PAPER_TRANSFORMER, 3))
    for label, architecture, settings, steps in sizes:
        cnn = recommended_spec(config, architecture)
        transformer = transformer_spec(config, settings, architecture)
        figures = {}
        for name, spec in (("recommended model", cnn), ("transformer", transformer)):
            f = model_figures(spec, config["training"], batch, steps, pipeline, peak, native_shapes)
            figures[name] = f
            print_figures(f"{label} {name}", f, peak)
        cnn_f, transformer_f = figures["recommended model"], figures["transformer"]
        if transformer["transformer"].get("max_tokens") is not None:
            # The bound of the token selection: the same transformer on every cell.
            every = {
                **transformer,
                "transformer": {**transformer["transformer"], "max_tokens": None},
            }
            every_f = model_figures(
                every, config["training"], batch, steps, pipeline, peak, native_shapes
            )
            print_figures(f"{label} transformer, every cell", every_f, peak)
            speedup = transformer_f["training_samples_per_s"] / every_f["training_samples_per_s"]
            print(
                f"  {transformer['transformer']['max_tokens']} tokens / every cell: training "
                f"samples/s {speedup:.1f}"
            )
        print(
            f"  transformer / CNN: FLOPs per sample "
            f"{transformer_f['forward_flops_per_sample'] / cnn_f['forward_flops_per_sample']:.2f}"
            f", training samples/s "
            f"{transformer_f['training_samples_per_s'] / cnn_f['training_samples_per_s']:.3f}"
            f", inference samples/s "
            f"{transformer_f['inference_samples_per_s'] / cnn_f['inference_samples_per_s']:.3f}"
        )


def print_figures(label: str, f: dict, peak) -> None:
    """One model's figures (model_figures), its training rate against its inference rate (the
    bound) and per shard mode which of pipeline and training step binds."""
    print(
        f"{label} ({f['parameters']} parameters, "
        f"{f['forward_flops_per_sample'] / 1e6:.1f} MFLOPs per sample forward):"
    )
    print(
        f"  training  : {f['training_samples_per_s']:9.1f} samples/s "
        f"({f['training_flops_per_s'] / 1e9:.1f} GFLOP/s)"
        + (f", {f['peak_fraction']:.2%} of the GPU's peak" if peak else "")
    )
    print(f"  inference : {f['inference_samples_per_s']:9.1f} samples/s  (bound)")
    ratio = f["training_samples_per_s"] / f["inference_samples_per_s"]
    print(f"  ratio     : {ratio:9.3f}")
    for mode, over in f["pipeline_over_training"].items():
        print(f"  {mode} shards: pipeline / training = {over:8.2f}: {f['binds'][mode]} binds")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else None,
        int(sys.argv[2]) if len(sys.argv) > 2 else 16384,
    )
