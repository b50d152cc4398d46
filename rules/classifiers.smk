# One rule per model (classify_<name>: the baseline, then every enabled classifier), each run
# per split x extractor x fold: fit on the training subjects, predict the test fold once, score
# it. fit_final_<name> fits the same model on every subject and saves it for auflow predict.

for model_name, model in MODELS.items():

    rule:
        name:
            f"classify_{model_name}"
        input:
            dataset="results/dataset/{extractor}.parquet",
            folds="results/folds/{split}.parquet",
            stack=stack_table(model_name),
            base_model=stacked_base_model(model_name),
        output:
            predictions=f"results/predictions/{{split}}/{{extractor}}/{model_name}/fold{{fold}}.parquet",
            metrics=f"results/metrics/{{split}}/{{extractor}}/{model_name}/fold{{fold}}.parquet",
            stack=stack_output(model_name),
            fold_model=(
                directory(
                    f"results/models/folds/{{split}}/{{extractor}}/{model_name}/fold{{fold}}"
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
            mem_mb=mem_mb_for_model(model_name),
            runtime=runtime_for_dataset,
        params:
            model=model_name,
            classifier=model["classifier"],
            classifier_params=model["params"],
            settings=model["settings"].as_dict(),
            extractor_params=get_extractor_params,
            face_size=FEATURES["face_size"],
            leaky=is_leaky,
            version=VERSION,
        script:
            "../workflow_scripts/classify.py"

    rule:
        name:
            f"fit_final_{model_name}"
        input:
            dataset="results/dataset/{extractor}.parquet",
            stack=stack_table(model_name, final=True),
            base_model=stacked_base_model(model_name, final=True),
        output:
            model=f"results/models/{{extractor}}/{model_name}/{model['model_file']}",
            manifest=f"results/models/{{extractor}}/{model_name}/manifest.json",
            stack=stack_output(model_name, final=True),
        log:
            f"logs/fit_final/{{extractor}}/{model_name}.log",
        benchmark:
            f"benchmarks/fit_final/{{extractor}}/{model_name}.tsv"
        conda:
            "../envs/learn.yaml"
        threads: LEARN_THREADS
        resources:
            mem_mb=mem_mb_for_model(model_name),
            runtime=runtime_for_dataset,
        params:
            model=model_name,
            classifier=model["classifier"],
            classifier_params=model["params"],
            settings=model["settings"].as_dict(),
            extractor_params=get_extractor_params,
            face_size=FEATURES["face_size"],
            version=VERSION,
        script:
            "../workflow_scripts/fit_final.py"
