"""benchmarks/gpu_check.py, the prepared GPU check: its smoke mode runs every step on a CPU, so
the check is known to work before a GPU is lent; a failing step loses none of the others."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = ["environment", "benchmark", "shards", "train", "onnx"]


@pytest.fixture(scope="module")
def gpu_check():
    """The benchmarks/gpu_check.py module (its folder on sys.path, as when run as a script)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import gpu_check

        yield gpu_check
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


@pytest.mark.slow
def test_smoke_run_measures_every_step(tmp_path):
    out = tmp_path / "check"
    # The library of this checkout, as the workflow's jobs import it (rules/common.smk).
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    path = os.pathsep.join([str(REPO / "workflow_scripts"), *inherited])
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--out", str(out), "--smoke"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=1200,  # a hang fails the test; no time is asserted
    )
    assert run.returncode == 0, run.stderr[-5000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "smoke"
    assert list(summary["steps"]) == STEPS
    assert {name: step["status"] for name, step in summary["steps"].items()} == dict.fromkeys(
        STEPS, "ok"
    )
    for step in summary["steps"].values():
        assert step["wall_s"] > 0
    if not summary["gpu"]:
        assert "no GPU visible" in summary["device"]
    bench = summary["steps"]["benchmark"]["figures"]
    train = summary["steps"]["train"]["figures"]
    rates = [
        bench["training_samples_per_s"],
        bench["inference_samples_per_s"],
        *bench["pipeline_samples_per_s"].values(),
        train["samples_per_s"],
    ]
    assert all(math.isfinite(rate) and rate > 0 for rate in rates), rates
    assert set(bench["binds"]) == {"upsampled", "native"}
    assert bench["forward_flops_per_sample"] > 0
    assert summary["steps"]["shards"]["figures"]["mode"] == "native"
    assert train["model"] == "recommended" and train["steps"] > 1
    assert math.isfinite(train["loss"]) and math.isfinite(train["val_loss"])
    onnx = summary["steps"]["onnx"]["figures"]
    assert set(onnx["max_difference"]) == {"random inputs", "validation objects"}
    assert all(0 <= d <= onnx["tolerance"] <= 1e-4 for d in onnx["max_difference"].values())
    assert (out / "work" / "model.onnx").stat().st_size > 0
    table = (out / "summary.md").read_text()
    assert all(f"| {name} | ok |" in table for name in STEPS)


def test_a_failing_step_loses_none_of_the_others(gpu_check, tmp_path):
    def broken():
        raise RuntimeError("out of GPU memory")

    summary = {"mode": "smoke", "device": "test", "gpu": False, "cuda_build": False, "steps": {}}
    gpu_check.run_step(summary, "shards", (), broken)
    gpu_check.run_step(summary, "train", ("shards",), lambda: {"samples_per_s": 1.0})
    checked = {"tolerance": 1e-4, "max_difference": {"random inputs": 1e-7}}
    gpu_check.run_step(summary, "onnx", (), lambda: checked)
    steps = summary["steps"]
    assert steps["shards"]["status"] == "failed"
    assert steps["shards"]["error"] == "RuntimeError: out of GPU memory"
    assert steps["train"]["status"] == "skipped" and "shards" in steps["train"]["error"]
    assert steps["onnx"]["status"] == "ok" and steps["onnx"]["figures"] == checked
    gpu_check.write_summary(tmp_path, summary)
    table = (tmp_path / "summary.md").read_text()
    assert "| shards | failed |" in table and "out of GPU memory" in table
    assert "| train | skipped |" in table and "| onnx | ok |" in table
    assert "No GPU visible (this TensorFlow is built without CUDA" in table
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == steps
