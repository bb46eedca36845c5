# Inference: each model's predictions for the test split, one job per model, dataset and chunk
# of files (inference.files_per_job).


rule infer:
    input:
        model="results/models/{model}/model.keras",
        normalisation="results/models/{model}/normalisation.json",
        shards=chunk_inputs("results/shards/{dataset}/{file}.test.tfrecord"),
        sidecars=chunk_inputs("results/shards/{dataset}/{file}.parquet"),
    output:
        "results/predictions/{model}/{dataset}/{chunk}.parquet",
    log:
        "results/logs/infer/{model}/{dataset}/{chunk}.log",
    wildcard_constraints:
        model=one_of(NETWORK_MODELS),
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        images=settings("images"),
        shards=settings("shards"),
        batch_size=config["training"]["batch_size"],
        code=code_version("infer"),
    script:
        "../workflow_scripts/infer.py"


rule infer_bdt:
    input:
        model="results/models/{model}/model.txt",
        sidecars=chunk_inputs("results/shards/{dataset}/{file}.parquet"),
    output:
        "results/predictions/{model}/{dataset}/{chunk}.parquet",
    log:
        "results/logs/infer_bdt/{model}/{dataset}/{chunk}.log",
    wildcard_constraints:
        model=one_of(BDT_MODELS),
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
    params:
        code=code_version("infer_bdt"),
    script:
        "../workflow_scripts/infer_bdt.py"


# The exported calibrations on the input ntuples: a friend ROOT file per file, with one branch
# per selected model of the dataset's particle (el_e_<model> / ph_e_<model>). Not part of
# `all`: `snakemake friends`, or one file's path.
rule friend:
    input:
        ntuple=ntuple_path,
        models=lambda wildcards: [
            f"results/models/{m}/model.onnx" for m in friend_models(wildcards.dataset)
        ],
    output:
        "results/friends/{dataset}/{file}.root",
    log:
        "results/logs/friend/{dataset}/{file}.log",
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        ntuple=canonical(config["ntuple"]),
        input_file=ntuple_identity,
        code=code_version("friend"),
    script:
        "../workflow_scripts/friend.py"
