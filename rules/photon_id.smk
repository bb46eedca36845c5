# Photon identification (docs/photon-id.md): prompt photons against the jets that fake them,
# from the same cells: ATLAS's cut-based menus re-tuned, a shower-shape BDT, a CNN on the layer
# windows (seeds 003 and 004), their evaluation.


rule photon_id_candidates:
    input:
        skims=dataset_inputs("results/skim/{dataset}/{file}.parquet"),
        duplicates="results/skim/{dataset}.duplicates.csv",
    output:
        "results/photon_id/candidates/{dataset}.parquet",
    log:
        "results/logs/photon_id_candidates/{dataset}.log",
    wildcard_constraints:
        dataset=one_of(PHOTON_ID_DATASETS),
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=per_attempt(3000),
        runtime=per_attempt(30),
    params:
        kind=dataset_spec("kind"),
        native_shapes=canonical(config["images"]["native_shapes"]),
        splits=canonical(config["splits"]),
        code=code_version("photon_id_candidates"),
    script:
        "../workflow_scripts/photon_id_candidates.py"


rule tune_photon_id_menus:
    input:
        # The menus are tuned on prompt photons alone: jets hold none.
        photon_id_files(photon_datasets(config["photon_id"]["datasets"])),
    output:
        "results/photon_id/menus.yaml",
    log:
        "results/logs/tune_photon_id_menus.log",
    conda:
        "../envs/analysis.yaml"
    params:
        menus=canonical(config["photon_id"]["menus"]),
        code=code_version("tune_photon_id_menus"),
    script:
        "../workflow_scripts/tune_photon_id_menus.py"


rule train_photon_id_bdt:
    input:
        photon_id_files(config["photon_id"]["datasets"]),
    output:
        model="results/photon_id/bdt/model.txt",
    log:
        "results/logs/train_photon_id_bdt.log",
    conda:
        "../envs/analysis.yaml"
    threads: beside_one_core_job(2)  # LightGBM runs bdt.NUM_THREADS (2) whatever is reserved
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        bdt=canonical(config["photon_id"]["bdt"]),
        seed=config["training"]["seed"],
        code=code_version("train_photon_id_bdt"),
    script:
        "../workflow_scripts/train_photon_id_bdt.py"


rule train_photon_id_cnn:
    input:
        photon_id_files(config["photon_id"]["datasets"]),
    output:
        model="results/photon_id/cnn/model.keras",
        history="results/photon_id/cnn/history.csv",
    log:
        "results/logs/train_photon_id_cnn.log",
    priority: TRAINING_PRIORITY
    conda:
        "../envs/train-gpu.yaml"
    threads: beside_one_core_job()
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
    params:
        cnn=canonical(config["photon_id"]["cnn"]),
        native_shapes=canonical(config["images"]["native_shapes"]),
        seed=config["training"]["seed"],
        code=code_version("train_photon_id_cnn"),
    script:
        "../workflow_scripts/train_photon_id_cnn.py"


rule export_photon_id_onnx:
    input:
        model="results/photon_id/cnn/model.keras",
        # Real candidates to compare ONNX and Keras on: the validation split's.
        candidates=photon_id_files(config["photon_id"]["datasets"]),
    output:
        "results/photon_id/cnn/model.onnx",
    log:
        "results/logs/export_photon_id_onnx.log",
    conda:
        "../envs/train-gpu.yaml"
    params:
        # Of the probability: float32 convolutions agree to ~1e-6.
        tolerance=1e-5,
        cnn=canonical(config["photon_id"]["cnn"]),
        native_shapes=canonical(config["images"]["native_shapes"]),
        code=code_version("export_photon_id_onnx"),
    script:
        "../workflow_scripts/export_photon_id_onnx.py"


rule evaluate_photon_id:
    input:
        candidates=photon_id_files(config["photon_id"]["datasets"]),
        radiative_z_data=photon_id_files([config["photon_id"]["radiative_z"]["data"]]),
        radiative_z_mc=photon_id_files([config["photon_id"]["radiative_z"]["mc"]]),
        menus="results/photon_id/menus.yaml",
        bdt="results/photon_id/bdt/model.txt",
        cnn="results/photon_id/cnn/model.onnx",
    output:
        working_points="results/photon_id/evaluation/working_points.csv",
        radiative_z="results/photon_id/evaluation/radiative_z.csv",
        metrics="results/photon_id/evaluation/metrics.json",
        roc=report(
            "results/photon_id/evaluation/roc.png",
            caption="../report/photon_id_roc.rst",
            category="Photon identification",
        ),
        efficiency_et=report(
            "results/photon_id/evaluation/efficiency_et.png",
            caption="../report/photon_id_efficiency_et.rst",
            category="Photon identification",
        ),
        efficiency_abs_eta=report(
            "results/photon_id/evaluation/efficiency_abs_eta.png",
            caption="../report/photon_id_efficiency_abs_eta.rst",
            category="Photon identification",
        ),
        efficiency_mu=report(
            "results/photon_id/evaluation/efficiency_mu.png",
            caption="../report/photon_id_efficiency_mu.rst",
            category="Photon identification",
        ),
    log:
        "results/logs/evaluate_photon_id.log",
    conda:
        "../envs/analysis.yaml"
    params:
        binning=canonical(config["photon_id"]["binning"]),
        native_shapes=canonical(config["images"]["native_shapes"]),
        code=code_version("evaluate_photon_id"),
    script:
        "../workflow_scripts/evaluate_photon_id.py"
