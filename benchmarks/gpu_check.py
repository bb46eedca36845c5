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

OUT/summary.json holds every figure, the device, and each step's wall time [s] and status (ok,
failed with its error, or skipped), rewritten after each step so that a run cut short keeps
what it did; OUT/summary.md is the short version. The exit status is 1 if any step is not ok.
``--smoke`` shrinks everything (the CPU-sized model, tiny batches, a few hundred objects) to run
on a CPU in about a minute: the tests run it so. Without a GPU the figures are the CPU's, and
the summary says so.

    .venv/bin/python benchmarks/gpu_check.py --out gpu-check [--smoke]
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
    gpu_peak,
    model_figures,
    pipeline_rates,
    recommended_spec,
)

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
# A fresh clone's venv has tensorflow-cpu (pyproject.toml), which sees no GPU.
NO_CUDA = (
    " (this TensorFlow is built without CUDA: install the pin of envs/train-gpu.yaml, "
    "docs/development.md#the-gpu-check)"
)


def reference_config() -> dict:
    """configs/reference.yaml merged over config.yaml and validated, as Snakemake does for
    ``--configfile config.yaml configs/reference.yaml``."""
    from snakemake.utils import update_config, validate

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "configs" / "reference.yaml").read_text()))
    validate(config, str(REPO / "config.schema.yaml"))
    return config


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
    nvidia_smi = None
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"]
        nvidia_smi = subprocess.run(query, capture_output=True, text=True).stdout.splitlines()
    return {
        "device": gpus[0] if gpus else f"CPU: {cpu_model()} (no GPU visible)",
        "gpus": gpus,
        "nvidia_smi": nvidia_smi,
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
        return (
            f"TensorFlow {f['tensorflow']}, GPUs {f['gpus'] or 'none'}"
            + (f" (nvidia-smi: {'; '.join(f['nvidia_smi'])})" if f["nvidia_smi"] else "")
            + f", mixed precision {'on' if f['mixed_precision'] else 'off'}"
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
            f"{f['inference_samples_per_s']:.0f} samples/s; pipeline / training: {pipeline}"
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
        f"# GPU check ({summary['mode']})",
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
    args = parser.parse_args()
    mode = "smoke" if args.smoke else "full"
    work = args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    config = reference_config()
    summary: dict = {"mode": mode, "device": "unknown", "gpu": False, "cuda_build": None}
    summary["steps"] = {}
    steps: list[tuple[str, tuple[str, ...], Callable[[], dict]]] = [
        ("environment", (), environment),
        ("benchmark", (), lambda: benchmark(config, SIZES[mode], args.smoke)),
        ("shards", (), lambda: shards(config, SIZES[mode], work)),
        ("train", ("shards",), lambda: train_epoch(config, work, args.smoke)),
        ("onnx", ("train",), lambda: onnx(config, work)),
    ]
    for name, needs, step in steps:
        run_step(summary, name, needs, step)
        if name == "environment" and summary["steps"][name]["status"] == "ok":
            found = summary["steps"][name]["figures"]
            summary.update(
                device=found["device"], gpu=bool(found["gpus"]), cuda_build=found["cuda_build"]
            )
            if not found["gpus"]:
                why = NO_CUDA * (not found["cuda_build"])
                print(f"gpu_check: no GPU visible{why}: CPU figures", file=sys.stderr)
        write_summary(args.out, summary)  # after each step: a run cut short keeps the others
    print((args.out / "summary.md").read_text())
    return 0 if all(step["status"] == "ok" for step in summary["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
