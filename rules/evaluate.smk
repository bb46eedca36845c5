# Evaluation per model and the comparison of all models (docs/design.md#evaluation).


rule evaluate:
    input:
        predictions=all_predictions,
        duplicates=evaluation_duplicates,
    output:
        metrics="results/eval/{model}/metrics.json",
        differential=report(
            "results/eval/{model}/differential.csv",
            caption="../report/differential.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        zfits="results/eval/{model}/zfits.csv",
        closure_table="results/eval/{model}/closure.csv",
        closure=report(
            "results/eval/{model}/closure.png",
            caption="../report/closure.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        pulls_table="results/eval/{model}/pulls.csv",
        pulls=report(
            "results/eval/{model}/pulls.png",
            caption="../report/pulls.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        relative_error=report(
            "results/eval/{model}/relative_error.png",
            caption="../report/relative_error.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        et_2d=report(
            "results/eval/{model}/et_2d.png",
            caption="../report/et_2d.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        eiqr_vs_eta=report(
            "results/eval/{model}/eiqr_vs_eta.png",
            caption="../report/differential.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
        zfits_dir=report(
            directory("results/eval/{model}/zfits"),
            patterns=["{name}.png"],
            caption="../report/zfits.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
    log:
        "results/logs/evaluate/{model}.log",
    conda:
        "../envs/analysis.yaml"
    params:
        datasets=lambda wildcards: canonical(
            {d: config["datasets"][d] for d in inference_datasets(wildcards.model)}
        ),
        evaluation=settings("evaluation"),
        trained_on=lambda wildcards: trained_on(wildcards.model),
        code=code_version("evaluate"),
    script:
        "../workflow_scripts/evaluate.py"


rule compare:
    input:
        expand("results/eval/{model}/metrics.json", model=selected_models()),
    output:
        csv=report(
            "results/eval/ablation.csv", caption="../report/ablation.rst", category="Comparison"
        ),
        markdown="results/eval/ablation.md",
        png=report(
            "results/eval/ablation.png", caption="../report/ablation.rst", category="Comparison"
        ),
        summary=report(
            "results/eval/summary.md", caption="../report/ablation.rst", category="Comparison"
        ),
    log:
        "results/logs/compare.log",
    conda:
        "../envs/analysis.yaml"
    params:
        recommended=config["recommended_model"],
        code=code_version("compare"),
    script:
        "../workflow_scripts/compare.py"
