# An Optuna study per extractor x model x fold, tuned on the fold's training subjects only; the
# best parameters are then fitted on all training subjects and predict the test fold once.
#
# With study.workers > 1, that many study_worker jobs add trials to the study's journal at once
# and the study job gathers them (adding any still missing); with 1 it runs every trial itself.
# The journal is kept outside the declared outputs, so an interrupted study keeps its finished
# trials and a re-run resumes from them, up to study.n_trials and never beyond.


rule study_worker:
    input:
        **study_inputs(),
    output:
        touch(layout.STUDY_WORKER_DONE),
    log:
        "logs/study/{split}/{extractor}/{model}/fold{fold}/worker{worker}.log",
    benchmark:
        "benchmarks/study/{split}/{extractor}/{model}/fold{fold}/worker{worker}.tsv"
    conda:
        "../envs/learn.yaml"
    threads: LEARN_THREADS
    resources:
        **STUDY_RESOURCES,
    params:
        study=study_params,
    script:
        "../workflow_scripts/study_worker.py"


rule study:
    input:
        **study_inputs(workers=study_workers),
    output:
        trials=study_file("trials.parquet"),
        best=study_file("best.json"),
        history=study_file("history.png"),
        importance=study_file("importance.png"),
        predictions=layout.fold_table(
            "predictions", "{split}", "{extractor}", "optuna_{model}", "{fold}"
        ),
        metrics=layout.fold_table(
            "metrics", "{split}", "{extractor}", "optuna_{model}", "{fold}"
        ),
    log:
        "logs/study/{split}/{extractor}/{model}/fold{fold}.log",
    benchmark:
        "benchmarks/study/{split}/{extractor}/{model}/fold{fold}.tsv"
    conda:
        "../envs/learn.yaml"
    threads: LEARN_THREADS
    resources:
        **STUDY_RESOURCES,
    params:
        study=study_params,
        leaky=is_leaky,
        version=VERSION,
    script:
        "../workflow_scripts/study.py"
