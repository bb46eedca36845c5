"""benchmarks/gpu_check.py, the prepared GPU check: its smoke mode runs every step on a CPU, so
the check is known to work before a GPU is lent; a failing step loses none of the others."""

from __future__ import annotations

import ast
import copy
import importlib.metadata
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

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


# --backend jax: the GPU machine's image has JAX but no TensorFlow. The egcalib modules that
# path imports (python -X importtime of a smoke run), and the scripts it runs.
JAX_PATH_MODULES = [
    "egcalib.core.atomic",
    "egcalib.core.contract",
    "egcalib.core.model_specs",
    "egcalib.core.provenance",
    "egcalib.train.losses",
    "egcalib.train.models",
    "egcalib.train.normalisation",
]
JAX_PATH_SCRIPTS = ["gpu_check", "bench_training", "bench_images"]
# Raises on importing a blocked package, as where it is not installed: python -c BLOCKER ...
BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"blocked: {{name}}", name=name)
sys.meta_path.insert(0, Blocker())
"""


def module_level_imports(path: Path) -> set[str]:
    """What a module imports when it is imported: its top-level imports, those in top-level
    try/if blocks too, but not under ``if TYPE_CHECKING`` nor in functions or classes."""
    found: set[str] = set()

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *node.handlers):
                    visit(block if isinstance(block, list) else block.body)

    visit(ast.parse(path.read_text()).body)
    return found


def imported_at_import(roots: list[str]) -> dict[str, set[str]]:
    """Per module reached: what it imports at import, following egcalib's modules (and the
    benchmarks' scripts) transitively from ``roots``."""
    library = REPO / "workflow_scripts"
    seen: dict[str, set[str]] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name in JAX_PATH_SCRIPTS:
            path = REPO / "benchmarks" / f"{name}.py"
        else:
            base = library / name.replace(".", "/")
            path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
            if not path.exists():  # a name imported from a module, not a module
                seen[name] = set()
                continue
        seen[name] = module_level_imports(path)
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        todo += [n for n in seen[name] | set(parents) if n.startswith("egcalib")]
        todo += [n for n in seen[name] if n in JAX_PATH_SCRIPTS]
    return seen


def test_the_jax_path_imports_no_tensorflow():
    """Read, not run (a venv without JAX cannot import Keras without TensorFlow): neither the
    scripts nor the library modules of --backend jax import TensorFlow when imported, nor do the
    library's import pyarrow."""
    reached = imported_at_import([*JAX_PATH_SCRIPTS, *JAX_PATH_MODULES])
    assert set(JAX_PATH_MODULES) <= set(reached)

    def offending(packages, names):
        found = {
            module: sorted(n for n in reached[module] if n.partition(".")[0] in packages)
            for module in names
        }
        return {module: names for module, names in found.items() if names}

    library = [name for name in reached if name.startswith("egcalib")]
    assert offending({"tensorflow", "pyarrow"}, library) == {}
    assert offending({"tensorflow"}, JAX_PATH_SCRIPTS) == {}


def test_the_jax_paths_keras_free_modules_import_without_tensorflow_and_pyarrow():
    """Run: the library modules of --backend jax that need no Keras import with TensorFlow and
    pyarrow absent (the models and losses need Keras, whose backend here is TensorFlow)."""
    modules = ["egcalib.core.model_specs", "egcalib.core.provenance", "egcalib.core.atomic"]
    modules += ["egcalib.train.normalisation"]
    code = BLOCKER.format(blocked=["tensorflow", "pyarrow"]) + "".join(
        f"import {name}\n" for name in modules
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=library_env()
    )
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_blocker_blocks():
    """The tests above would pass vacuously if the blocker let TensorFlow through."""
    code = BLOCKER.format(blocked=["tensorflow"]) + "import keras.src.utils.module_utils\n"
    code += "import tensorflow\n"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=library_env()
    )
    assert run.returncode != 0 and "blocked: tensorflow" in run.stderr


def test_the_merged_config_is_snakemakes(gpu_check, default_config):
    """Without Snakemake (the GPU machine) the reference config is merged as Snakemake merges."""
    from snakemake.utils import update_config

    reference = yaml.safe_load((REPO / "configs" / "reference.yaml").read_text())
    expected = copy.deepcopy(default_config)
    update_config(expected, copy.deepcopy(reference))
    merged = gpu_check.merge_config(copy.deepcopy(default_config), copy.deepcopy(reference))
    assert merged == expected
    assert merged["shards"]["mode"] == "native" and "transformer_photon" in merged["models"]


def library_env() -> dict:
    """The environment with this checkout's library first on PYTHONPATH."""
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "workflow_scripts"), *inherited]),
    }


@pytest.mark.slow
def test_jax_smoke_run_without_tensorflow_then_onnx_here(tmp_path):
    """--backend jax --smoke with TensorFlow blocked (its device's image has none), on CPU
    JAX; then, where TensorFlow is, --export-from adds the ONNX check to its summary."""
    pytest.importorskip("jax", reason="JAX is not installed here (it is on the GPU machine)")
    out = tmp_path / "jax"
    script = str(REPO / "benchmarks" / "gpu_check.py")
    code = BLOCKER.format(blocked=["tensorflow"]) + (
        "import runpy\n"
        f"sys.argv = [{script!r}, '--backend', 'jax', '--smoke', '--out', {str(out)!r}]\n"
        f"sys.path.insert(0, {str(REPO / 'benchmarks')!r})\n"
        f"runpy.run_path({script!r}, run_name='__main__')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=library_env(),
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-5000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["mode"], summary["backend"]) == ("smoke", "jax")
    assert {name: step["status"] for name, step in summary["steps"].items()} == dict.fromkeys(
        ["environment", "benchmark", "train"], "ok"
    )
    environment = summary["steps"]["environment"]["figures"]
    assert environment["keras_backend"] == "jax" and environment["policy"] == "mixed_float16"
    bench = summary["steps"]["benchmark"]["figures"]
    assert bench["policy"] == "mixed_float16" and bench["flops_source"] == "XLA cost analysis"
    # XLA's count and the layers' multiply-adds agree to the small layers the latter leaves out.
    assert 1.0 <= bench["forward_flops_per_sample"] / bench["layer_flops_per_sample"] < 1.2
    assert set(bench["training_samples_per_s_by_policy"]) == {"mixed_float16", "mixed_bfloat16"}
    rates = [bench["inference_samples_per_s"], *bench["training_samples_per_s_by_policy"].values()]
    train = summary["steps"]["train"]["figures"]
    assert all(math.isfinite(rate) and rate > 0 for rate in [*rates, train["samples_per_s"]])
    assert train["policy"] == "mixed_float16" and train["steps"] > 1
    assert math.isfinite(train["loss"]) and math.isfinite(train["val_loss"])
    assert (out / "work" / "model.keras").stat().st_size > 0
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return  # the ONNX check needs TensorFlow
    exported = tmp_path / "onnx"
    run = subprocess.run(
        [sys.executable, script, "--export-from", str(out), "--out", str(exported)],
        capture_output=True,
        text=True,
        env=library_env(),
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-5000:]
    onnx = json.loads((exported / "summary.json").read_text())["steps"]["onnx"]
    assert onnx["status"] == "ok"
    assert set(onnx["figures"]["max_difference"]) == {"random inputs", "synthetic objects"}
    assert "| onnx | ok |" in (exported / "summary.md").read_text()


def test_the_gpu_machines_wheels_are_the_pinned_keras_and_its_missing_requirements():
    """benchmarks/gpu_wheels.sh downloads the Keras of pyproject.toml, with every requirement of
    Keras that the GPU machine's image lacks, pinned."""
    script = (REPO / "benchmarks" / "gpu_wheels.sh").read_text()
    wheels = dict(w.split("==") for w in re.search(r"wheels=\((.*)\)", script)[1].split())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert wheels["keras"] == dict(line.split("==") for line in project)["keras"]
    on_the_image = {"absl-py", "numpy", "rich", "h5py", "ml-dtypes", "packaging"}
    keras = importlib.metadata.requires("keras") or []
    needed = {re.split(r"[^A-Za-z0-9_.-]", r, maxsplit=1)[0].lower() for r in keras if ";" not in r}
    assert needed - on_the_image == set(wheels) - {"keras"}
    assert all(re.fullmatch(r"\d+(\.\d+)+", version) for version in wheels.values())
    assert "/.whl/" in (REPO / ".gitignore").read_text().splitlines()
