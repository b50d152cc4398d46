# An Optuna study per extractor x model x fold, tuned on the fold's training subjects only; the
# best parameters are then fitted on all training subjects and predict the test fold once.
#
# With study.workers > 1, that many study_worker jobs add trials to the study's journal at once
# and the study job gathers them (adding any still missing); with 1 it runs every trial itself.
# The journal is kept outside the declared outputs, so an interrupted study keeps its finished
# trials and a re-run resumes from them, up to study.n_trials and never beyond.


rule study_worker:
    input:
        dataset="results/dataset/{extractor}.parquet",
        folds="results/folds/{split}.parquet",
        stack=get_study_stack,
    output:
        touch(
            "results/study/{split}/{extractor}/{model}/fold{fold}/workers/{worker}.done"
        ),
    log:
        "logs/study/{split}/{extractor}/{model}/fold{fold}/worker{worker}.log",
    benchmark:
        "benchmarks/study/{split}/{extractor}/{model}/fold{fold}/worker{worker}.tsv"
    conda:
        "../envs/learn.yaml"
    threads: LEARN_THREADS
    resources:
        mem_mb=mem_mb_for_study,
        runtime=runtime_for_study,
    params:
        study=study_params,
    script:
        "../workflow_scripts/study_worker.py"


rule study:
    input:
        dataset="results/dataset/{extractor}.parquet",
        folds="results/folds/{split}.parquet",
        stack=get_study_stack,
        workers=study_workers,
    output:
        trials="results/study/{split}/{extractor}/{model}/fold{fold}/trials.parquet",
        best="results/study/{split}/{extractor}/{model}/fold{fold}/best.json",
        history="results/study/{split}/{extractor}/{model}/fold{fold}/history.png",
        importance="results/study/{split}/{extractor}/{model}/fold{fold}/importance.png",
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
        runtime=runtime_for_study,
    params:
        study=study_params,
        leaky=is_leaky,
        version=VERSION,
    script:
        "../workflow_scripts/study.py"
