"""Config validation against config.schema.yaml, and the DAG of the default config."""

from __future__ import annotations

import copy
import re

import pytest
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from workflow_utils import dry_run


def _rejected(config, repo) -> str:
    with pytest.raises(WorkflowError) as info:
        validate(config, str(repo / "config.schema.yaml"))
    return str(info.value)


def test_default_config_is_valid(default_config, repo):
    validate(copy.deepcopy(default_config), str(repo / "config.schema.yaml"))


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["datasets"]["mc_zee"].update(events_per_file=-5), "events_per_file"),
        (lambda c: c["datasets"]["mc_zee"].update(kind="simulation"), "kind"),
        (lambda c: c["datasets"]["mc_zee"].update(evnts_per_file=5), "evnts_per_file"),
        (
            lambda c: c["simulation"]["generator"].update(truth_mismatch_fraction=1.5),
            "truth_mismatch_fraction",
        ),
        (lambda c: c["simulation"]["detectors"]["mc"].pop("noise"), "noise"),
        (lambda c: c.update(simulaton={}), "simulaton"),
        (lambda c: c["images"].update(target_shape=[56]), "target_shape"),
        (lambda c: c["models"]["bdt"].update(bdt={"num_leafs": 31}), "num_leafs"),
        (lambda c: c["models"]["bdt"].update(bdt={"learning_rate": 0}), "learning_rate"),
        (lambda c: c["models"]["bdt"].update(film=["scalars"]), "film"),
        (lambda c: c["models"]["basic"].update(bdt={"num_leaves": 7}), "bdt"),
        (lambda c: c["models"]["basic"].update(kind="xgboost"), "kind"),
        (lambda c: c["models"]["basic"].update(transformer={"layers": 1}), "transformer"),
        (
            lambda c: c["models"]["transformer"].update(
                architecture={"cnn": {"blocks": 1, "depth": 1, "filters": 4, "kernel": 3}}
            ),
            "no convolutions",
        ),
        (lambda c: c["models"]["transformer"].update(transformer={"heads": 0}), "heads"),
        (
            lambda c: c["model_defaults"]["bdt"].pop("early_stopping_rounds"),
            "early_stopping_rounds",
        ),
        (lambda c: c["models"].update(baseline_binned={"film": [], "top": []}), "baseline_binned"),
        (lambda c: c["splits"]["fractions"].update(val=0), "val"),
        (lambda c: c["splits"]["fractions"].update(test=0.0), "test"),
        (lambda c: c["datasets"]["mc_pgun"].update(kind="data"), "photon gun exists only in MC"),
        (lambda c: c["datasets"]["mc_pgun"].update(process="gamma"), "gamma"),
        (lambda c: c["selection"]["pgun"].pop("photon_eta_crack"), "photon_eta_crack"),
        (lambda c: c["simulation"]["generator"].pop("pgun_et_range"), "pgun_et_range"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(default_config, repo, mutate, key):
    config = copy.deepcopy(default_config)
    mutate(config)
    assert key in _rejected(config, repo)


def test_external_dataset_needs_files(default_config, repo):
    config = copy.deepcopy(default_config)
    config["datasets"]["real"] = {"kind": "mc", "process": "zee", "source": "files"}
    assert "files" in _rejected(config, repo)


def test_dry_run_builds_the_dag(repo, tmp_path):
    result = dry_run(tmp_path, repo / "config.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    for rule in (
        "simulate",
        "validate_simulation",
        "skim",
        "shards",
        "normalise",
        "train",
        "infer",
        "train_bdt",
        "infer_bdt",
        "evaluate",
        "compare",
    ):
        assert f"rule {rule}:" in result.stdout, rule


@pytest.mark.parametrize("configs", [(), ("tests/configs/tiny.yaml",)], ids=["default", "tiny"])
def test_dry_run_plans_the_photon_gun_chain(repo, tmp_path, configs):
    """mc_pgun is simulated, skimmed and sharded, and the photon model trains on it and is
    evaluated on it; the electron models are not. The jets datasets are skimmed and sharded
    only."""
    result = dry_run(tmp_path, repo / "config.yaml", *(repo / c for c in configs))
    assert result.returncode == 0, result.stderr[-3000:]
    for output in (
        "results/ntuples/mc_pgun/f000.root",
        "results/skim/mc_pgun/f000.parquet",
        "results/skim/mc_pgun.cutflow.csv",
        "results/shards/mc_pgun/f000.train.tfrecord",
        "results/predictions/recommended_photon/mc_pgun/c000.parquet",
    ):
        assert output in result.stdout, output
    for model in ("basic", "recommended_mc_data", "bdt"):
        assert f"results/predictions/{model}/mc_pgun/" not in result.stdout, model
    # The jets (photon identification's fakes): skimmed and sharded, never predicted.
    for dataset in ("mc_jets",):
        assert f"results/skim/{dataset}/f000.parquet" in result.stdout, dataset
        assert f"results/shards/{dataset}/f000.train.tfrecord" in result.stdout, dataset
    assert "results/predictions/" in result.stdout
    assert "_jets/c000.parquet" not in result.stdout, "no model predicts jets"


def test_paper_scale_config_builds_its_dag(repo, tmp_path):
    result = dry_run(tmp_path, repo / "config.yaml", repo / "configs/paper.yaml", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # The 12 ablation variants, recommended trained on data and on MC + data, the photon model,
    # the electron and photon transformers.
    assert re.search(r"^train\s+18$", result.stdout, re.M), "every model variant trains"
    assert "tensorflow" not in result.stderr.lower(), "building the DAG must not import TF"


@pytest.mark.parametrize(
    "overlays, trainings",
    [
        (("configs/reference.yaml",), 6),
        (("configs/reference.yaml", "configs/ablation.yaml"), 10),
        (("configs/reference.yaml", "configs/transformer-scan.yaml"), 11),
    ],
    ids=["reference", "reference+ablation", "reference+transformer-scan"],
)
def test_reference_configs_build_their_dags(repo, tmp_path, overlays, trainings):
    """The reference run trains the seed's data experiment, the photon model and the transformers
    (6 networks beside the BDTs); the ablation overlay adds basic, film_scalars, top_scalars and
    the MDN model, the transformer scan five transformers."""
    result = dry_run(tmp_path, repo / "config.yaml", *(repo / o for o in overlays), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(rf"^train\s+{trainings}$", result.stdout, re.M), result.stdout[-3000:]
    for model in ("recommended_data", "recommended_mc_data", "transformer_photon", "bdt_photon"):
        assert f"results/eval/{model}/metrics.json" in result.stdout, model


def _reserved_threads(dry_run_output: str) -> dict[str, set[int]]:
    """{rule: threads its jobs reserve} from a dry run's job listing (no "threads:" line: 1)."""
    reserved: dict[str, set[int]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run_output):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if rule:
            threads = re.search(r"^\s+threads: (\d+)$", block.split("\n\n")[0], re.M)
            reserved.setdefault(rule.group(1), set()).add(int(threads.group(1)) if threads else 1)
    return reserved


@pytest.mark.parametrize(
    "cores, networks, bdts",
    [
        # On 2 cores a training leaves one to an inference or evaluation beside it.
        (2, 1, 1),
        # LightGBM runs its 2 fixed threads whatever the machine: it reserves no more.
        (8, 7, 2),
    ],
)
def test_trainings_leave_one_core_to_the_other_jobs(repo, tmp_path, cores, networks, bdts):
    result = dry_run(tmp_path, repo / "config.yaml", args=("--cores", str(cores)))
    assert result.returncode == 0, result.stderr[-3000:]
    reserved = _reserved_threads(result.stdout)
    assert reserved["train"] == reserved["train_photon_id_cnn"] == {networks}, reserved
    assert reserved["train_bdt"] == reserved["train_photon_id_bdt"] == {bdts}, reserved
    assert reserved["evaluate"] == {1}, reserved
    # Electrons and photons in a process each: nothing else is ready beside it.
    assert reserved["derive_baseline_calibration"] == {2}, reserved


def test_network_inputs_and_trainings_go_first(repo, tmp_path):
    """The files the networks train on, and the trainings, have priority over the short jobs:
    the order only (the recorded digests in test_workflow.py pin the outputs)."""
    result = dry_run(tmp_path, repo / "config.yaml", args=("--cores", "2"))
    assert result.returncode == 0, result.stderr[-3000:]
    priorities: dict[tuple[str, str | None], set[int]] = {}
    for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", result.stdout):
        rule = re.match(r"\s*(?:local)?rule (\w+):", block)
        if rule:
            dataset = re.search(r"wildcards: .*dataset=(\w+)", block)
            priority = re.search(r"^\s+priority: (\d+)$", block, re.M)
            key = (rule.group(1), dataset.group(1) if dataset else None)
            priorities.setdefault(key, set()).add(int(priority.group(1)) if priority else 0)
    for rule in ("simulate", "skim", "shards"):
        for dataset in ("mc_zee", "mc_egun", "mc_pgun", "mc_zmumug"):  # the networks' datasets
            assert priorities[(rule, dataset)] == {1}, (rule, dataset)
        for dataset in ("mc_jets", "data_zee"):
            assert priorities[(rule, dataset)] == {0}, (rule, dataset)
    assert priorities[("train", None)] == priorities[("train_photon_id_cnn", None)] == {2}
    assert priorities[("evaluate", None)] == priorities[("validate_simulation", None)] == {0}


def test_bad_config_stops_the_workflow_naming_the_key(repo, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "datasets:\n  mc_zee: {kind: mc, process: zee, source: simulate, "
        "n_files: 0, events_per_file: 10}\n"
    )
    result = dry_run(tmp_path, bad)
    assert result.returncode != 0
    assert "n_files" in result.stdout + result.stderr


def test_models_train_on_one_particle(default_config):
    from egcalib.core.model_specs import evaluation_datasets, model_particle, resolve_model

    datasets, defaults = default_config["datasets"], default_config["model_defaults"]
    photon = resolve_model(
        "recommended_photon", default_config["models"]["recommended_photon"], defaults
    )
    assert model_particle(photon, datasets) == "photon"
    assert photon["train_on"] == ["mc_pgun", "mc_zmumug"]
    assert evaluation_datasets(photon, datasets) == ["mc_zmumug", "mc_pgun", "data_zmumug"]
    electron = resolve_model("recommended", default_config["models"]["recommended"], defaults)
    assert evaluation_datasets(electron, datasets) == ["mc_zee", "mc_egun", "data_zee"]
    mixed = resolve_model(
        "mixed", {"film": [], "top": [], "train_on": ["mc_zee", "mc_zmumug"]}, defaults
    )
    with pytest.raises(ValueError, match="model mixed: train_on mixes electron and photon"):
        model_particle(mixed, datasets)
    unknown = resolve_model("typo", {"film": [], "top": [], "train_on": ["mc_zeee"]}, defaults)
    with pytest.raises(
        ValueError, match=r"model typo: train_on names unknown datasets \['mc_zeee'\]"
    ):
        model_particle(unknown, datasets)


def test_model_entries_resolve_to_the_keys_of_their_kind(default_config):
    """A BDT's resolved config (a param of its rules) holds no CNN settings and a CNN's no BDT
    settings, so changing one kind's defaults reruns nothing of the other."""
    from egcalib.core.model_specs import evaluation_datasets, models_of_kind, resolve_model

    defaults = default_config["model_defaults"]
    bdt = resolve_model("bdt", default_config["models"]["bdt"], defaults)
    assert bdt == {
        "name": "bdt",
        "kind": "bdt",
        "train_on": defaults["train_on"],
        "bdt": defaults["bdt"],
    }
    assert evaluation_datasets(bdt, default_config["datasets"]) == ["mc_zee", "mc_egun", "data_zee"]
    tuned = resolve_model("tuned", {"kind": "bdt", "bdt": {"num_leaves": 7}}, defaults)
    assert tuned["bdt"] == {**defaults["bdt"], "num_leaves": 7}
    cnn = resolve_model("basic", default_config["models"]["basic"], defaults)
    assert cnn["kind"] == "cnn" and "bdt" not in cnn
    assert models_of_kind(default_config["models"], defaults, "bdt") == ["bdt", "bdt_photon"]
    with pytest.raises(ValueError, match=r"model odd: a bdt model takes no \['film'\]"):
        resolve_model("odd", {"kind": "bdt", "film": []}, defaults)
    with pytest.raises(ValueError, match="model baseline: the name labels a baseline"):
        resolve_model("baseline", {"film": [], "top": []}, defaults)
    # A transformer holds its settings and the shared widths, not the convolutions.
    transformer = resolve_model("transformer", default_config["models"]["transformer"], defaults)
    assert transformer["transformer"] == defaults["transformer"] and "transformer" not in cnn
    assert "cnn" not in transformer["architecture"] and "cnn" in cnn["architecture"]
    assert models_of_kind(default_config["models"], defaults, "transformer") == [
        "transformer",
        "transformer_photon",
    ]
    with pytest.raises(ValueError, match="not a multiple of heads"):
        resolve_model("odd", {"kind": "transformer", "transformer": {"d_model": 10}}, defaults)


def test_init_from_names_another_cnn_model_without_a_cycle(default_config):
    from egcalib.core.model_specs import check_init_from

    models, defaults = default_config["models"], default_config["model_defaults"]
    check_init_from("recommended_photon", models, defaults)  # none set
    chain = {
        **models,
        "recommended_photon": {**models["recommended_photon"], "init_from": "recommended"},
    }
    check_init_from("recommended_photon", chain, defaults)
    for source, message in (
        (
            "recommended_foton",
            "model recommended_photon: init_from names no cnn model: 'recommended_foton'",
        ),
        ("bdt", "model recommended_photon: init_from names no cnn model: 'bdt'"),
        ("recommended_photon", "init_from forms a cycle recommended_photon -> recommended_photon"),
        ("top_scalars", r"init_from top_scalars has another film \(\[\] against \['scalars'\]\)"),
    ):
        wrong = {
            **models,
            "recommended_photon": {**models["recommended_photon"], "init_from": source},
        }
        with pytest.raises(ValueError, match=message):
            check_init_from("recommended_photon", wrong, defaults)
    cycle = {
        **chain,
        "recommended": {**models["recommended"], "init_from": "recommended_photon"},
    }
    with pytest.raises(
        ValueError, match="cycle recommended_photon -> recommended -> recommended_photon"
    ):
        check_init_from("recommended_photon", cycle, defaults)


def _own_ntuples_config(repo, tmp_path, **changes):
    """configs/own-ntuples.yaml with its paths pointing at two (empty) files of each dataset: a
    dry run plans from the file names and never opens them."""
    import yaml

    config = yaml.safe_load((repo / "configs/own-ntuples.yaml").read_text())
    for name, spec in config["datasets"].items():
        for i in range(2):
            (tmp_path / name / f"{name}_{i}.root").parent.mkdir(exist_ok=True)
            (tmp_path / name / f"{name}_{i}.root").touch()
        spec["files"] = [str(tmp_path / name / "*.root")]
    config.update(changes)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_own_ntuples_alone_plan_no_simulated_dataset(repo, tmp_path):
    """configs/own-ntuples.yaml (docs/own-ntuples.md#your-own-ntuples-alone): only the user's
    datasets are skimmed and evaluated, the models train on them, and nothing is simulated."""
    result = dry_run(tmp_path / "run", repo / "config.yaml", _own_ntuples_config(repo, tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    for rule in ("simulate", "derive_baseline_calibration", "validate_simulation"):
        assert f"rule {rule}:" not in result.stdout, rule
    skims = [
        line
        for line in result.stdout.splitlines()
        if "output: results/skim/" in line and ".parquet" in line
    ]
    assert len(skims) == 4 and all("my_zee_" in line for line in skims), skims
    assert "mc_zee" not in result.stdout and "mc_egun" not in result.stdout


def test_a_model_training_on_a_dataset_left_out_is_a_clear_error(repo, tmp_path):
    config = _own_ntuples_config(repo, tmp_path, selected_models=["recommended_photon"])
    result = dry_run(tmp_path / "run", repo / "config.yaml", config)
    assert result.returncode != 0
    assert (
        "model recommended_photon: train_on names unknown datasets ['mc_pgun', 'mc_zmumug']"
        in result.stdout + result.stderr
    )


def test_selected_datasets_must_exist(repo, tmp_path):
    config = _own_ntuples_config(repo, tmp_path, selected_datasets=["my_zee_mc", "my_zee_dat"])
    result = dry_run(tmp_path / "run", repo / "config.yaml", config)
    assert result.returncode != 0
    assert "selected_datasets: unknown datasets ['my_zee_dat']" in result.stdout + result.stderr
