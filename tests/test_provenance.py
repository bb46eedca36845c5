"""Code versions follow the imports of a script through the library, and only those."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from egcalib.core.provenance import code_version, library_files

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow_scripts"


def write_library(root: Path) -> None:
    files = {
        "egcalib/__init__.py": "",
        "egcalib/physics/__init__.py": "from egcalib.physics.shower import profile\n",
        "egcalib/physics/shower.py": "from egcalib import units\nprofile = 1\n",
        "egcalib/units.py": "GEV = 1.0\n",
        "egcalib/lazy.py": "X = 1\n",
        "egcalib/unused.py": "Y = 2\n",
        "stage.py": (
            "import numpy\nfrom egcalib.physics import profile\n\n"
            "def run():\n    import egcalib.lazy\n"
        ),
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_closure_follows_package_inits_submodules_and_function_imports(tmp_path):
    write_library(tmp_path)
    found = {str(p.relative_to(tmp_path)) for p in library_files(tmp_path / "stage.py", tmp_path)}
    assert found == {
        "egcalib/__init__.py",
        "egcalib/physics/__init__.py",
        "egcalib/physics/shower.py",
        "egcalib/units.py",
        "egcalib/lazy.py",
    }


def test_version_changes_with_reached_modules_only(tmp_path):
    write_library(tmp_path)
    script = tmp_path / "stage.py"
    before = code_version(script, tmp_path)
    (tmp_path / "egcalib/unused.py").write_text("Y = 3\n")
    assert code_version(script, tmp_path) == before
    (tmp_path / "egcalib/units.py").write_text("GEV = 1000.0\n")  # reached through two imports
    assert code_version(script, tmp_path) != before


def test_workflow_scripts_reach_what_they_run():
    def reached(script):
        return {
            str(p.relative_to(SCRIPTS / "egcalib"))
            for p in library_files(SCRIPTS / f"{script}.py", SCRIPTS)
        }

    train = reached("train")
    # Reached only through other modules: the atomic checkpoint writes, the input contract.
    assert {
        "train/training.py",
        "train/models.py",
        "train/losses.py",
        "train/input_pipeline.py",
        "core/atomic.py",
        "core/contract.py",
    } <= train
    assert "stats/bw_cb.py" not in train and "skim/skimming.py" not in train
    assert "simulation/validation.py" not in reached("simulate")
    assert "simulation/validation.py" in reached("validate_simulation")
    # The Z fits and their paired bootstrap live apart from the per-model evaluation.
    assert {
        "stats/bw_cb.py",
        "stats/sigma_improvement.py",
        "evaluate/z_fits.py",
        "stats/metrics.py",
        "evaluate/masses.py",
    } <= reached("evaluate")
    # The BDT control runs without TensorFlow: a change in the networks' code leaves it alone.
    assert {"bdt/training.py", "train/history.py"} <= reached("train_bdt") & reached("infer_bdt")
    # One home for the negative-weight policy, reached by both trainers.
    assert "train/weights.py" in reached("train_bdt") & train
    assert {"bdt/prediction.py", "infer/prediction.py"} <= reached("infer_bdt")
    assert not {
        "train/training.py",
        "train/models.py",
        "train/losses.py",
        "train/input_pipeline.py",
    } & (reached("train_bdt") | reached("infer_bdt"))
    # Nor does its ONNX export: the networks' export and their training stack stay apart.
    assert {"bdt/calibration_onnx.py", "infer/onnx_export.py"} <= reached("export_onnx_bdt")
    assert not {
        "infer/calibration_onnx.py",
        "train/models.py",
        "train/normalisation.py",
        "shards/upsampling.py",
    } & reached("export_onnx_bdt")
    # Nor does the BDT's prediction reach the networks' inference.
    assert "bdt/training.py" not in reached("infer") and "bdt/prediction.py" not in reached("infer")
    assert "train/history.py" in train
    # The record format and the object table: written by the shards stage, read by training.
    assert {"shards/writing.py", "shards/skim_table.py", "shards/upsampling.py"} <= reached(
        "shards"
    ) & train
    assert "train/normalisation.py" not in reached("shards")


# The library's packages in workflow order; a module imports only from its own package or earlier
# ones (docs/design.md#layout). `core` holds what every stage shares.
PACKAGES = (
    "core",
    "stats",
    "simulation",
    "skim",
    "shards",
    "train",
    "infer",
    "bdt",
    "evaluate",
    "photon_id",
    "card",
    "apply",
)
LIBRARY = SCRIPTS / "egcalib"


def _package(module: str) -> int:
    top = module.split(".")[0]
    assert top in PACKAGES, f"egcalib.{module} is in no package of PACKAGES: move it into one"
    return PACKAGES.index(top)


def test_the_library_is_one_package_per_stage():
    """Every module lives in a stage's package (no module at the top beside them), and every
    package's __init__ holds its docstring and nothing else: importing a package runs nothing."""
    import ast

    tops = {p.name for p in LIBRARY.iterdir() if not p.name.startswith(("_", "."))}
    assert tops == set(PACKAGES), tops ^ set(PACKAGES)
    for package in PACKAGES:
        body = ast.parse((LIBRARY / package / "__init__.py").read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), f"{package}/__init__.py"
        assert isinstance(body[0].value, ast.Constant) and body[0].value.value.strip()


def test_no_package_imports_a_later_one():
    import ast

    against = []
    for path in sorted(LIBRARY.rglob("*.py")):
        module = ".".join(path.relative_to(LIBRARY).with_suffix("").parts)
        if module == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "egcalib":
                # The package's own attributes (__version__) belong to no stage.
                imported = [alias.name for alias in node.names if not alias.name.startswith("__")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("egcalib."):
                imported = [node.module.removeprefix("egcalib.")]
            elif isinstance(node, ast.Import):
                imported = [
                    a.name.removeprefix("egcalib.")
                    for a in node.names
                    if a.name.startswith("egcalib.")
                ]
            else:
                continue
            against += [
                f"{module} imports {name}" for name in imported if _package(name) > _package(module)
            ]
    assert not against


@pytest.mark.parametrize(
    "modules",
    [
        # The BDT control's jobs run in the CPU environment (envs/analysis.yaml).
        "egcalib.bdt.training, egcalib.bdt.prediction, egcalib.bdt.calibration_onnx",
        # Calibrating one's own ntuples needs onnxruntime, not the training stack.
        "egcalib.apply.friends, egcalib.apply.__main__",
    ],
)
def test_what_runs_without_tensorflow_never_imports_it(modules):
    code = (
        f"import sys, {modules}\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    env = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
