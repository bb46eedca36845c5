# Training: normalisation from the training split, then one (GPU) job per model.


rule normalise:
    conda:
        "../envs/analysis.yaml"
    input:
        training_skims,
    output:
        "results/models/{model}/normalisation.json",
    params:
        splits=config["splits"],
        code=code_version("normalise"),
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
        code=code_version("train"),
    log:
        "results/logs/train/{model}.log",
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=lambda wildcards, attempt: 240 * attempt,
    script:
        "../workflow_scripts/train.py"


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
        code=code_version("infer"),
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
        code=code_version("export_onnx"),
    log:
        "results/logs/train/{model}.onnx.log",
    conda:
        "../envs/train-gpu.yaml"
    script:
        "../workflow_scripts/export_onnx.py"
