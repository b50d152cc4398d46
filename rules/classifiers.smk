# One rule per model (classify_<name>: the baseline, then every enabled classifier), each run
# per split x extractor x fold: fit on the training subjects, predict the test fold once, score
# it. fit_final_<name> fits the same model on every subject and saves it for auflow predict.

for model_name, model in MODELS.items():

    rule:
        name:
            f"classify_{model_name}"
        input:
            dataset=layout.DATASET,
            folds=layout.FOLDS,
            stack=stack_table(model_name),
            base_model=stacked_base_model(model_name),
        output:
            predictions=layout.fold_table(
                "predictions", "{split}", "{extractor}", model_name, "{fold}"
            ),
            metrics=layout.fold_table(
                "metrics", "{split}", "{extractor}", model_name, "{fold}"
            ),
            stack=stack_output(model_name),
            fold_model=(
                directory(
                    layout.fold_model_dir(
                        "{split}", "{extractor}", model_name, "{fold}"
                    )
                )
                if SAVED["save_folds"]
                else []
            ),
        log:
            f"logs/classify/{{split}}/{{extractor}}/{model_name}/fold{{fold}}.log",
        benchmark:
            f"benchmarks/classify/{{split}}/{{extractor}}/{model_name}/fold{{fold}}.tsv"
        conda:
            "../envs/learn.yaml"
        threads: LEARN_THREADS
        resources:
            **model_resources(model_name),
        params:
            **model_params(model_name, leaky=is_leaky),
        script:
            "../workflow_scripts/classify.py"

    rule:
        name:
            f"fit_final_{model_name}"
        input:
            dataset=layout.DATASET,
            stack=stack_table(model_name, final=True),
            base_model=stacked_base_model(model_name, final=True),
        output:
            model=layout.model_file("{extractor}", model_name, model["model_file"]),
            manifest=layout.model_file("{extractor}", model_name, "manifest.json"),
            stack=stack_output(model_name, final=True),
        log:
            f"logs/fit_final/{{extractor}}/{model_name}.log",
        benchmark:
            f"benchmarks/fit_final/{{extractor}}/{model_name}.tsv"
        conda:
            "../envs/learn.yaml"
        threads: LEARN_THREADS
        resources:
            **model_resources(model_name),
        params:
            **model_params(model_name),
        script:
            "../workflow_scripts/fit_final.py"
