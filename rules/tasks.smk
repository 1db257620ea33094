# Stage 5: downstream vision tasks, generic over the task registry (codecbench.tasks). Each task trains one model
# per training variant (the train split as is, or compressed by a codec point) and evaluates every model on the
# test split as is and at every point of every codec that runs on its dataset. GPU-tagged: CUDA when present.
# One evaluation job per model: loading the model and the libraries once costs more than a small model's
# inference on all points, so finer jobs would mostly pay start-up (measured: 8 s per job, 2 s of work); a large
# sharded dataset gets one per (model, shard).


rule train_task:
    input:
        manifest=task_manifest,
        rates=get_train_variant_rates,
    output:
        checkpoint=f"{layout.task_model_dir()}/checkpoint.pt",
        curve=f"{layout.task_model_dir()}/train.csv",
        info=f"{layout.task_model_dir()}/training.json",
    log:
        layout.log("train_task", "{task}/{train_variant}"),
    benchmark:
        layout.benchmark("train_task", "{task}/{train_variant}")
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
        plugin_code=get_task_plugin_code,
        # The compressed train split's point and how to read its pixels (None: the original train split).
        reading=get_train_variant_reading,
    script:
        "../scripts/train_task.py"


rule evaluate_task:
    input:
        manifest=task_manifest,
        checkpoint=get_task_checkpoint,
        # The ladder rate rows of each codec of the task, in params readings order.
        rates=get_task_rates,
    output:
        layout.task_predictions(),
    log:
        layout.log("evaluate_task", "{task}/{train_variant}"),
    benchmark:
        layout.benchmark("evaluate_task", "{task}/{train_variant}")
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
        plugin_code=get_task_plugin_code,
        points=lambda wildcards: get_task_test_points(wildcards.task),
        uncompressed=UNCOMPRESSED,
        readings=get_task_readings,
        dataset=task_dataset,
        shard=None,
    script:
        "../scripts/evaluate_task.py"


# A task on a sharded dataset ('shards' or 'images_per_shard'): one evaluation job per (model, shard of the test
# images), merged into the predictions an unsharded job writes. Training stays one job per model.
use rule evaluate_task as evaluate_task_shard with:
    output:
        temp(layout.task_predictions_shard()),
    log:
        layout.log("evaluate_task", layout.shard_job_name("{task}/{train_variant}")),
    benchmark:
        layout.benchmark(
            "evaluate_task", layout.shard_job_name("{task}/{train_variant}")
        )
    wildcard_constraints:
        task=SHARDED_TASKS,
        shard=SHARD,
        shard_count=SHARD,
    params:
        shard=shard_params,


rule evaluate_task_merge:
    input:
        manifest=task_manifest,
        shards=get_evaluation_shards,
    output:
        layout.task_predictions(),
    log:
        layout.log("evaluate_task", "{task}/{train_variant}"),
    wildcard_constraints:
        task=SHARDED_TASKS,
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/evaluate_task_merge.py"


rule task_tables:
    input:
        manifest=task_manifest,
        evaluations=lambda wildcards: get_task_evaluations(wildcards.task),
        training=lambda wildcards: get_task_trainings(wildcards.task),
        train_rates=lambda wildcards: get_task_training_rates(wildcards.task),
    output:
        predictions=layout.task_table("predictions.csv"),
        summary=report(
            layout.task_table("summary.csv"),
            caption="../report/task_summary.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "table": "scores per point with CIs"},
        ),
        per_class=layout.task_table("per_class.csv"),
        confusion=layout.task_table("confusion.csv"),
        training_sets=report(
            layout.task_table("training_sets.csv"),
            caption="../report/task_training_sets.rst",
            category="Tasks",
            subcategory="{task}",
            labels={
                "task": "{task}",
                "table": "training-set size against the headline score",
            },
        ),
        bd=report(
            layout.task_table("bd_rate.csv"),
            caption="../report/task_bd.rst",
            category="Tasks",
            subcategory="{task}",
            labels={
                "task": "{task}",
                "table": "BD-rate on the task's per-image quality",
            },
        ),
    log:
        layout.log("task_tables", "{task}"),
    benchmark:
        layout.benchmark("task_tables", "{task}")
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        task=lambda wildcards: config["tasks"][wildcards.task]["task"],
        statistics=config["statistics"],
        bd=config["bd"],
        anchor=config["anchor"],
        train_variants=lambda wildcards: train_variants(config, wildcards.task),
        # The variants of the training and train_rates inputs, in their order.
        trained_variants=lambda wildcards: trained_variants(wildcards.task),
        compressed_training_variants=lambda wildcards: compressed_training_variants(
            wildcards.task
        ),
        # Variant -> its reference (ROI variant: its plain codec; a codec trained for a task: its compare_to), on the
        # task's dataset: their BD-rates too.
        references=lambda wildcards: variant_comparisons(
            config, config["tasks"][wildcards.task]["dataset"]
        ),
    script:
        "../scripts/task_tables.py"


# Which quality metric predicts the task: rank correlations of each metric (and bpp) with the task's per-image
# quality over every compressed point, with cluster-bootstrap CIs (codecbench.stats.metric_agreement).
rule metric_agreement:
    input:
        predictions=layout.task_table("predictions.csv"),
        # The quality tables of the task's codecs on its test dataset.
        quality=get_task_quality_tables,
    output:
        table=report(
            layout.task_table("metric_agreement.csv"),
            caption="../report/task_metric_agreement.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "table": "which metric predicts the task"},
        ),
        figure=report(
            layout.task_figure("metric_agreement.png"),
            caption="../report/task_metric_agreement.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "which metric predicts the task"},
        ),
    log:
        layout.log("metric_agreement", "{task}"),
    benchmark:
        layout.benchmark("metric_agreement", "{task}")
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        task=lambda wildcards: config["tasks"][wildcards.task]["task"],
        metrics=config["metrics"],
        statistics=config["statistics"],
    script:
        "../scripts/metric_agreement.py"


rule task_figures:
    input:
        manifest=task_manifest,
        predictions=layout.task_table("predictions.csv"),
        rates=get_task_rates,
        summary=layout.task_table("summary.csv"),
        per_class=layout.task_table("per_class.csv"),
        training_sets=layout.task_table("training_sets.csv"),
        bd=layout.task_table("bd_rate.csv"),
    output:
        scores=report(
            layout.task_figure("scores_bpp.png"),
            caption="../report/task_scores.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "scores against rate"},
        ),
        heatmap=report(
            layout.task_figure("train_test_accuracy.png"),
            caption="../report/task_heatmap.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "train variant x test variant"},
        ),
        flips=report(
            layout.task_figure("flips.png"),
            caption="../report/task_flips.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "images improved / worsened"},
        ),
        per_class=report(
            layout.task_figure("per_class.png"),
            caption="../report/task_per_class.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "per-class change"},
        ),
        gallery=report(
            layout.task_figure("gallery.png"),
            caption="../report/task_gallery.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "examples improved / worsened"},
        ),
        training_sets=report(
            layout.task_figure("training_sets.png"),
            caption="../report/task_training_sets.rst",
            category="Tasks",
            subcategory="{task}",
            labels={
                "task": "{task}",
                "figure": "training-set size against the headline score",
            },
        ),
        svgs=multiext(
            layout.task_figure(""),
            "scores_bpp.svg",
            "train_test_accuracy.svg",
            "flips.svg",
            "per_class.svg",
            "training_sets.svg",
        ),
    log:
        layout.log("task_figures", "{task}"),
    localrule: True
    conda:
        "../envs/codecs.yaml"
    params:
        task=lambda wildcards: config["tasks"][wildcards.task]["task"],
        readings=get_task_readings,
        dataset=task_dataset,
        anchor=config["anchor"],
    script:
        "../scripts/task_figures.py"


# A task on a video dataset: its headline score against kbit/s (clip bytes over clip duration).
rule task_kbps_figure:
    input:
        manifest=task_manifest,
        predictions=layout.task_table("predictions.csv"),
        summary=layout.task_table("summary.csv"),
    output:
        table=report(
            layout.task_table("kbps.csv"),
            caption="../report/task_kbps.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "table": "scores and kbit/s per point"},
        ),
        png=report(
            layout.task_figure("scores_kbps.png"),
            caption="../report/task_kbps.rst",
            category="Tasks",
            subcategory="{task}",
            labels={"task": "{task}", "figure": "headline score against kbit/s"},
        ),
        svg=layout.task_figure("scores_kbps.svg"),
    log:
        layout.log("task_kbps_figure", "{task}"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        task=lambda wildcards: config["tasks"][wildcards.task]["task"],
    script:
        "../scripts/video_figures.py"
