# Stage 3: full-reference quality metrics per decoded image, merged with the rate table into tidy rows, and the
# codec's per-quality means as CompressAI's JSON (tables/<dataset>/<codec>.json).
# One job per (dataset, codec) measures every point of its ladder: a metric job's start-up (Python, Snakemake,
# torch, piq) costs 4-6 s, more than the metrics of a few images, so per-point jobs mostly paid start-up.
# Adding a quality reruns that point's compression and its codec's metric job (seconds).


rule quality_ladder:
    input:
        manifest=layout.manifest(),
        # Each ladder point's rate table and decoded folder, both in ladder order (params qualities).
        rates=get_ladder_files("rate.csv"),
        decoded=get_ladder_files("decoded"),
    output:
        table=layout.ladder_quality_table(),
        compressai=layout.codec_json(),
    log:
        layout.log("quality", "{dataset}/{codec}"),
    benchmark:
        layout.benchmark("quality", "{dataset}/{codec}")
    wildcard_constraints:
        dataset=UNSHARDED_VIEWS,
    conda:
        "../envs/metrics.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        metrics=config["metrics"],
        plugin_code=PLUGIN_CODE,
        qualities=lambda wildcards: config["codecs"][wildcards.codec]["qualities"],
        shard=None,
        write_compressai_json=True,  # a whole ladder's means; a shard's rows are not the codec's
    script:
        "../scripts/quality_ladder.py"


# A sharded dataset ('shards' or 'images_per_shard'): the ladder's metrics per shard of its images (whole clips
# of a video, so that VMAF sees every frame of a clip), merged into the one table an unsharded job writes.
use rule quality_ladder as quality_ladder_shard with:
    output:
        table=temp(layout.ladder_quality_shard_table()),
    log:
        layout.log("quality", layout.shard_job_name("{dataset}/{codec}")),
    benchmark:
        layout.benchmark("quality", layout.shard_job_name("{dataset}/{codec}"))
    wildcard_constraints:
        dataset=SHARDED_VIEWS,
        shard=SHARD,
        shard_count=SHARD,
    params:
        shard=shard_params,
        write_compressai_json=False,


rule quality_merge:
    input:
        shards=get_quality_shards,
        rates=get_ladder_files("rate.csv"),
    output:
        table=layout.ladder_quality_table(),
        compressai=layout.codec_json(),
    log:
        layout.log("quality", "{dataset}/{codec}"),
    wildcard_constraints:
        dataset=SHARDED_VIEWS,
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/quality_merge.py"


# Equal-rate points: one job each (few of them, each with its own chosen qualities).
rule quality_target:
    input:
        manifest=layout.manifest(),
        rate=f"{layout.target_point_dir()}/rate.csv",
        decoded=f"{layout.target_point_dir()}/decoded",
    output:
        layout.target_quality_table(),
    log:
        layout.log("quality", f"{{dataset}}/{{codec}}/{layout.target_label()}"),
    benchmark:
        layout.benchmark("quality", f"{{dataset}}/{{codec}}/{layout.target_label()}")
    conda:
        "../envs/metrics.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        metrics=config["metrics"],
        plugin_code=PLUGIN_CODE,
        point=lambda wildcards: layout.target_label(wildcards.bpp),
    script:
        "../scripts/quality_target.py"
