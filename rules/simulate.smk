# The embedded default input: the toy ATLAS-like calorimeter (DESIGN.md section 4).


rule calibrate_simulation:
    conda:
        "../envs/analysis.yaml"
    output:
        "results/simulation/baseline_calibration.json",
    params:
        simulation=lambda wildcards: config["simulation"],
        images=config["images"],
        code=code_version("calibrate_simulation"),
    log:
        "results/logs/simulation/calibrate.log",
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    script:
        "../workflow_scripts/calibrate_simulation.py"


rule simulate:
    conda:
        "../envs/analysis.yaml"
    input:
        calibration="results/simulation/baseline_calibration.json",
    output:
        "results/ntuples/{dataset}/{file}.root",
    params:
        # Only what shapes this file: adding files to the dataset must not rerun it.
        process=lambda wildcards: config["datasets"][wildcards.dataset]["process"],
        kind=lambda wildcards: config["datasets"][wildcards.dataset]["kind"],
        events=lambda wildcards: config["datasets"][wildcards.dataset]["events_per_file"],
        simulation=config["simulation"],
        images=config["images"],
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
        simulation=config["simulation"],
        images=config["images"],
        tree=config["ntuple"]["tree"],
        code=code_version("validate_simulation"),
    log:
        "results/logs/simulation/validate.log",
    script:
        "../workflow_scripts/validate_simulation.py"
