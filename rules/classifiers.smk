# One rule per enabled classifier (classify_<name>), each run per split x extractor x fold:
# fit on the training subjects, predict the test fold once, score the predictions.

for classifier_name in CLASSIFIERS:

    rule:
        name:
            f"classify_{classifier_name}"
        input:
            dataset="results/dataset/{extractor}.parquet",
            folds="results/folds/{split}.parquet",
        output:
            predictions=f"results/predictions/{{split}}/{{extractor}}/{classifier_name}/fold{{fold}}.parquet",
            metrics=f"results/metrics/{{split}}/{{extractor}}/{classifier_name}/fold{{fold}}.parquet",
        log:
            f"logs/classify/{{split}}/{{extractor}}/{classifier_name}/fold{{fold}}.log",
        benchmark:
            f"benchmarks/classify/{{split}}/{{extractor}}/{classifier_name}/fold{{fold}}.tsv"
        conda:
            "../envs/learn.yaml"
        threads: LEARN_THREADS
        resources:
            mem_mb=mem_mb_for_dataset,
            runtime=120,
        params:
            classifier=classifier_name,
            classifier_params=classifier_params(classifier_name),
            target=EVALUATION["target"],
            threshold=config["occurrence_threshold"],
            normalise=FEATURES["normalise"],
            tune_threshold=EVALUATION["tune_threshold"],
            seed=EVALUATION["seed"],
            aus=config["aus"],
            leaky=is_leaky,
            version=VERSION,
        script:
            "../workflow_scripts/classify.py"
