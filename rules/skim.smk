# Skim: selections, truth matching, data labels, scalars and tracks, one job per input file.


rule skim:
    group:
        "per_file"
    conda:
        "../envs/analysis.yaml"
    input:
        ntuple_path,
    output:
        table="results/skim/{dataset}/{file}.parquet",
        cutflow="results/skim/{dataset}/{file}.cutflow.json",
    params:
        kind=dataset_spec("kind"),
        process=dataset_spec("process"),
        ntuple=canonical(config["ntuple"]),
        # The cuts of the dataset's own process only; skim.step_size is an execution knob.
        selection=lambda wildcards: selection_of(
            config["selection"], config["datasets"][wildcards.dataset]["process"]
        ),
        native_shapes=canonical(config["images"]["native_shapes"]),
        code=code_version("skim"),
    log:
        "results/logs/skim/{dataset}/{file}.log",
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    script:
        "../workflow_scripts/skim.py"


rule merge_cutflows:
    conda:
        "../envs/analysis.yaml"
    input:
        lambda wildcards: expand(
            "results/skim/{{dataset}}/{file}.cutflow.json",
            file=dataset_files(wildcards.dataset),
        ),
    output:
        csv=report(
            "results/skim/{dataset}.cutflow.csv",
            caption="../report/cutflow.rst",
            category="Cutflows",
        ),
        markdown="results/skim/{dataset}.cutflow.md",
    params:
        code=code_version("merge_cutflows"),
    log:
        "results/logs/skim/{dataset}.cutflow.log",
    script:
        "../workflow_scripts/merge_cutflows.py"
