# egcalib: DeepCalo electron/photon energy regression, end to end.
# Stages live in rules/*.smk; physics and ML in workflow_scripts/egcalib (tested without Snakemake).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/skim.smk"
include: "rules/shards.smk"
include: "rules/train.smk"
include: "rules/infer.smk"
include: "rules/evaluate.smk"
include: "rules/photon_id.smk"


rule all:
    default_target: True
    input:
        all_outputs(),


# Friend trees of calibrated energies for every input file (rule `friend`): not part of `all`.
rule friends:
    input:
        friend_files(),
