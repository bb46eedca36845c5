# The embedded default input: the toy ATLAS-like calorimeter (docs/design.md#the-embedded-default).


rule derive_baseline_calibration:
    output:
        "results/simulation/baseline_calibration.json",
    log:
        "results/logs/derive_baseline_calibration.log",
    conda:
        "../envs/analysis.yaml"
    # Electrons and photons derived side by side (the same tables with any thread count).
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        simulation=simulation_settings(),
        images=SIMULATION_IMAGES,
        code=code_version("derive_baseline_calibration"),
    script:
        "../workflow_scripts/derive_baseline_calibration.py"


rule simulate:
    input:
        calibration="results/simulation/baseline_calibration.json",
    output:
        "results/ntuples/{dataset}/{file}.root",
    log:
        "results/logs/simulate/{dataset}/{file}.log",
    priority: chain_priority
    # One file's simulate -> skim -> shards chain; the SLURM profile bundles such chains
    # (group-components) into one job each.
    group:
        "per_file"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
    params:
        # Only what shapes this file: adding files to the dataset must not rerun it.
        process=dataset_spec("process"),
        kind=dataset_spec("kind"),
        events=dataset_spec("events_per_file"),
        simulation=simulation_settings(),
        images=SIMULATION_IMAGES,
        tree=config["ntuple"]["tree"],
        code=code_version("simulate"),
    script:
        "../workflow_scripts/simulate.py"


rule validate_simulation:
    input:
        egun=ntuples_of("mc", "egun"),
        mc_zee=ntuples_of("mc", "zee"),
        data_zee=ntuples_of("data", "zee"),
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
    log:
        "results/logs/validate_simulation.log",
    conda:
        "../envs/analysis.yaml"
    params:
        # Remote ntuples (XRootD) are read where they are; their identities decide reruns.
        remote_egun=ntuples_of("mc", "egun", remote=True),
        remote_mc_zee=ntuples_of("mc", "zee", remote=True),
        remote_data_zee=ntuples_of("data", "zee", remote=True),
        simulation=simulation_settings(validation=True),
        images=SIMULATION_IMAGES,
        tree=config["ntuple"]["tree"],
        insitu_eta_edges=config["evaluation"]["insitu_eta_edges"],
        code=code_version("validate_simulation"),
    script:
        "../workflow_scripts/validate_simulation.py"
