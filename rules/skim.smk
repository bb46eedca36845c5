# Skim: selections, truth matching, data labels, scalars and tracks, one job per input file.


rule skim:
    input:
        ntuple_path,
    output:
        table="results/skim/{dataset}/{file}.parquet",
        cutflow="results/skim/{dataset}/{file}.cutflow.json",
        # The identities of the events read (first copies): the duplicates search reads them.
        events="results/skim/{dataset}/events/{file}.parquet",
    log:
        "results/logs/skim/{dataset}/{file}.log",
    priority: chain_priority
    group:
        "per_file"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=per_attempt(3000),
        runtime=per_attempt(30),
    params:
        kind=dataset_spec("kind"),
        process=dataset_spec("process"),
        ntuple=canonical(config["ntuple"]),
        # The cuts of the dataset's own process only; skim.step_size is an execution knob.
        selection=dataset_selection,
        native_shapes=canonical(config["images"]["native_shapes"]),
        # Which file the input path stands for (`source: files`): a repointed symlink or a
        # replaced file reruns the skim even when older than its outputs.
        input_file=ntuple_identity,
        duplicates=config["skim"]["duplicates"],
        code=code_version("skim"),
    script:
        "../workflow_scripts/skim.py"


rule find_duplicates:
    input:
        events=dataset_inputs("results/skim/{dataset}/events/{file}.parquet"),
        skims=dataset_inputs("results/skim/{dataset}/{file}.parquet"),
    output:
        "results/skim/{dataset}.duplicates.csv",
    log:
        "results/logs/find_duplicates/{dataset}.log",
    conda:
        "../envs/analysis.yaml"
    resources:
        # The identities of all the dataset's events, grouped in memory: 1.0 GB peak for 5.5M
        # events in 20 files (measured); raise it for larger datasets.
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        files=lambda wildcards: dataset_files(wildcards.dataset),
        mode=config["skim"]["duplicates"],
        code=code_version("find_duplicates"),
    script:
        "../workflow_scripts/find_duplicates.py"


rule merge_cutflows:
    input:
        cutflows=dataset_inputs("results/skim/{dataset}/{file}.cutflow.json"),
        duplicates="results/skim/{dataset}.duplicates.csv",
    output:
        csv=report(
            "results/skim/{dataset}.cutflow.csv",
            caption="../report/cutflow.rst",
            category="Cutflows",
        ),
        markdown="results/skim/{dataset}.cutflow.md",
    log:
        "results/logs/merge_cutflows/{dataset}.log",
    conda:
        "../envs/analysis.yaml"
    params:
        code=code_version("merge_cutflows"),
    script:
        "../workflow_scripts/merge_cutflows.py"
