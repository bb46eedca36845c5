"""Code versions follow the imports of a script through the library, and only those."""

from __future__ import annotations

from pathlib import Path

from egcalib.provenance import code_version, library_files

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
        "training.py",
        "models.py",
        "losses.py",
        "pipeline.py",
        "atomic.py",
        "contract.py",
    } <= train
    assert "fitting.py" not in train and "skimming.py" not in train
    assert "simulation/validation.py" not in reached("simulate")
    assert "simulation/validation.py" in reached("validate_simulation")
    # The Z fits and their paired bootstrap live apart from the per-model evaluation.
    assert {
        "fitting.py",
        "sigma_improvement.py",
        "zfits.py",
        "metrics.py",
        "masses.py",
    } <= reached("evaluate")
    # The BDT control runs without TensorFlow: a change in the networks' code leaves it alone.
    assert {"bdt.py", "history.py"} <= reached("train_bdt") & reached("infer_bdt")
    # One home for the negative-weight policy, reached by both trainers.
    assert "weights.py" in reached("train_bdt") & train
    assert {"bdt_inference.py", "inference.py"} <= reached("infer_bdt")
    assert not {"training.py", "models.py", "losses.py", "pipeline.py"} & (
        reached("train_bdt") | reached("infer_bdt")
    )
    # Nor does the BDT's prediction reach the networks' inference.
    assert "bdt.py" not in reached("infer") and "bdt_inference.py" not in reached("infer")
    assert "history.py" in train
    # The record format and the object table: written by the shards stage, read by training.
    assert {"records.py", "objects.py", "upsampling.py"} <= reached("shards") & train
    assert "normalisation.py" not in reached("shards")


# The library's stages in workflow order; a module imports only from its own stage or earlier
# ones (docs/design.md section 13). The first holds what every stage shares.
STAGES = (
    {
        "atomic",
        "chunks",
        "contract",
        "file_identity",
        "fitting",
        "kinematics",
        "logs",
        "metrics",
        "model_config",
        "provenance",
        "settings",
        "sigma_improvement",
    },
    {"rootio", "simulation"},
    {
        "branch_types",
        "branches",
        "cutflows",
        "duplicates",
        "finite_inputs",
        "layout",
        "ntuple_reading",
        "object_features",
        "plausibility",
        "selection",
        "skimming",
    },
    {"objects", "records", "splits", "upsampling"},
    {
        "bdt",
        "checkpoints",
        "history",
        "losses",
        "models",
        "normalisation",
        "pipeline",
        "resolution_calibration",
        "training",
        "weights",
    },
    {"bdt_inference", "export", "inference"},
    {
        "card_sections",
        "comparison",
        "evaluation",
        "insitu",
        "masses",
        "plotting",
        "results_card",
        "zfits",
    },
)


def _stage(module: str) -> int:
    top = module.split(".")[0]
    stages = [i for i, names in enumerate(STAGES) if top in names]
    assert stages, f"egcalib.{module} is in no stage of STAGES: add it to its stage"
    return stages[0]


def test_no_module_imports_against_the_stage_order():
    import ast

    library = SCRIPTS / "egcalib"
    against = []
    for path in sorted(library.rglob("*.py")):
        module = ".".join(path.relative_to(library).with_suffix("").parts)
        if module.endswith("__init__"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module == "egcalib":
                # Modules; the package's own attributes (__version__) belong to no stage.
                imported = [alias.name for alias in node.names if not alias.name.startswith("__")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("egcalib."):
                imported = [node.module.removeprefix("egcalib.")]
            else:
                continue
            against += [
                f"{module} imports {name}" for name in imported if _stage(name) > _stage(module)
            ]
    assert not against
