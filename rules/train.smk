# Training: normalisation from the training split, then one (GPU) job per CNN model; BDT
# control models train on the sidecars' scalars in one CPU job each.


rule normalise:
    wildcard_constraints:
        model=one_of(CNN_MODELS),
    conda:
        "../envs/analysis.yaml"
    input:
        training_skims,
    output:
        "results/models/{model}/normalisation.json",
    params:
        splits=settings("splits"),
        code=code_version("normalise"),
    log:
        "results/logs/train/{model}.normalise.log",
    script:
        "../workflow_scripts/normalise.py"


rule train:
    wildcard_constraints:
        model=one_of(CNN_MODELS),
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
        model=lambda wildcards: canonical(model_config(wildcards.model)),
        kinds=training_kinds,
        training=settings("training"),
        images=settings("images"),
        shards=settings("shards"),
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
    wildcard_constraints:
        model=one_of(CNN_MODELS),
    conda:
        "../envs/analysis.yaml"
    input:
        model="results/models/{model}/model.keras",
        normalisation="results/models/{model}/normalisation.json",
        shards=chunk_inputs("results/shards/{dataset}/{file}.test.tfrecord"),
        sidecars=chunk_inputs("results/shards/{dataset}/{file}.parquet"),
    output:
        "results/predictions/{model}/{dataset}/{chunk}.parquet",
    params:
        images=settings("images"),
        shards=settings("shards"),
        batch_size=config["training"]["batch_size"],
        code=code_version("infer"),
    log:
        "results/logs/infer/{model}/{dataset}/{chunk}.log",
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    script:
        "../workflow_scripts/infer.py"


rule export_onnx:
    wildcard_constraints:
        model=one_of(CNN_MODELS),
    input:
        model="results/models/{model}/model.keras",
        normalisation="results/models/{model}/normalisation.json",
        # Real objects to compare ONNX and Keras on: the first validation shard.
        shard=lambda wildcards: training_shards("val")(wildcards)[0],
    output:
        "results/models/{model}/model.onnx",
    params:
        tolerance=1e-4,
        images=settings("images"),
        shards=settings("shards"),
        code=code_version("export_onnx"),
    log:
        "results/logs/train/{model}.onnx.log",
    conda:
        "../envs/train-gpu.yaml"
    script:
        "../workflow_scripts/export_onnx.py"


rule train_bdt:
    wildcard_constraints:
        model=one_of(BDT_MODELS),
    conda:
        "../envs/analysis.yaml"
    input:
        sidecars=training_sidecars,
    output:
        model="results/models/{model}/model.txt",
        history="results/models/{model}/history.csv",
        plot=report(
            "results/models/{model}/training.png",
            caption="../report/training.rst",
            category="Training",
        ),
    # The splits are in the sidecars (an input): a change of splits reaches the BDT through them.
    params:
        model=lambda wildcards: canonical(model_config(wildcards.model)),
        kinds=training_kinds,
        seed=config["training"]["seed"],
        source_weights=canonical(config["training"]["source_weights"]),
        code=code_version("train_bdt"),
    log:
        "results/logs/train/{model}.log",
    threads: 2  # bdt.NUM_THREADS: fixed, so the model does not depend on the machine
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    script:
        "../workflow_scripts/train_bdt.py"


rule infer_bdt:
    wildcard_constraints:
        model=one_of(BDT_MODELS),
    conda:
        "../envs/analysis.yaml"
    input:
        model="results/models/{model}/model.txt",
        sidecars=chunk_inputs("results/shards/{dataset}/{file}.parquet"),
    output:
        "results/predictions/{model}/{dataset}/{chunk}.parquet",
    params:
        code=code_version("infer_bdt"),
    log:
        "results/logs/infer/{model}/{dataset}/{chunk}.log",
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    script:
        "../workflow_scripts/infer_bdt.py"
