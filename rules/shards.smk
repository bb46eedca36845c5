# Shards: 56x55x4 upsampling, deterministic split, TFRecord + Parquet sidecar.


rule shards:
    input:
        "results/skim/{dataset}/{file}.parquet",
    output:
        train="results/shards/{dataset}/{file}.train.tfrecord",
        val="results/shards/{dataset}/{file}.val.tfrecord",
        test="results/shards/{dataset}/{file}.test.tfrecord",
        sidecar="results/shards/{dataset}/{file}.parquet",
    log:
        "results/logs/shards/{dataset}/{file}.log",
    priority: chain_priority
    group:
        "per_file"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=per_attempt(3000),
        runtime=per_attempt(30),
    params:
        images=settings("images"),
        splits=settings("splits"),
        shards=settings("shards"),
        code=code_version("shards"),
    script:
        "../workflow_scripts/shards.py"
