# Stage 2: one job per (dataset, codec) codes every point of the codec's ladder and measures each decoded image
# against its reference in memory (codecbench.stages.compress). A point's stored truth is its bitstreams and rate
# rows; decoded images are kept only for codecs whose decoding is expensive (the codec's keeps_decoded, or the
# config's keep_decoded). A job's start-up (Python, pandas, torch for SSIM: 2-5 s) costs more than coding a point of
# a fast codec, so one job per point mostly paid start-up; a point already stored with the same coding key is
# reused, so adding a quality codes that point only and changing the metrics codes nothing.


rule compress_ladder:
    input:
        manifest=get_view_manifest,
        # A trained codec's models, a learned codec's own checkpoint file (replacing one reruns the job).
        checkpoints=get_ladder_checkpoints,
        # An ROI variant's masks of this dataset (codecbench.masks).
        masks=get_ladder_masks,
    output:
        rates=layout.ladder_rates(),
        table=layout.ladder_quality_table(),
        compressai=layout.codec_json(),
    log:
        layout.log("compress", "{dataset}/{codec}"),
    benchmark:
        layout.benchmark("compress", "{dataset}/{codec}")
    wildcard_constraints:
        dataset=UNSHARDED_TEST_VIEWS,
    conda:
        "../envs/codecs.yaml"
    threads: get_codec_threads
    resources:
        gpu=get_codec_gpus,
        mem_mb=2000,
        runtime=240,
    params:
        settings=lambda wildcards: codec_job_settings(config, wildcards.codec),
        points=get_ladder_points,
        keep_decoded=lambda wildcards: codec_keeps_decoded(config, wildcards.codec),
        codec_plugin_code=get_codec_plugin_code,
        metrics=config["metrics"],
        plugin_code=PLUGIN_CODE,  # plug-in metrics
        measure=True,
        shard=None,
    script:
        "../scripts/compress_ladder.py"


# A task's compressed train split (the view '<dataset>-train'): only the points its models train on, no metrics.
use rule compress_ladder as compress_training_set with:
    output:
        rates=layout.ladder_rates(),
    wildcard_constraints:
        dataset=UNSHARDED_TRAIN_VIEWS,
    params:  # (use rule ... with: replaces the params named here, keeps the others)
        metrics=[],
        plugin_code={},
        measure=False,
        shard=None,


# A sharded dataset ('shards' or 'images_per_shard'): one job per shard of its images (whole clips of a video, so
# that a video codec and VMAF see every frame of a clip), writing into the same point stores, merged below.
use rule compress_ladder as compress_ladder_shard with:
    output:
        rates=temp(layout.ladder_rates_shard()),
        table=temp(layout.ladder_quality_shard_table()),
    log:
        layout.log("compress", layout.shard_job_name("{dataset}/{codec}")),
    benchmark:
        layout.benchmark("compress", layout.shard_job_name("{dataset}/{codec}"))
    wildcard_constraints:
        dataset=SHARDED_VIEWS,
        shard=SHARD,
        shard_count=SHARD,
    params:
        metrics=lambda wildcards: (
            [] if is_train_view(wildcards.dataset) else config["metrics"]
        ),
        plugin_code=lambda wildcards: (
            {} if is_train_view(wildcards.dataset) else PLUGIN_CODE
        ),
        measure=lambda wildcards: not is_train_view(wildcards.dataset),
        shard=shard_params,


rule compress_ladder_merge:
    input:
        manifest=get_view_manifest,
        rates=get_ladder_shards(layout.ladder_rates_shard),
        tables=get_ladder_shards(layout.ladder_quality_shard_table),
    output:
        rates=layout.ladder_rates(),
        table=layout.ladder_quality_table(),
        compressai=layout.codec_json(),
    log:
        layout.log("compress", "{dataset}/{codec}"),
    wildcard_constraints:
        dataset=SHARDED_TEST_VIEWS,
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        # The order an unsharded job writes its rows in: clip by clip for a video codec.
        sequence_codec=lambda wildcards: is_sequence_codec(config, wildcards.codec),
        measure=True,
    script:
        "../scripts/compress_ladder_merge.py"


use rule compress_ladder_merge as compress_training_set_merge with:
    input:
        manifest=get_view_manifest,
        rates=get_ladder_shards(layout.ladder_rates_shard),
    output:
        rates=layout.ladder_rates(),
    wildcard_constraints:
        dataset=SHARDED_TRAIN_VIEWS,
    params:
        measure=False,


# Equal-rate points: per image, the quality nearest a target bpp (several encodes per image to search); one job
# each (few of them), coded and measured like a ladder point.
rule compress_target:
    input:
        manifest=layout.manifest(),
    output:
        rates=layout.target_rates(),
        table=layout.target_quality_table(),
    log:
        layout.log("compress_target", "{dataset}/{codec}/{bpp}"),
    benchmark:
        layout.benchmark("compress_target", "{dataset}/{codec}/{bpp}")
    conda:
        "../envs/codecs.yaml"
    threads: get_codec_threads
    resources:
        gpu=get_codec_gpus,
        mem_mb=2000,
        runtime=120,
    params:
        settings=lambda wildcards: codec_job_settings(config, wildcards.codec),
        keep_decoded=lambda wildcards: codec_keeps_decoded(config, wildcards.codec),
        codec_plugin_code=get_codec_plugin_code,
        metrics=config["metrics"],
        plugin_code=PLUGIN_CODE,
        target_bpp=lambda wildcards: float(wildcards.bpp),
    script:
        "../scripts/compress_target.py"
