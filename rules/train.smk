# Training: normalisation from the training split, then one (GPU) job per network (CNN or
# transformer); BDT control models train on the sidecars' scalars in one CPU job each. Each model
# is exported as a self-contained ONNX calibration (raw ntuple inputs in, GeV out).


rule normalise:
    input:
        skims=training_files("results/skim/{dataset}/{file}.parquet"),
        # The later copies of repeated events, left out (egcalib/skim/duplicates.py).
        duplicates=training_duplicates,
    output:
        "results/models/{model}/normalisation.json",
    log:
        "results/logs/normalise/{model}.log",
    wildcard_constraints:
        model=one_of(NETWORK_MODELS),
    priority: TRAINING_PRIORITY
    conda:
        "../envs/analysis.yaml"
    params:
        splits=settings("splits"),
        code=code_version("normalise"),
    script:
        "../workflow_scripts/normalise.py"


rule train:
    input:
        # By the kind of their dataset: MC trains on the truth, data on the Z-mass labels.
        train_mc=training_files("results/shards/{dataset}/{file}.train.tfrecord", "mc"),
        train_data=training_files("results/shards/{dataset}/{file}.train.tfrecord", "data"),
        val_mc=training_files("results/shards/{dataset}/{file}.val.tfrecord", "mc"),
        val_data=training_files("results/shards/{dataset}/{file}.val.tfrecord", "data"),
        # Their sidecars: the training objects' weights, checked and summarised before training.
        sidecars_mc=training_files("results/shards/{dataset}/{file}.parquet", "mc"),
        sidecars_data=training_files("results/shards/{dataset}/{file}.parquet", "data"),
        duplicates=training_duplicates,
        normalisation="results/models/{model}/normalisation.json",
        # The trained model whose weights it starts from (the spec's init_from), if any.
        init=initial_model,
    output:
        model="results/models/{model}/model.keras",
        history="results/models/{model}/history.csv",
        plot=report(
            "results/models/{model}/training.png",
            caption="../report/training.rst",
            category="Training",
        ),
    log:
        "results/logs/train/{model}.log",
    wildcard_constraints:
        model=one_of(NETWORK_MODELS),
    priority: TRAINING_PRIORITY
    conda:
        "../envs/train-gpu.yaml"
    threads: beside_one_core_job()
    resources:
        gpu=1,
        mem_mb=per_attempt(8000),
        runtime=per_attempt(240),
    params:
        spec=spec_param,
        training=settings("training"),
        images=settings("images"),
        shards=settings("shards"),
        work_dir=lambda wildcards: f"results/models/{wildcards.model}/work",
        # Where the shards of a file are: the records of repeated events to skip.
        shard_pattern=lambda wildcards: "results/shards/{dataset}/{file}.{split}.tfrecord",
        code=code_version("train"),
    script:
        "../workflow_scripts/train.py"


rule export_onnx:
    input:
        model="results/models/{model}/model.keras",
        normalisation="results/models/{model}/normalisation.json",
        # Real objects to compare ONNX and Keras on, raw as an ntuple holds them: the
        # validation objects of the first skim table the model trains on.
        skim=first_training_skim,
    output:
        "results/models/{model}/model.onnx",
    log:
        "results/logs/export_onnx/{model}.log",
    wildcard_constraints:
        model=one_of(NETWORK_MODELS),
    conda:
        "../envs/train-gpu.yaml"
    params:
        tolerance=1e-4,
        images=settings("images"),
        splits=settings("splits"),
        spec=spec_param,
        particle=lambda wildcards: particle_of(wildcards.model),
        code=code_version("export_onnx"),
    script:
        "../workflow_scripts/export_onnx.py"


rule train_bdt:
    input:
        # By the kind of their dataset: MC trains on the truth, data on the Z-mass labels.
        sidecars_mc=training_files("results/shards/{dataset}/{file}.parquet", "mc"),
        sidecars_data=training_files("results/shards/{dataset}/{file}.parquet", "data"),
        duplicates=training_duplicates,
    output:
        model="results/models/{model}/model.txt",
        history="results/models/{model}/history.csv",
        plot=report(
            "results/models/{model}/training.png",
            caption="../report/training.rst",
            category="Training",
        ),
    log:
        "results/logs/train_bdt/{model}.log",
    wildcard_constraints:
        model=one_of(BDT_MODELS),
    # Trained early, so that its evaluation runs beside the networks' trainings.
    priority: 1
    conda:
        "../envs/analysis.yaml"
    # LightGBM runs bdt.NUM_THREADS (2) whatever is reserved: the model does not depend on the
    # machine.
    threads: beside_one_core_job(2)
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    # The splits are in the sidecars (an input): a change of splits reaches the BDT through them.
    params:
        spec=spec_param,
        seed=config["training"]["seed"],
        source_weights=canonical(config["training"]["source_weights"]),
        # The policy for negative MC weights, the CNNs' too (egcalib/train/weights.py).
        negative_weights=config["training"]["negative_weights"],
        code=code_version("train_bdt"),
    script:
        "../workflow_scripts/train_bdt.py"


rule export_onnx_bdt:
    input:
        model="results/models/{model}/model.txt",
        # Real objects to compare ONNX and LightGBM on: the validation objects of the sidecars
        # the model trains on.
        sidecars=training_files("results/shards/{dataset}/{file}.parquet"),
    output:
        "results/models/{model}/model.onnx",
    log:
        "results/logs/export_onnx_bdt/{model}.log",
    wildcard_constraints:
        model=one_of(BDT_MODELS),
    conda:
        "../envs/analysis.yaml"
    params:
        # Of E_acc: float32 sums of the leaves stay near 1e-6 (egcalib/bdt/calibration_onnx.py).
        tolerance=1e-5,
        # The windows the scalars were computed from, recorded for egcalib.apply.
        native_shapes=canonical(config["images"]["native_shapes"]),
        spec=spec_param,
        particle=lambda wildcards: particle_of(wildcards.model),
        code=code_version("export_onnx_bdt"),
    script:
        "../workflow_scripts/export_onnx_bdt.py"
