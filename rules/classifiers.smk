# One rule per enabled classifier (classify_<name>), each run per extractor x fold, then one
# scoring rule shared by every model's predictions (the classifiers' and the study's).

for classifier_name in CLASSIFIERS:

    rule:
        name:
            f"classify_{classifier_name}"
        input:
            dataset="results/dataset/{extractor}.parquet",
            folds="results/folds/{split}.parquet",
        output:
            predictions=f"results/predictions/{{split}}/{{extractor}}/{classifier_name}/fold{{fold}}.parquet",
        log:
            f"logs/classify/{{split}}/{{extractor}}/{classifier_name}/fold{{fold}}.log",
        benchmark:
            f"benchmarks/classify/{{split}}/{{extractor}}/{classifier_name}/fold{{fold}}.tsv"
        conda:
            "../envs/learn.yaml"
        threads: 2
        resources:
            mem_mb=mem_mb_for_dataset,
            runtime=120,
        params:
            classifier=classifier_name,
            classifier_params=classifier_params(classifier_name),
            target=EVALUATION["target"],
            threshold=config["occurrence_threshold"],
            normalise=FEATURES["normalise"],
            seed=EVALUATION["seed"],
            version=VERSION,
        script:
            "../workflow_scripts/classify.py"


rule score:
    input:
        predictions="results/predictions/{split}/{extractor}/{classifier}/fold{fold}.parquet",
        dataset="results/dataset/{extractor}.parquet",
    output:
        metrics="results/metrics/{split}/{extractor}/{classifier}/fold{fold}.parquet",
    log:
        "logs/score/{split}/{extractor}/{classifier}/fold{fold}.log",
    conda:
        "../envs/learn.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_dataset,
        runtime=10,
    params:
        aus=config["aus"],
        threshold=config["occurrence_threshold"],
        leaky=LEAKY,
        version=VERSION,
    script:
        "../workflow_scripts/score.py"
