# An Optuna study per extractor x fold, tuned on the fold's training subjects only; the best
# parameters are then fitted on all training subjects and predict the test fold once.


rule study:
    input:
        dataset="results/dataset/{extractor}.parquet",
        folds="results/folds/{split}.parquet",
    output:
        trials="results/study/{split}/{extractor}/{model}/fold{fold}/trials.parquet",
        best="results/study/{split}/{extractor}/{model}/fold{fold}/best.json",
        predictions="results/predictions/{split}/{extractor}/optuna_{model}/fold{fold}.parquet",
        metrics="results/metrics/{split}/{extractor}/optuna_{model}/fold{fold}.parquet",
    log:
        "logs/study/{split}/{extractor}/{model}/fold{fold}.log",
    benchmark:
        "benchmarks/study/{split}/{extractor}/{model}/fold{fold}.tsv"
    conda:
        "../envs/learn.yaml"
    threads: LEARN_THREADS
    resources:
        mem_mb=mem_mb_for_study,
        runtime=240,
    params:
        # The journal is kept outside the declared outputs, so a failed or interrupted study
        # keeps its finished trials and a re-run resumes from them.
        journal="results/study/{split}/{extractor}/{model}/fold{fold}/journal.log",
        n_trials=STUDY["n_trials"],
        base_params=get_study_params,
        timeout=STUDY["timeout"],
        settings=SETTINGS.as_dict(),
        leaky=is_leaky,
        version=VERSION,
    script:
        "../workflow_scripts/study.py"
