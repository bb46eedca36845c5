# Shared helpers: dataset/file listing, input functions, per-stage code versions, resources per
# attempt. Input functions run once per job (tens of thousands at real scale): what they compute
# from the config alone is cached.
import functools
import glob
import os
import sys
from pathlib import Path

LIBRARY = Path(workflow.basedir) / "workflow_scripts"
# The workflow and its jobs (local, conda or SLURM) import the library of this checkout, never
# another installed copy.
sys.path.insert(0, str(LIBRARY))
# (Set, not required from the user: no `envvars:` directive.)
# Jobs use the same numpy and OpenBLAS kernels on every x86-64 CPU (egcalib.core.provenance): what a
# user set already is kept.
from egcalib.core.provenance import SAME_KERNELS_ON_EVERY_CPU  # noqa: E402
from egcalib.core.remote_files import (  # noqa: E402
    canonical_url,
    is_remote,
    list_directory,
    remote_glob,
    remote_identity,
)

for _name, _value in SAME_KERNELS_ON_EVERY_CPU.items():
    os.environ.setdefault(_name, _value)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        [str(LIBRARY)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
)


def _select_datasets():
    """config["datasets"] restricted to `selected_datasets` (the others are as if absent)."""
    chosen = config["selected_datasets"]
    if chosen == "all":
        return
    unknown = [d for d in chosen if d not in config["datasets"]]
    if unknown:
        raise ValueError(
            f"selected_datasets: unknown datasets {unknown}; "
            f"datasets has {list(config['datasets'])}"
        )
    config["datasets"] = {d: spec for d, spec in config["datasets"].items() if d in chosen}


CONFIGURED_DATASETS = dict(config["datasets"])  # before selected_datasets
_select_datasets()
DATASETS = list(config["datasets"])

from egcalib.core.model_specs import NETWORK_KINDS  # noqa: E402
from egcalib.core.rule_params import canonical, output_settings, selection_of  # noqa: E402


def settings(section):
    """Params from config[section]: canonical, without execution knobs (egcalib.core.rule_params)."""
    return output_settings(config, section)


def simulation_settings(validation=False):
    """The `simulation:` params of a rule: its `validation` block (the per-effect resolution
    study) only where the validation reads it, so a change there reruns the validation alone."""
    simulation = settings("simulation")
    if validation:
        return simulation
    return {key: value for key, value in simulation.items() if key != "validation"}


def dataset_spec(key):
    """An input function's value: the dataset's ``key`` (kind, process, ...)."""
    return lambda wildcards: config["datasets"][wildcards.dataset][key]


def per_attempt(base):
    """A resource (memory in MB, runtime in minutes) of ``base`` on the first attempt, scaled by
    the attempt number: a job retried by the profile (`retries:`) asks for more."""
    return lambda wildcards, attempt: base * attempt


def beside_one_core_job(wanted=None):
    """Threads a training job reserves: ``wanted`` (all of them when None) but at most all of a
    local run's --cores but one, so that a one-core job (an inference, an evaluation) runs
    beside it on a small machine instead of waiting for it or holding it back. What the job
    runs on does not change: TensorFlow uses every core it finds and LightGBM its fixed threads
    whatever is reserved. ``wanted`` or 2 where the executor sets no total (SLURM: the profile
    asks cpus_per_gpu for networks)."""

    def threads(wildcards):
        cores = workflow.global_resources["_cores"].value
        if cores is None:
            return wanted or 2
        return max(1, min(wanted or cores, cores - 1))

    return threads


# The images settings the simulation reads: the native window shapes, not the upsampling.
SIMULATION_IMAGES = canonical({"native_shapes": config["images"]["native_shapes"]})


def _models_of_kind(*kinds):
    from egcalib.core.model_specs import models_of_kind

    return models_of_kind(config["models"], config["model_defaults"], *kinds)


# Networks and BDT models write files of the same names (history, training plot, predictions):
# the {model} wildcard of each kind's rules matches only that kind's names. CNNs and
# transformers are both Keras networks: the same rules train, export and apply them.
NETWORK_MODELS = _models_of_kind(*NETWORK_KINDS)
BDT_MODELS = _models_of_kind("bdt")
NO_MATCH = "(?!)"  # a regular expression that matches nothing: a kind without models


def one_of(names):
    """A wildcard constraint matching exactly ``names``."""
    return "|".join(names) or NO_MATCH


wildcard_constraints:
    dataset=one_of(DATASETS),
    file=r"[^/]+",
    chunk=r"c\d+",


@functools.cache
def dataset_files(dataset):
    """File names ({file} wildcard values) of a dataset, in a stable order."""
    spec = config["datasets"][dataset]
    if spec["source"] == "simulate":
        return [f"f{i:03d}" for i in range(spec["n_files"])]
    return sorted(_external_files(dataset))


# Each remote directory listed once per planning (egcalib.core.remote_files).
_remote_directory = functools.cache(list_directory)


@functools.cache
def _external_files(dataset):
    files = {}
    for pattern in config["datasets"][dataset]["files"]:
        if is_remote(pattern):
            matches = remote_glob(pattern, dataset, _remote_directory) or [canonical_url(pattern)]
        else:
            matches = sorted(glob.glob(os.path.expanduser(pattern))) or [pattern]
        for path in matches:
            name = Path(path).name.removesuffix(".root")
            if name in files and files[name] != path:
                raise ValueError(f"dataset {dataset}: two input files named {name}.root")
            files[name] = path
    return files


def ntuple_file(dataset, file):
    """The ROOT file behind {dataset}/{file}: simulated or one of the configured paths."""
    if config["datasets"][dataset]["source"] == "simulate":
        return f"results/ntuples/{dataset}/{file}.root"
    return _external_files(dataset)[file]


def ntuple_path(wildcards):
    """Input function: the job's ntuple, or none for a remote one (read where it is; its
    identity param decides reruns)."""
    path = ntuple_file(wildcards.dataset, wildcards.file)
    return [] if is_remote(path) else path


# Each directory of the input paths resolved once per planning (not across plannings: a
# repointed symlink is seen by the next one).
_real_directory = functools.cache(os.path.realpath)


@functools.cache
def _ntuple_identity(dataset, file):
    if config["datasets"][dataset]["source"] == "simulate":
        return None
    from egcalib.core.file_identity import file_identity

    path = _external_files(dataset)[file]
    if is_remote(path):
        return remote_identity(path, dataset, _remote_directory)
    return file_identity(path, dataset, _real_directory)


def ntuple_identity(wildcards):
    """A param: the file behind a `source: files` path, {mtime_ns, path, size} with the real
    path (egcalib.core.file_identity), so a repointed symlink or a replaced or rewritten file reruns
    its skim even when older than the outputs. None for a simulated ntuple: it does not exist
    at planning, and the simulate rule's params decide its reruns."""
    return _ntuple_identity(wildcards.dataset, wildcards.file)


def datasets_of(kind=None, process=None, source=None):
    """Names of the datasets of ``kind``, ``process`` and ``source`` (None: any), in config
    order."""
    return [
        name
        for name, spec in config["datasets"].items()
        if (kind is None or spec["kind"] == kind)
        and (process is None or spec["process"] == process)
        and (source is None or spec["source"] == source)
    ]


def ntuples_of(kind, process, remote=False):
    """Input function: the local ntuple of every file of the datasets of ``kind`` and
    ``process``; with ``remote``, a param: the identities of their remote ones."""

    def ntuples(wildcards):
        return [
            _ntuple_identity(d, f) if remote else path
            for d in datasets_of(kind=kind, process=process)
            for f in dataset_files(d)
            if is_remote(path := ntuple_file(d, f)) == remote
        ]

    return ntuples


def dataset_selection(wildcards):
    """A param: the `selection:` cuts of the job's {dataset}'s own process (selection_of)."""
    return selection_of(config["selection"], config["datasets"][wildcards.dataset]["process"])


def code_version(script):
    """Hash of the library modules ``workflow_scripts/{script}.py`` runs: a param, so changing
    them reruns the rules of that script (Snakemake's code trigger sees only the script file)."""
    from egcalib.core import provenance

    return provenance.code_version(LIBRARY / f"{script}.py", LIBRARY)


def per_file(pattern, datasets=None):
    """``pattern`` with {dataset} and {file} expanded over every file of ``datasets``."""
    return [
        pattern.format(dataset=d, file=f)
        for d in (DATASETS if datasets is None else datasets)
        for f in dataset_files(d)
    ]


def dataset_inputs(pattern):
    """Input function: ``pattern`` over the files of the job's {dataset}."""
    return lambda wildcards: per_file(pattern, [wildcards.dataset])


@functools.cache
def model_spec(name):
    """A model's spec: its entry resolved over model_defaults, checked against the datasets."""
    from egcalib.core.model_specs import check_init_from, model_particle, resolve_model

    spec = resolve_model(name, config["models"][name], config["model_defaults"])
    model_particle(spec, config["datasets"])
    check_init_from(name, config["models"], config["model_defaults"])
    return spec


def selected_models():
    chosen = config["selected_models"]
    names = list(config["models"]) if chosen == "all" else chosen
    unknown = [m for m in names if m not in config["models"]]
    if unknown:
        raise ValueError(f"selected_models: unknown models {unknown}")
    return names


def initial_model(wildcards):
    """Input function: the model.keras of the job's {model}'s init_from (none without)."""
    source = model_spec(wildcards.model).get("init_from")
    return [f"results/models/{source}/model.keras"] if source else []


def spec_param(wildcards):
    """A param: the spec of the job's {model} (model_spec), canonical."""
    return canonical(model_spec(wildcards.model))


def training_files(pattern, kind=None):
    """Input function: ``pattern`` over the files of the datasets the job's {model} trains on,
    in per_file order; with ``kind`` ("mc" or "data") those of that kind only (possibly none):
    MC trains on the truth, data on the Z-mass labels."""

    def files(wildcards):
        datasets = model_spec(wildcards.model)["train_on"]
        if kind is not None:
            datasets = [d for d in datasets if config["datasets"][d]["kind"] == kind]
        return per_file(pattern, datasets)

    return files


def first_training_skim(wildcards):
    """Input function: the skim table of the first file the job's {model} trains on."""
    return training_files("results/skim/{dataset}/{file}.parquet")(wildcards)[0]


# Networks train longest: the files they read and their trainings start before the short jobs
# (validation, other datasets, evaluations), which then fill the cores while the last networks
# train, instead of leaving one idle at the end. Order only: no output depends on it.
TRAINING_PRIORITY = 2


@functools.cache
def _network_datasets():
    return {
        dataset
        for model in selected_models()
        if model in NETWORK_MODELS
        for dataset in model_spec(model)["train_on"]
    }


def chain_priority(wildcards):
    """Priority of a file's simulate -> skim -> shards chain: 1 where a selected network trains
    on its dataset, else 0 (TRAINING_PRIORITY says why)."""
    return int(wildcards.dataset in _network_datasets())


def particle_of(model):
    """What a model calibrates: "electron" or "photon" (the particle of its training datasets)."""
    from egcalib.core.model_specs import model_particle

    return model_particle(model_spec(model), config["datasets"])


def friend_models(dataset):
    """The selected models (networks and BDT controls) that calibrate ``dataset``'s particle:
    its friend tree's branches."""
    from egcalib.core.contract import PROCESS_PARTICLE

    particle = PROCESS_PARTICLE[config["datasets"][dataset]["process"]]
    return [m for m in selected_models() if particle_of(m) == particle]


def friend_files():
    """The friend trees of every input file of the datasets some selected model calibrates."""
    return per_file(
        "results/friends/{dataset}/{file}.root", [d for d in DATASETS if friend_models(d)]
    )


def trained_on(model):
    """Where the model's training targets come from: "mc", "data" or "mc+data"."""
    from egcalib.core.model_specs import trained_on

    return trained_on(model_spec(model), config["datasets"])


def inference_datasets(model):
    from egcalib.core.model_specs import evaluation_datasets

    return evaluation_datasets(model_spec(model), config["datasets"])


FILES_PER_INFERENCE = config["inference"]["files_per_job"]


@functools.cache
def inference_chunks(dataset):
    """{chunk: files} of a dataset, in file-name order (egcalib.core.chunks.file_chunks)."""
    from egcalib.core.chunks import file_chunks

    return file_chunks(dataset_files(dataset), FILES_PER_INFERENCE)


def chunk_inputs(pattern):
    """Input function: ``pattern`` over the files of the job's {dataset} and {chunk}."""
    return lambda wildcards: [
        pattern.format(dataset=wildcards.dataset, file=f)
        for f in inference_chunks(wildcards.dataset)[wildcards.chunk]
    ]


def duplicates_reports(datasets):
    """The `find_duplicates` reports of ``datasets``: the later copies of events that a consumer
    gathering those datasets leaves out (egcalib/skim/duplicates.py)."""
    return expand("results/skim/{dataset}.duplicates.csv", dataset=datasets)


def training_duplicates(wildcards):
    """Input function: the duplicates reports of the datasets the job's {model} trains on."""
    return duplicates_reports(model_spec(wildcards.model)["train_on"])


def evaluation_duplicates(wildcards):
    """Input function: the duplicates reports of the datasets the job's {model} is evaluated on."""
    return duplicates_reports(inference_datasets(wildcards.model))


def all_predictions(wildcards):
    return [
        f"results/predictions/{wildcards.model}/{d}/{c}.parquet"
        for d in inference_datasets(wildcards.model)
        for c in inference_chunks(d)
    ]


def _photon_id_datasets():
    """The datasets of the photon-identification stage (`photon_id`: its `datasets` and the
    radiative-Z pair), or none: the stage is off when `datasets` is empty or
    `selected_datasets` leaves one of them out. A name no dataset has is an error."""
    section = config["photon_id"]
    if not section["datasets"]:
        return []
    from egcalib.photon_id.candidates import stage_datasets

    names = stage_datasets(section, CONFIGURED_DATASETS)
    return names if set(names) <= set(DATASETS) else []


PHOTON_ID_DATASETS = _photon_id_datasets()


def photon_datasets(datasets):
    """``datasets`` but the jets: those whose candidates can be prompt photons."""
    return [d for d in datasets if CONFIGURED_DATASETS.get(d, {}).get("process") != "jets"]


def photon_id_files(datasets):
    """The photon-identification tables of ``datasets`` (rule photon_id_candidates)."""
    return expand("results/photon_id/candidates/{dataset}.parquet", dataset=datasets)


def all_outputs():
    outputs = []
    if datasets_of(source="simulate"):
        outputs += rules.validate_simulation.output
    outputs += expand("results/skim/{dataset}.cutflow.csv", dataset=DATASETS)
    outputs += per_file("results/shards/{dataset}/{file}.parquet")
    outputs += expand("results/eval/{model}/metrics.json", model=selected_models())
    # Every model's self-contained calibration (a BDT's from its LightGBM text model).
    outputs += expand("results/models/{model}/model.onnx", model=selected_models())
    outputs += rules.compare.output
    if PHOTON_ID_DATASETS:
        outputs += rules.evaluate_photon_id.output
        outputs += rules.export_photon_id_onnx.output
    return outputs
