"""Training and inference samples/s on this machine for the default (CPU-sized) model and the
paper-size recommended model at a fixed batch. The bound for training is inference of the same
model in the same run (a training step is a forward plus a ~2x backward pass: ~1/3 expected).

    .venv/bin/python benchmarks/bench_training.py [batch]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAPER_ARCHITECTURE = {"cnn": {"blocks": 3, "depth": 4, "filters": 16, "kernel": 3},
                      "scalarnet": [256], "film": [512, 1024], "tracknet": [128, 64, 32, 16],
                      "top": [512, 512]}


def measure(model_config, training, batch, steps):
    import tensorflow as tf

    from egcalib.training import compile_model

    model = compile_model(model_config, training, (56, 55, 4), False)
    rng = np.random.default_rng(0)
    inputs = {"image": rng.exponential(0.1, (batch, 56, 55, 4)).astype(np.float32),
              "scalars": rng.normal(size=(batch, 16)).astype(np.float32),
              "tracks": rng.normal(size=(batch, 10, 11)).astype(np.float32),
              "track_mask": np.ones((batch, 10), np.float32),
              "log_e_acc": rng.normal(size=(batch, 1)).astype(np.float32)}
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
    return model.count_params(), train_rate, infer_rate


def main(batch: int = 64) -> None:
    from egcalib.model_config import resolve_model

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    entry = config["models"]["recommended"]
    for label, architecture, steps in (("default", {}, 20), ("paper-size", PAPER_ARCHITECTURE, 3)):
        model = resolve_model("recommended", {**entry, "architecture": architecture},
                              config["model_defaults"])
        params, train_rate, infer_rate = measure(model, config["training"], batch, steps)
        print(f"{label} recommended model ({params} parameters), batch {batch}, "
              f"{os.cpu_count()} cores:")
        print(f"  training  : {train_rate:9.1f} samples/s")
        print(f"  inference : {infer_rate:9.1f} samples/s  (bound)")
        print(f"  ratio     : {train_rate / infer_rate:9.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 64)
