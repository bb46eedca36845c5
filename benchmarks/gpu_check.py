"""The prepared GPU check: what a GPU lent for minutes measures, in under 8 minutes on one GPU
(docs/development.md#the-gpu-check).

Each step is timed, and a failing one is recorded without stopping the others (a step that needs
a failed one is skipped):

1. environment: TensorFlow and Keras versions, the GPUs TensorFlow sees and nvidia-smi's names
   and memory, whether training runs in mixed precision, TF32;
2. benchmark: bench_training.py's figures for the paper-size recommended model at the paper's
   batch (configs/paper.yaml): training and inference samples/s, forward FLOPs per sample, the
   training FLOP/s and their fraction of the GPU's peak, and the input pipeline of both shard
   modes against the training step;
3. shards: a synthetic skim (bench_images.synthetic_skim) written as native-mode shards and
   sidecar by the shards stage's code, and its normalisation from the training split;
4. train: one epoch of the reference config's ``recommended`` model (configs/reference.yaml over
   config.yaml, as the workflow merges them) on those shards, through the entry points the
   ``train`` rule's script calls; samples/s over the epoch after its first batch (which
   compiles);
5. onnx: its export and check against Keras, as the ``export_onnx`` rule does.

``--backend jax`` runs Keras on JAX, for a GPU machine with JAX but without TensorFlow, and
imports no TensorFlow (nor pyarrow, in the library): the shards and the ONNX export need
TensorFlow, so its steps are

1. environment: JAX, jaxlib and Keras versions, the devices JAX sees and nvidia-smi's view, the
   mixed-precision policy (``--policy``, mixed_float16 as the workflow trains on a GPU, or
   mixed_bfloat16), the float32 matmul precision;
2. benchmark: the paper-size recommended model at the paper's batch, trained under the policy
   by Keras's fit on inputs already on the device: training and inference samples/s, forward
   FLOPs per sample from XLA's cost analysis of the compiled inference (and counted from the
   layers' shapes beside it), the training FLOP/s and their fraction of the GPU's peak, and the
   training samples/s under the other policy;
3. train: one epoch of the reference ``recommended`` model under the policy on synthetic
   objects in memory, shaped as the input pipeline's batches, written to OUT/work/model.keras.

Then, where TensorFlow is, ``--export-from OUT`` takes that model (a .keras file is the same
for every backend) through the ``onnx`` step and writes the summary with it to ``--out``.

OUT/summary.json holds every figure, the device, and each step's wall time [s] and status (ok,
failed with its error, or skipped), rewritten after each step so that a run cut short keeps
what it did; OUT/summary.md is the short version. The exit status is 1 if any step is not ok.
``--smoke`` shrinks everything (the CPU-sized model, tiny batches, a few hundred objects) to run
on a CPU in about a minute: the tests run it so. Without a GPU the figures are the CPU's, and
the summary says so.

    .venv/bin/python benchmarks/gpu_check.py --out gpu-check [--smoke]
    python3 benchmarks/gpu_check.py --backend jax --out gpu-check [--smoke]  # JAX, no TensorFlow
    .venv/bin/python benchmarks/gpu_check.py --export-from gpu-check --out gpu-check-onnx
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import yaml
from bench_images import synthetic_skim
from bench_training import (
    PAPER_ARCHITECTURE,
    derived_figures,
    gpu_peak,
    model_figures,
    peak_tflops,
    pipeline_rates,
    recommended_spec,
    synthetic_inputs,
)

from egcalib.core.config_files import merge_config

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 480  # on one GPU: the check must fit the minutes a GPU is lent for
TOLERANCE = 1e-4  # the export_onnx rule's (rules/train.smk)
SPLITS = ("train", "val", "test")
# (full, smoke). Full: the paper's batch for the paper-size model, enough steps to time a GPU,
# and ~0.7 x 65536 training objects, ~700 steps of the reference batch in the epoch. Smoke: a
# few hundred objects and tiny batches, the CPU-sized model: about a minute on a CPU.
SIZES: dict[str, dict] = {
    "full": {"bench_batch": None, "bench_steps": 50, "pipeline_objects": 16384, "objects": 65536},
    "smoke": {"bench_batch": 8, "bench_steps": 2, "pipeline_objects": 256, "objects": 512},
}
SMOKE_TRAINING_BATCH = 16
BACKENDS = ("tensorflow", "jax")
POLICIES = ("mixed_float16", "mixed_bfloat16")  # --backend jax: the policy it trains under
SYNTHETIC_SEEDS = {"train": 1, "val": 2, "onnx": 3}  # --backend jax's synthetic objects
# A fresh clone's venv has tensorflow-cpu (pyproject.toml), which sees no GPU.
NO_CUDA = (
    " (this TensorFlow is built without CUDA: install the pin of envs/train-gpu.yaml, "
    "docs/development.md#the-gpu-check)"
)


def reference_config() -> dict:
    """configs/reference.yaml merged over config.yaml and validated, as Snakemake does for
    ``--configfile config.yaml configs/reference.yaml``. Without Snakemake (a GPU machine's
    image) merged alike (merge_config) and validated by jsonschema, where it is installed."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    reference = yaml.safe_load((REPO / "configs" / "reference.yaml").read_text())
    schema = REPO / "config.schema.yaml"
    try:
        from snakemake.utils import update_config, validate
    except ImportError:
        merge_config(config, reference)
        try:
            import jsonschema
        except ImportError:
            print("gpu_check: no Snakemake nor jsonschema: config not validated", file=sys.stderr)
        else:
            jsonschema.validate(config, yaml.safe_load(schema.read_text()))
        return config
    update_config(config, reference)
    validate(config, str(schema))
    return config


def nvidia_smi() -> list[str] | None:
    """nvidia-smi's name and memory of each GPU; None where it is not installed."""
    if not shutil.which("nvidia-smi"):
        return None
    query = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"]
    return subprocess.run(query, capture_output=True, text=True).stdout.splitlines()


def environment() -> dict:
    """Versions, the GPUs TensorFlow sees (with nvidia-smi's view where it is installed), the
    device the figures are of."""
    import keras
    import tensorflow as tf

    from egcalib.core.provenance import cpu_model
    from egcalib.train.training import has_gpu

    gpus = [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in tf.config.list_physical_devices("GPU")
    ]
    return {
        "device": gpus[0] if gpus else f"CPU: {cpu_model()} (no GPU visible)",
        "gpus": gpus,
        "nvidia_smi": nvidia_smi(),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "cuda_build": tf.test.is_built_with_cuda(),
        # compile_model trains in mixed_float16 exactly when has_gpu() (egcalib.train.training).
        "mixed_precision": has_gpu(),
        # TF32 makes float32 matmuls and convolutions on Ampere and later GPUs less precise:
        # the float32 copy's outputs there (the ONNX check's reference) depend on it.
        "tensor_float_32": tf.config.experimental.tensor_float_32_execution_enabled(),
    }


def benchmark(config: dict, sizes: dict, smoke: bool) -> dict:
    """bench_training's figures (model_figures) of the paper-size recommended model (smoke: the
    config's CPU-sized one) at the paper's batch, and the input pipeline's samples/s per shard
    mode (pipeline_rates)."""
    import keras

    from egcalib.train.training import has_gpu

    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    batch = sizes["bench_batch"] or paper["training"]["batch_size"]
    # On a CPU a paper-size step takes seconds: bench_training's 3 steps.
    steps = sizes["bench_steps"] if has_gpu() or smoke else 3
    _, peak = gpu_peak()
    pipeline = pipeline_rates(config, batch, sizes["pipeline_objects"])
    spec = recommended_spec(config, {} if smoke else PAPER_ARCHITECTURE)
    figures = model_figures(spec, config["training"], batch, steps, pipeline, peak)
    return {
        "model": ("CPU-sized" if smoke else "paper-size") + " recommended",
        "batch": batch,
        "steps": steps,
        "policy": keras.mixed_precision.global_policy().name,  # as compile_model set it
        "peak_tflops": peak,
        "pipeline_samples_per_s": pipeline,
        **figures,
    }


def shards(config: dict, sizes: dict, work: Path) -> dict:
    """A synthetic skim of ``sizes["objects"]`` objects as shards of the config's mode (native in
    the reference config) and sidecar, and the normalisation.json of its training split."""
    from egcalib.shards.writing import write_shards
    from egcalib.train.normalisation import save_statistics, training_statistics

    skim = work / "synthetic.skim.parquet"
    synthetic_skim(skim, sizes["objects"], config)
    paths: dict[str, str | Path] = {s: work / f"synthetic.{s}.tfrecord" for s in SPLITS}
    start = time.perf_counter()
    counts = write_shards(
        skim,
        paths,
        work / "synthetic.parquet",
        config["images"],
        config["splits"],
        config["shards"],
    )
    write_s = time.perf_counter() - start
    save_statistics(training_statistics([skim], config["splits"]), work / "normalisation.json")
    on_disk = sum(Path(path).stat().st_size for path in paths.values())
    return {
        "mode": config["shards"]["mode"],
        "objects": counts,
        "written_objects_per_s": sum(counts.values()) / write_s,
        "bytes_per_object": on_disk / sum(counts.values()),
    }


def train_epoch(config: dict, work: Path, smoke: bool) -> dict:
    """One epoch of the reference ``recommended`` model on the shards of ``shards``, as the
    train rule's script runs it (train.py: checks, InputPipeline, training_data, train)."""
    import keras
    import pandas as pd

    from egcalib.core.model_specs import resolve_model
    from egcalib.train.input_pipeline import InputPipeline
    from egcalib.train.normalisation import load_statistics
    from egcalib.train.training import (
        check_training_size,
        check_validation_size,
        train,
        training_data,
    )

    class BatchTimes(keras.callbacks.Callback):
        """perf_counter at the start of training and at the end of each training batch [s]."""

        def __init__(self):
            super().__init__()
            self.start = math.nan
            self.times: list[float] = []

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    spec = resolve_model("recommended", config["models"]["recommended"], config["model_defaults"])
    training = {**config["training"], "epochs": 1}
    if smoke:
        training["batch_size"] = SMOKE_TRAINING_BATCH
    batch = training["batch_size"]
    stats = load_statistics(work / "normalisation.json")
    check_training_size(spec["name"], stats["n_objects"], batch)
    check_validation_size(spec["name"], stats["n_val_objects"], ["synthetic"])
    pipeline = InputPipeline(config["images"], config["shards"], stats, training["parallel_reads"])
    data = {
        split: training_data(
            pipeline,
            {"mc": [work / f"synthetic.{split}.tfrecord"], "data": []},
            batch,
            training["seed"],
            training["source_weights"],
            split == "train",
            training["negative_weights"],
        )
        for split in ("train", "val")
    }
    times = BatchTimes()
    model = train(
        spec,
        training,
        data["train"],
        data["val"],
        pipeline.image_shape,
        work / "model.keras",
        work / "history.csv",
        work / "training.png",
        work / "train",
        time_images=config["images"]["time_images"],
        extra_callbacks=[times],
        target_scale=(stats["target_median"], stats["target_iqr"]),
    )
    epoch = pd.read_csv(work / "history.csv").iloc[-1]
    # The first batch compiles the step (XLA): the rate is over the batches after it.
    steps = len(times.times)
    rate = (steps - 1) * batch / (times.times[-1] - times.times[0]) if steps > 1 else math.nan
    return {
        "model": spec["name"],
        "parameters": model.count_params(),
        "policy": model.dtype_policy.name,
        "batch": batch,
        "steps": steps,
        "first_step_s": times.times[0] - times.start,  # compiling included
        "samples_per_s": rate,
        "loss": float(epoch["loss"]),
        "val_loss": float(epoch["val_loss"]),
    }


def onnx(config: dict, work: Path) -> dict:
    """The trained model's ONNX export and its check against Keras (max |ONNX - Keras| on random
    inputs and on objects of the validation shard), as the export_onnx rule's script does."""
    from egcalib.infer.onnx_export import check_onnx, export_onnx, random_inputs, shard_inputs
    from egcalib.train.input_pipeline import InputPipeline
    from egcalib.train.models import load_for_inference
    from egcalib.train.normalisation import load_statistics

    model = load_for_inference(work / "model.keras")  # float32, as inference computes
    path = work / "model.onnx"
    start = time.perf_counter()
    export_onnx(model, path)
    export_s = time.perf_counter() - start
    pipeline = InputPipeline(
        config["images"], config["shards"], load_statistics(work / "normalisation.json")
    )
    checks = {
        "random inputs": random_inputs(model),
        "validation objects": shard_inputs(pipeline, work / "synthetic.val.tfrecord"),
    }
    return {
        "export_s": export_s,
        "onnx_bytes": path.stat().st_size,
        "tolerance": TOLERANCE,
        "max_difference": {
            what: check_onnx(model, path, inputs, TOLERANCE, what)
            for what, inputs in checks.items()
            if inputs is not None
        },
    }


# --backend jax: Keras on JAX, no TensorFlow imported (nor pyarrow, in the library).


def environment_jax(policy: str) -> dict:
    """Versions, the devices JAX sees (with nvidia-smi's view), the policy it trains under."""
    import jax
    import jaxlib
    import keras

    from egcalib.core.provenance import cpu_model

    devices = jax.devices()
    gpus = [device.device_kind for device in devices if device.platform == "gpu"]
    return {
        "device": gpus[0] if gpus else f"CPU: {cpu_model()} (no GPU visible)",
        "gpus": gpus,
        "jax_devices": [str(device) for device in devices],
        "nvidia_smi": nvidia_smi(),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "mixed_precision": True,
        "policy": policy,
        # None: XLA's default, TF32 for float32 matmuls and convolutions on Ampere and later.
        "default_matmul_precision": getattr(jax.config, "jax_default_matmul_precision", "?"),
    }


def compile_jax(
    spec: dict,
    training: dict,
    image_shape,
    policy: str,
    time_images: bool = False,
    target_scale: tuple[float, float] | None = None,
):
    """The Keras model of ``spec`` compiled as egcalib.train.training.compile_model compiles it
    for a GPU (Adam, the spec's loss, XLA), under ``policy`` (mixed_float16: Keras wraps the
    optimizer in a LossScaleOptimizer) whatever the device, without TensorFlow."""
    import keras

    from egcalib.train.losses import get_loss
    from egcalib.train.models import build_model
    from egcalib.train.normalisation import DEFAULT_TARGET_SCALE

    keras.mixed_precision.set_global_policy(policy)
    model = build_model(spec, image_shape, time_images, target_scale or DEFAULT_TARGET_SCALE)
    model.compile(
        optimizer=keras.optimizers.Adam(training["learning_rate"]),
        loss=get_loss(spec["loss"]),
        jit_compile=True,
    )
    return model


def layer_flops(model) -> int:
    """Forward FLOPs per sample counted from the layers' shapes: 2 per multiply-add of every
    Conv2D and Dense (a Dense on tracks once per track); the rest (BatchNorm, FiLM, pooling) is
    left out: a cross-check of XLA's count."""
    import math

    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            kernel = math.prod(layer.kernel.shape)
            total += 2 * kernel * math.prod(layer.output.shape[1:3])
        elif isinstance(layer, layers.Dense):
            total += 2 * math.prod(layer.kernel.shape) * math.prod(layer.input.shape[1:-1])
    return total


def inference_rate(model, inputs: dict, steps: int) -> tuple[float, float | None]:
    """(inference samples/s, forward FLOPs per sample by XLA's cost analysis or None) of
    ``model`` on ``inputs`` (arrays on the device), through one compiled function."""
    import jax

    trainable = [v.value for v in model.trainable_variables]
    fixed = [v.value for v in model.non_trainable_variables]

    def forward(trainable, fixed, inputs):
        return model.stateless_call(trainable, fixed, inputs, training=False)[0]

    compiled = jax.jit(forward).lower(trainable, fixed, inputs).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost  # older JAX: one per module
    flops = (cost or {}).get("flops")
    batch = len(inputs["image"])
    compiled(trainable, fixed, inputs).block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        out = compiled(trainable, fixed, inputs)
    out.block_until_ready()
    rate = batch * steps / (time.perf_counter() - start)
    return rate, flops / batch if flops and flops > 0 else None


def training_rate(model, inputs: dict, target, steps: int) -> float:
    """Training samples/s of ``model`` by Keras's fit, ``steps`` steps on one batch kept on the
    device (bench_training's resident batch: Keras's device_put of arrays already there moves
    nothing), after 2 steps that compile it."""
    import jax

    def resident(n):
        for _ in range(n):
            yield inputs, target

    model.fit(resident(2), steps_per_epoch=2, shuffle=False, verbose=0)  # compile (XLA) first
    jax.block_until_ready([v.value for v in model.trainable_variables])
    start = time.perf_counter()
    model.fit(resident(steps), steps_per_epoch=steps, shuffle=False, verbose=0)
    jax.block_until_ready([v.value for v in model.trainable_variables])
    return len(target) * steps / (time.perf_counter() - start)


def benchmark_jax(config: dict, sizes: dict, smoke: bool, policy: str, peak) -> dict:
    """benchmark's figures under JAX: the paper-size recommended model (smoke: the config's
    CPU-sized one) at the paper's batch trained under ``policy`` (training_rate), its compiled
    inference on the same batch (inference_rate); no input pipeline (it needs TensorFlow).
    Beside them the training samples/s under the other mixed policy (POLICIES), which JAX may
    run faster: bfloat16 needs no loss scaling."""
    import jax
    import numpy as np

    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    batch = sizes["bench_batch"] or paper["training"]["batch_size"]
    gpu = any(device.platform == "gpu" for device in jax.devices())
    steps = sizes["bench_steps"] if gpu or smoke else 3
    spec = recommended_spec(config, {} if smoke else PAPER_ARCHITECTURE)
    inputs = jax.device_put(synthetic_inputs(batch))
    target = jax.device_put(np.ones(batch, np.float32))
    by_policy = {}
    for each in sorted(POLICIES, key=lambda name: name == policy):  # ``policy``'s model last
        model = compile_jax(spec, config["training"], (56, 55, 4), each)
        by_policy[each] = training_rate(model, inputs, target, steps)
    infer_rate, xla_flops = inference_rate(model, inputs, steps)
    counted = layer_flops(model)
    flops = xla_flops or counted
    return {
        "model": ("CPU-sized" if smoke else "paper-size") + " recommended",
        "batch": batch,
        "steps": steps,
        "policy": model.dtype_policy.name,
        "peak_tflops": peak,
        "flops_source": "XLA cost analysis" if xla_flops else "layer shapes",
        "layer_flops_per_sample": counted,
        "pipeline_samples_per_s": {},
        "training_samples_per_s_by_policy": by_policy,
        **derived_figures(model.count_params(), flops, by_policy[policy], infer_rate, {}, peak),
    }


def synthetic_objects(n: int, image_shape, time_images: bool, seed: int) -> tuple:
    """(inputs, target, weight) of ``n`` synthetic objects as the input pipeline yields them,
    normalised: images O(1) per cell, scalars, tracks and log E_acc standardised, 0-10 real
    tracks (padding zero), a target near 1 that depends on the scalars, weights 1."""
    import numpy as np

    from egcalib.core.contract import N_TRACKS, SCALARS, TRACK_FEATURES

    rng = np.random.default_rng(seed)
    inputs = {
        "image": rng.standard_exponential((n, *image_shape), dtype=np.float32),
        "scalars": rng.standard_normal((n, len(SCALARS)), dtype=np.float32),
        "tracks": rng.standard_normal((n, N_TRACKS, len(TRACK_FEATURES)), dtype=np.float32),
        "track_mask": (np.arange(N_TRACKS) < rng.integers(0, N_TRACKS + 1, (n, 1))).astype(
            np.float32
        ),
        "log_e_acc": rng.standard_normal((n, 1), dtype=np.float32),
    }
    inputs["tracks"] *= inputs["track_mask"][..., None]
    if time_images:
        inputs["time_image"] = rng.standard_normal((n, *image_shape), dtype=np.float32)
    noise = rng.standard_normal(n, dtype=np.float32)
    target = 1.0 + 0.05 * (np.tanh(inputs["scalars"][:, 0]) + 0.5 * noise)
    return inputs, target.astype(np.float32), np.ones(n, np.float32)


def image_shape_of(config: dict) -> tuple[int, int, int]:
    """The input pipeline's image shape (InputPipeline.image_shape) without TensorFlow."""
    from egcalib.core.contract import LAYERS

    return (*config["images"]["target_shape"], len(LAYERS))


def train_epoch_jax(config: dict, work: Path, sizes: dict, smoke: bool, policy: str) -> dict:
    """One epoch of the reference ``recommended`` model under ``policy`` on synthetic objects
    in memory (synthetic_objects: the training and validation splits' shares of
    ``sizes["objects"]``, whole batches, as the pipeline's fixed batch shapes), by Keras's fit;
    the model written to ``work``/model.keras."""
    import keras
    import numpy as np

    from egcalib.core.atomic import atomic_path
    from egcalib.core.model_specs import resolve_model

    spec = resolve_model("recommended", config["models"]["recommended"], config["model_defaults"])
    training = {**config["training"], "epochs": 1}
    if smoke:
        training["batch_size"] = SMOKE_TRAINING_BATCH
    batch = training["batch_size"]
    shape, time_images = image_shape_of(config), config["images"]["time_images"]
    fractions = config["splits"]["fractions"]
    data = {
        split: synthetic_objects(
            int(sizes["objects"] * fractions[split]) // batch * batch,
            shape,
            time_images,
            SYNTHETIC_SEEDS[split],
        )
        for split in ("train", "val")
    }
    q25, median, q75 = np.percentile(data["train"][1], [25, 50, 75])
    keras.utils.set_random_seed(training["seed"])
    model = compile_jax(
        spec, training, shape, policy, time_images, (float(median), float(q75 - q25))
    )
    times: list[float] = []
    timer = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch_, logs: times.append(time.perf_counter())
    )
    start = time.perf_counter()
    x, y, weight = data["train"]
    history = model.fit(
        x=x,
        y=y,
        sample_weight=weight,
        batch_size=batch,
        epochs=1,
        validation_data=data["val"],
        shuffle=True,
        callbacks=[timer],
        verbose=0,
    ).history
    steps = len(times)
    rate = (steps - 1) * batch / (times[-1] - times[0]) if steps > 1 else math.nan
    path = work / "model.keras"
    with atomic_path(path) as tmp:
        model.save(tmp)
    return {
        "model": spec["name"],
        "parameters": model.count_params(),
        "policy": model.dtype_policy.name,
        "objects": {split: len(arrays[1]) for split, arrays in data.items()},
        "batch": batch,
        "steps": steps,
        "first_step_s": times[0] - start,  # compiling included
        "samples_per_s": rate,
        "loss": float(history["loss"][-1]),
        "val_loss": float(history["val_loss"][-1]),
        "model_keras": str(path),
    }


def onnx_from(source: Path, work: Path) -> dict:
    """The onnx step on the model a ``--backend jax`` run wrote into ``source``/work, exported to
    ``work``/model.onnx and checked against Keras on random inputs and on synthetic objects (the
    TensorFlow path's shards are not there)."""
    from egcalib.core.provenance import cpu_model
    from egcalib.infer.onnx_export import check_onnx, export_onnx, random_inputs
    from egcalib.train.models import load_for_inference

    model = load_for_inference(source / "work" / "model.keras")  # float32, as inference computes
    path = work / "model.onnx"
    start = time.perf_counter()
    export_onnx(model, path)
    export_s = time.perf_counter() - start
    config = reference_config()
    objects = synthetic_objects(
        256, image_shape_of(config), config["images"]["time_images"], SYNTHETIC_SEEDS["onnx"]
    )[0]
    checks = {"random inputs": random_inputs(model), "synthetic objects": objects}
    return {
        "export_s": export_s,
        "onnx_bytes": path.stat().st_size,
        "exported_on": f"CPU: {cpu_model()}",
        "tolerance": TOLERANCE,
        "max_difference": {
            what: check_onnx(model, path, inputs, TOLERANCE, what)
            for what, inputs in checks.items()
        },
    }


def run_step(summary: dict, name: str, needs: tuple[str, ...], step: Callable[[], dict]) -> None:
    """Run ``step`` into ``summary["steps"][name]``: its status, wall time [s] and figures, or
    the error that stopped it; skipped where a step it ``needs`` is not ok. Never raises: a GPU
    minute is precious, a failing step must not lose the others."""
    failed = [need for need in needs if summary["steps"][need]["status"] != "ok"]
    if failed:
        summary["steps"][name] = {"status": "skipped", "wall_s": 0.0, "error": f"needs {failed}"}
        return
    print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        result = {"status": "ok", "figures": step()}
    except Exception as error:
        traceback.print_exc()
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    summary["steps"][name] = {**result, "wall_s": time.perf_counter() - start}
    print(f"gpu_check: {name} {result['status']}", file=sys.stderr, flush=True)


def headline(name: str, figures: dict) -> str:
    """One line of a step's main figures for summary.md."""
    f = figures
    if name == "environment":
        versions = (
            f"JAX {f['jax']}, Keras {f['keras']}" if "jax" in f else f"TensorFlow {f['tensorflow']}"
        )
        policy = f" ({f['policy']})" if "policy" in f else ""
        return (
            f"{versions}, GPUs {f['gpus'] or 'none'}"
            + (f" (nvidia-smi: {'; '.join(f['nvidia_smi'])})" if f["nvidia_smi"] else "")
            + f", mixed precision {'on' if f['mixed_precision'] else 'off'}{policy}"
        )
    if name == "benchmark":
        peak = f", {f['peak_fraction']:.2%} of peak" if f["peak_fraction"] is not None else ""
        pipeline = ", ".join(
            f"{mode} {over:.2f} ({f['binds'][mode]} binds)"
            for mode, over in f["pipeline_over_training"].items()
        )
        return (
            f"{f['model']} ({f['parameters']} parameters), batch {f['batch']}, {f['policy']}: "
            f"training {f['training_samples_per_s']:.0f} samples/s "
            f"({f['training_flops_per_s'] / 1e12:.3g} TFLOP/s{peak}), inference "
            f"{f['inference_samples_per_s']:.0f} samples/s, "
            f"{f['forward_flops_per_sample'] / 1e6:.1f} MFLOPs per sample forward"
            + (f" ({f['flops_source']})" if "flops_source" in f else "")
            + "".join(
                f"; training under {other} {rate:.0f} samples/s"
                for other, rate in f.get("training_samples_per_s_by_policy", {}).items()
                if other != f["policy"]
            )
            + (f"; pipeline / training: {pipeline}" if pipeline else "")
        )
    if name == "shards":
        splits = ", ".join(f"{split} {n}" for split, n in f["objects"].items())
        return f"{f['mode']} shards ({splits} objects), {f['bytes_per_object'] / 1e3:.1f} KB/object"
    if name == "train":
        return (
            f"{f['model']}, {f['policy']}, {f['steps']} steps of {f['batch']}: "
            f"{f['samples_per_s']:.0f} samples/s after a first step of {f['first_step_s']:.1f} s; "
            f"loss {f['loss']:.4g}, val_loss {f['val_loss']:.4g}"
        )
    differences = ", ".join(f"{d:.1e} on {what}" for what, d in f["max_difference"].items())
    return f"largest ONNX - Keras difference {differences} (tolerance {f['tolerance']:g})"


def write_summary(out: Path, summary: dict) -> None:
    """OUT/summary.json (everything) and OUT/summary.md (a table of the steps), atomically."""
    from egcalib.core.atomic import atomic_path

    total = sum(step["wall_s"] for step in summary["steps"].values())
    summary.update(total_wall_s=total, budget_s=BUDGET_S)
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    lines = [
        f"# GPU check ({summary['mode']}, {summary.get('backend', 'tensorflow')})",
        "",
        f"Device: {summary['device']}. Total {total:.0f} s (budget on one GPU: {BUDGET_S} s).",
    ]
    if not summary["gpu"]:
        why = NO_CUDA * (summary["cuda_build"] is False)
        lines.append(f"**No GPU visible{why}: every figure below is a CPU figure.**")
    lines += ["", "| step | status | wall [s] | figures |", "|---|---|---|---|"]
    for name, step in summary["steps"].items():
        what = headline(name, step["figures"]) if step["status"] == "ok" else step["error"]
        lines.append(f"| {name} | {step['status']} | {step['wall_s']:.1f} | {what} |")
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the summary")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a minute on a CPU")
    parser.add_argument(
        "--backend", choices=BACKENDS, default="tensorflow", help="Keras's (jax: no TensorFlow)"
    )
    parser.add_argument(
        "--policy", choices=POLICIES, default=POLICIES[0], help="--backend jax's mixed precision"
    )
    parser.add_argument(
        "--export-from",
        type=Path,
        metavar="DIR",
        help="the onnx step (TensorFlow) on the model of a --backend jax run's DIR",
    )
    args = parser.parse_args()
    backend = "tensorflow" if args.export_from else args.backend
    # Before Keras is first imported (in the steps): it picks its backend once.
    os.environ["KERAS_BACKEND"] = backend
    mode = "smoke" if args.smoke else "full"
    work = args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    if args.export_from:
        summary = json.loads((args.export_from / "summary.json").read_text())
        run_step(summary, "onnx", ("train",), lambda: onnx_from(args.export_from, work))
        write_summary(args.out, summary)
        print((args.out / "summary.md").read_text())
        return 0 if all(step["status"] == "ok" for step in summary["steps"].values()) else 1
    config = reference_config()
    summary: dict = {"mode": mode, "backend": backend, "device": "unknown", "gpu": False}
    summary.update(cuda_build=None, steps={})

    def peak():  # of the GPU the environment step found
        return peak_tflops(summary["device"]) if summary["gpu"] else None

    steps: list[tuple[str, tuple[str, ...], Callable[[], dict]]] = [
        ("environment", (), environment),
        ("benchmark", (), lambda: benchmark(config, SIZES[mode], args.smoke)),
        ("shards", (), lambda: shards(config, SIZES[mode], work)),
        ("train", ("shards",), lambda: train_epoch(config, work, args.smoke)),
        ("onnx", ("train",), lambda: onnx(config, work)),
    ]
    if backend == "jax":
        steps = [
            ("environment", (), lambda: environment_jax(args.policy)),
            (
                "benchmark",
                (),
                lambda: benchmark_jax(config, SIZES[mode], args.smoke, args.policy, peak()),
            ),
            (
                "train",
                (),
                lambda: train_epoch_jax(config, work, SIZES[mode], args.smoke, args.policy),
            ),
        ]
    for name, needs, step in steps:
        run_step(summary, name, needs, step)
        if name == "environment" and summary["steps"][name]["status"] == "ok":
            found = summary["steps"][name]["figures"]
            cuda_build = found.get("cuda_build")  # TensorFlow's; JAX says nothing of the kind
            summary.update(device=found["device"], gpu=bool(found["gpus"]), cuda_build=cuda_build)
            if not found["gpus"]:
                why = NO_CUDA * (cuda_build is False)
                print(f"gpu_check: no GPU visible{why}: CPU figures", file=sys.stderr)
        write_summary(args.out, summary)  # after each step: a run cut short keeps the others
    print((args.out / "summary.md").read_text())
    return 0 if all(step["status"] == "ok" for step in summary["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
