# Training: normalisation from the training split, then one (GPU) job per model.

TRAIN_CODE = code_version("models", "model_config", "losses", "training", "pipeline", "normalisation", "images")


def model_config(name):
    """A model entry resolved over model_defaults, checked against the datasets."""
    from egcalib.model_config import resolve_model

    model = resolve_model(name, config["models"][name], config["model_defaults"])
    unknown = [d for d in model["train_on"] if d not in config["datasets"]]
    if unknown:
        raise ValueError(f"model {name}: train_on names unknown datasets {unknown}")
    return model


def selected_models():
    chosen = config["selected_models"]
    names = list(config["models"]) if chosen == "all" else chosen
    unknown = [m for m in names if m not in config["models"]]
    if unknown:
        raise ValueError(f"selected_models: unknown models {unknown}")
    return names


def training_skims(wildcards):
    return per_file("results/skim/{dataset}/{file}.parquet", model_config(wildcards.model)["train_on"])


def training_shards(split):
    def shards(wildcards):
        return per_file(f"results/shards/{{dataset}}/{{file}}.{split}.tfrecord",
                        model_config(wildcards.model)["train_on"])

    return shards


rule normalise:
    conda:
        "../envs/analysis.yaml"
    input:
        training_skims,
    output:
        "results/models/{model}/normalisation.json",
    params:
        splits=config["splits"],
        code=TRAIN_CODE,
    log:
        "results/logs/train/{model}.normalise.log",
    script:
        "../workflow_scripts/normalise.py"


rule train:
    conda:
        "../envs/train-gpu.yaml"
    input:
        train=training_shards("train"),
        val=training_shards("val"),
        normalisation="results/models/{model}/normalisation.json",
    output:
        model="results/models/{model}/model.keras",
        history="results/models/{model}/history.csv",
        plot=report(
            "results/models/{model}/training.png",
            caption="../report/training.rst",
            category="Training",
        ),
    params:
        model=lambda wildcards: model_config(wildcards.model),
        kinds=lambda wildcards: {d: config["datasets"][d]["kind"] for d in model_config(wildcards.model)["train_on"]},
        training=config["training"],
        images=config["images"],
        shards=config["shards"],
        work_dir=lambda wildcards: f"results/models/{wildcards.model}/work",
        code=TRAIN_CODE,
    log:
        "results/logs/train/{model}.log",
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=lambda wildcards, attempt: 240 * attempt,
    script:
        "../workflow_scripts/train.py"


def inference_datasets(model):
    """Electron models are evaluated on every electron dataset (Z -> ee and the gun)."""
    return [d for d, spec in config["datasets"].items() if spec["process"] in ("zee", "egun")]


def all_predictions(wildcards):
    return per_file(
        f"results/predictions/{wildcards.model}/{{dataset}}/{{file}}.parquet",
        inference_datasets(wildcards.model),
    )


rule infer:
    conda:
        "../envs/analysis.yaml"
    input:
        model="results/models/{model}/model.keras",
        normalisation="results/models/{model}/normalisation.json",
        shard="results/shards/{dataset}/{file}.test.tfrecord",
        sidecar="results/shards/{dataset}/{file}.parquet",
    output:
        "results/predictions/{model}/{dataset}/{file}.parquet",
    params:
        images=config["images"],
        shards=config["shards"],
        batch_size=config["training"]["batch_size"],
        code=code_version("inference", "pipeline", "models", "losses", "normalisation"),
    log:
        "results/logs/infer/{model}/{dataset}/{file}.log",
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    script:
        "../workflow_scripts/infer.py"


rule export_onnx:
    input:
        "results/models/{model}/model.keras",
    output:
        "results/models/{model}/model.onnx",
    params:
        tolerance=1e-4,
        code=code_version("export", "models", "losses"),
    log:
        "results/logs/train/{model}.onnx.log",
    conda:
        "../envs/train-gpu.yaml"
    script:
        "../workflow_scripts/export_onnx.py"
