# Stage 5: downstream vision tasks, generic over the task registry (codecbench.tasks). Each task trains one model
# per training variant (the train split as is, or compressed by a codec point) and evaluates every model on the
# test split as is and at every point of every codec that runs on its dataset. GPU-tagged: CUDA when present.
# One evaluation job per model: loading the model and the libraries once costs more than a small model's
# inference on all points, so finer jobs would mostly pay start-up (measured: 8 s per job, 2 s of work); a large
# sharded dataset gets one per (model, shard).


rule train_task:
    input:
        manifest=lambda wildcards: f"{RESULTS}/datasets/{config['tasks'][wildcards.task]['dataset']}/manifest.csv",
        decoded=get_train_variant_images,
    output:
        checkpoint=f"{RESULTS}/models/tasks/{{task}}/{{train_variant}}/checkpoint.pt",
        curve=f"{RESULTS}/models/tasks/{{task}}/{{train_variant}}/train.csv",
        info=f"{RESULTS}/models/tasks/{{task}}/{{train_variant}}/training.json",
    log:
        f"{RESULTS}/logs/train_task/{{task}}/{{train_variant}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_task/{{task}}/{{train_variant}}.tsv"
    # Training is the longest chain (train, then evaluate or compress, then the tables): start it first, so
    # that the short single-threaded jobs fill the cores around it instead of training running alone at the end.
    priority: 10
    conda:
        "../envs/learned.yaml"
    threads: model_threads(4)
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    params:
        settings=lambda wildcards: task_job_settings(config, wildcards.task),
    script:
        "../scripts/train_task.py"


rule evaluate_task:
    input:
        manifest=lambda wildcards: f"{RESULTS}/datasets/{config['tasks'][wildcards.task]['dataset']}/manifest.csv",
        checkpoint=get_task_checkpoint,
        points=lambda wildcards: get_task_test_files(wildcards.task),
    output:
        f"{RESULTS}/tasks/{{task}}/{{train_variant}}/predictions.csv",
    log:
        f"{RESULTS}/logs/evaluate_task/{{task}}/{{train_variant}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_task/{{task}}/{{train_variant}}.tsv"
    wildcard_constraints:
        task=UNSHARDED_TASKS,
    conda:
        "../envs/learned.yaml"
    threads: model_threads(2)
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        settings=lambda wildcards: task_job_settings(config, wildcards.task),
        points=lambda wildcards: get_task_test_points(wildcards.task),
        uncompressed=UNCOMPRESSED,
    script:
        "../scripts/evaluate_task.py"


# A task on a sharded dataset ('shards' or 'images_per_shard'): one evaluation job per (model, shard of the test
# images), merged into the predictions an unsharded job writes. Training stays one job per model.
rule evaluate_task_shard:
    input:
        manifest=lambda wildcards: f"{RESULTS}/datasets/{task_dataset(wildcards)}/manifest.csv",
        checkpoint=get_task_checkpoint,
        points=lambda wildcards: get_task_test_files(wildcards.task),
    output:
        temp(
            f"{RESULTS}/tasks/{{task}}/{{train_variant}}/shard-{{shard}}-of-{{shard_count}}.csv"
        ),
    log:
        f"{RESULTS}/logs/evaluate_task/{{task}}/{{train_variant}}/shard-{{shard}}-of-{{shard_count}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_task/{{task}}/{{train_variant}}/shard-{{shard}}-of-{{shard_count}}.tsv"
    wildcard_constraints:
        task=SHARDED_TASKS,
        shard=SHARD,
        shard_count=SHARD,
    conda:
        "../envs/learned.yaml"
    threads: model_threads(2)
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        settings=lambda wildcards: task_job_settings(config, wildcards.task),
        points=lambda wildcards: get_task_test_points(wildcards.task),
        uncompressed=UNCOMPRESSED,
        shard=shard_params,
    script:
        "../scripts/evaluate_task.py"


rule evaluate_task_merge:
    input:
        manifest=lambda wildcards: f"{RESULTS}/datasets/{task_dataset(wildcards)}/manifest.csv",
        shards=get_evaluation_shards,
    output:
        f"{RESULTS}/tasks/{{task}}/{{train_variant}}/predictions.csv",
    log:
        f"{RESULTS}/logs/evaluate_task/{{task}}/{{train_variant}}.log",
    wildcard_constraints:
        task=SHARDED_TASKS,
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/evaluate_task_merge.py"


rule task_tables:
    input:
        manifest=lambda wildcards: f"{RESULTS}/datasets/{config['tasks'][wildcards.task]['dataset']}/manifest.csv",
        evaluations=lambda wildcards: get_task_evaluations(wildcards.task),
        training=lambda wildcards: get_task_trainings(wildcards.task),
        train_rates=lambda wildcards: get_task_training_rates(wildcards.task),
    output:
        predictions=f"{RESULTS}/tables/tasks/{{task}}/predictions.csv",
        summary=report(
            f"{RESULTS}/tables/tasks/{{task}}/summary.csv",
            caption="../report/task_summary.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "table": "scores per point with CIs"},
        ),
        per_class=f"{RESULTS}/tables/tasks/{{task}}/per_class.csv",
        confusion=f"{RESULTS}/tables/tasks/{{task}}/confusion.csv",
        training_sets=report(
            f"{RESULTS}/tables/tasks/{{task}}/training_sets.csv",
            caption="../report/task_training_sets.rst",
            category="Tasks",
            subcategory="{task}",
            labels={
                "task": "{task}",
                "table": "training-set size against the headline score",
            },
        ),
        bd=report(
            f"{RESULTS}/tables/tasks/{{task}}/bd_rate.csv",
            caption="../report/task_bd.rst",
            category="Tasks",
            subcategory="{task}",
            labels={
                "task": "{task}",
                "table": "BD-rate on the task's per-image quality",
            },
        ),
    log:
        f"{RESULTS}/logs/task_tables/{{task}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/task_tables/{{task}}.tsv"
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        task=lambda wildcards: config["tasks"][wildcards.task]["task"],
        statistics=config["statistics"],
        bd=config["bd"],
        anchor=config["anchor"],
        train_variants=lambda wildcards: train_variants(config, wildcards.task),
    script:
        "../scripts/task_tables.py"


rule task_figures:
    input:
        manifest=lambda wildcards: f"{RESULTS}/datasets/{config['tasks'][wildcards.task]['dataset']}/manifest.csv",
        predictions=f"{RESULTS}/tables/tasks/{{task}}/predictions.csv",
        points=lambda wildcards: get_task_test_files(wildcards.task),
        summary=f"{RESULTS}/tables/tasks/{{task}}/summary.csv",
        per_class=f"{RESULTS}/tables/tasks/{{task}}/per_class.csv",
        training_sets=f"{RESULTS}/tables/tasks/{{task}}/training_sets.csv",
        bd=f"{RESULTS}/tables/tasks/{{task}}/bd_rate.csv",
    output:
        scores=report(
            f"{RESULTS}/figures/tasks/{{task}}/scores_bpp.png",
            caption="../report/task_scores.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "scores against rate"},
        ),
        heatmap=report(
            f"{RESULTS}/figures/tasks/{{task}}/train_test_accuracy.png",
            caption="../report/task_heatmap.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "train variant x test variant"},
        ),
        flips=report(
            f"{RESULTS}/figures/tasks/{{task}}/flips.png",
            caption="../report/task_flips.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "images improved / worsened"},
        ),
        per_class=report(
            f"{RESULTS}/figures/tasks/{{task}}/per_class.png",
            caption="../report/task_per_class.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "per-class change"},
        ),
        gallery=report(
            f"{RESULTS}/figures/tasks/{{task}}/gallery.png",
            caption="../report/task_gallery.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "examples improved / worsened"},
        ),
        training_sets=report(
            f"{RESULTS}/figures/tasks/{{task}}/training_sets.png",
            caption="../report/task_training_sets.rst",
            category="Tasks",
            subcategory="{task}",
            labels={
                "task": "{task}",
                "figure": "training-set size against the headline score",
            },
        ),
        svgs=multiext(
            f"{RESULTS}/figures/tasks/{{task}}/",
            "scores_bpp.svg",
            "train_test_accuracy.svg",
            "flips.svg",
            "per_class.svg",
            "training_sets.svg",
        ),
    log:
        f"{RESULTS}/logs/task_figures/{{task}}.log",
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        task=lambda wildcards: config["tasks"][wildcards.task]["task"],
        compressed=lambda wildcards: f"{RESULTS}/compressed/{config['tasks'][wildcards.task]['dataset']}",
        anchor=config["anchor"],
    script:
        "../scripts/task_figures.py"


# A task on a video dataset: its headline score against kbit/s (clip bytes over clip duration).
rule task_kbps_figure:
    input:
        manifest=lambda wildcards: f"{RESULTS}/datasets/{config['tasks'][wildcards.task]['dataset']}/manifest.csv",
        predictions=f"{RESULTS}/tables/tasks/{{task}}/predictions.csv",
        summary=f"{RESULTS}/tables/tasks/{{task}}/summary.csv",
    output:
        png=report(
            f"{RESULTS}/figures/tasks/{{task}}/scores_kbps.png",
            caption="../report/task_kbps.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "headline score against kbit/s"},
        ),
        svg=f"{RESULTS}/figures/tasks/{{task}}/scores_kbps.svg",
    log:
        f"{RESULTS}/logs/task_kbps_figure/{{task}}.log",
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        task=lambda wildcards: config["tasks"][wildcards.task]["task"],
    script:
        "../scripts/video_figures.py"
