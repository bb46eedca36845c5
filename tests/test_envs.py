"""Cluster environments and profiles agree with the pins and request GPUs only for training."""

import re
import tomllib

import yaml

ALIASES = {"tensorflow[and-cuda]": "tensorflow-cpu"}  # the GPU build of the same release


def pins(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(line.split("==") for line in project)


def env_pins(path):
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    return dict(line.split("==") for line in pip)


def test_conda_envs_pin_the_same_versions_as_pyproject(repo):
    reference = {k.lower(): v for k, v in pins(repo).items()}
    for path in sorted((repo / "envs").glob("*.yaml")):
        for package, version in env_pins(path).items():
            name = ALIASES.get(package, package).lower()
            assert name in reference, f"{path.name}: {package} is not pinned in pyproject.toml"
            assert reference[name] == version, f"{path.name}: {package}=={version}"


def test_every_rule_has_a_conda_env_and_a_log(repo):
    for smk in sorted((repo / "rules").glob("*.smk")):
        rules = re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]
        for body in rules:
            name = body.split(":", 1)[0]
            assert "\n    conda:" in body, f"{smk.name}: rule {name} has no conda env"
            assert "\n    log:" in body, f"{smk.name}: rule {name} has no log"
            # The rules that run TensorFlow: the networks' and the photon-ID CNN's.
            tensorflow = ("train", "export_onnx", "train_photon_id_cnn", "export_photon_id_onnx")
            env = "train-gpu" if name in tensorflow else "analysis"
            assert f"envs/{env}.yaml" in body, f"{smk.name}: rule {name} uses the wrong env"


def test_slurm_profile_requests_gpus_for_training_only(repo):
    profile = yaml.safe_load((repo / "slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    assert set(profile["set-resources"]) == {"train"}
    assert "gpu" not in profile["default-resources"]
    train_rule = (repo / "rules/train.smk").read_text().split("rule train:")[1].split("\nrule ")[0]
    assert "gpu=1" in train_rule
    others = "".join(p.read_text() for p in (repo / "rules").glob("*.smk")).replace(train_rule, "")
    assert "gpu=" not in others, "CPU rules never ask for GPUs"


def test_bare_profile_name_resolves_from_the_repository_root(repo, tmp_path):
    from workflow_utils import dry_run

    result = dry_run(tmp_path, repo / "config.yaml", args=("--profile", "slurm"), snakefile=None)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^train\s+\d+$", result.stdout, re.M)
