# The embedded default input: the toy ATLAS-like calorimeter (docs/design.md section 4).


rule calibrate_simulation:
    conda:
        "../envs/analysis.yaml"
    output:
        "results/simulation/baseline_calibration.json",
    params:
        simulation=settings("simulation"),
        images=canonical({"native_shapes": config["images"]["native_shapes"]}),
        code=code_version("calibrate_simulation"),
    log:
        "results/logs/simulation/calibrate.log",
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    script:
        "../workflow_scripts/calibrate_simulation.py"


rule simulate:
    # One file's simulate -> skim -> images chain; the SLURM profile bundles such chains
    # (group-components) into one job each.
    group:
        "per_file"
    conda:
        "../envs/analysis.yaml"
    input:
        calibration="results/simulation/baseline_calibration.json",
    output:
        "results/ntuples/{dataset}/{file}.root",
    params:
        # Only what shapes this file: adding files to the dataset must not rerun it.
        process=dataset_spec("process"),
        kind=dataset_spec("kind"),
        events=dataset_spec("events_per_file"),
        simulation=settings("simulation"),
        images=canonical({"native_shapes": config["images"]["native_shapes"]}),
        tree=config["ntuple"]["tree"],
        code=code_version("simulate"),
    log:
        "results/logs/simulation/{dataset}/{file}.log",
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    script:
        "../workflow_scripts/simulate.py"


rule validate_simulation:
    conda:
        "../envs/analysis.yaml"
    input:
        egun=lambda wildcards: expand_ntuples(datasets_of(kind="mc", process="egun")),
        mc_zee=lambda wildcards: expand_ntuples(datasets_of(kind="mc", process="zee")),
        data_zee=lambda wildcards: expand_ntuples(datasets_of(kind="data", process="zee")),
    output:
        summary=report(
            "results/simulation/validation.json",
            caption="../report/simulation_validation.rst",
            category="Simulation validation",
        ),
        plots=report(
            directory("results/simulation/plots"),
            patterns=["{name}.png"],
            caption="../report/simulation_validation.rst",
            category="Simulation validation",
        ),
    params:
        simulation=settings("simulation"),
        images=canonical({"native_shapes": config["images"]["native_shapes"]}),
        tree=config["ntuple"]["tree"],
        code=code_version("validate_simulation"),
    log:
        "results/logs/simulation/validate.log",
    script:
        "../workflow_scripts/validate_simulation.py"
