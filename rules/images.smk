# Images and shards: 56x55x4 upsampling, deterministic split, TFRecord + Parquet sidecar.


rule images:
    group:
        "per_file"
    conda:
        "../envs/analysis.yaml"
    input:
        "results/skim/{dataset}/{file}.parquet",
    output:
        train="results/shards/{dataset}/{file}.train.tfrecord",
        val="results/shards/{dataset}/{file}.val.tfrecord",
        test="results/shards/{dataset}/{file}.test.tfrecord",
        sidecar="results/shards/{dataset}/{file}.parquet",
    params:
        images=settings("images"),
        splits=settings("splits"),
        shards=settings("shards"),
        code=code_version("images"),
    log:
        "results/logs/images/{dataset}/{file}.log",
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    script:
        "../workflow_scripts/images.py"
