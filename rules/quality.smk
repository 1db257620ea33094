# Stage 3: full-reference quality metrics per decoded image, merged with the rate table into tidy rows, and the
# codec's per-quality means as CompressAI's JSON (tables/<dataset>/<codec>.json).
# One job per (dataset, codec) measures every point of its ladder: a metric job's start-up (Python, Snakemake,
# torch, piq) costs 4-6 s, more than the metrics of a few images, so per-point jobs mostly paid start-up.
# Adding a quality reruns that point's compression and its codec's metric job (seconds).


rule quality_ladder:
    input:
        manifest=f"{RESULTS}/datasets/{{dataset}}/manifest.csv",
        points=get_ladder_point_files,
    output:
        table=f"{RESULTS}/quality/{{dataset}}/{{codec}}.csv",
        compressai=f"{RESULTS}/tables/{{dataset}}/{{codec}}.json",
    log:
        f"{RESULTS}/logs/quality/{{dataset}}/{{codec}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/quality/{{dataset}}/{{codec}}.tsv"
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
    script:
        "../scripts/quality.py"


# A sharded dataset ('shards' or 'images_per_shard'): the ladder's metrics per shard of its images (whole clips
# of a video, so that VMAF sees every frame of a clip), merged into the one table an unsharded job writes.
rule quality_ladder_shard:
    input:
        manifest=f"{RESULTS}/datasets/{{dataset}}/manifest.csv",
        points=get_ladder_point_files,
    output:
        temp(
            f"{RESULTS}/quality/{{dataset}}/{{codec}}/shard-{{shard}}-of-{{shard_count}}.csv"
        ),
    log:
        f"{RESULTS}/logs/quality/{{dataset}}/{{codec}}/shard-{{shard}}-of-{{shard_count}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/quality/{{dataset}}/{{codec}}/shard-{{shard}}-of-{{shard_count}}.tsv"
    wildcard_constraints:
        dataset=SHARDED_VIEWS,
        shard=SHARD,
        shard_count=SHARD,
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
        shard=shard_params,
    script:
        "../scripts/quality.py"


rule quality_merge:
    input:
        shards=get_quality_shards,
        rates=get_ladder_rates,
    output:
        table=f"{RESULTS}/quality/{{dataset}}/{{codec}}.csv",
        compressai=f"{RESULTS}/tables/{{dataset}}/{{codec}}.json",
    log:
        f"{RESULTS}/logs/quality/{{dataset}}/{{codec}}.log",
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
        manifest=f"{RESULTS}/datasets/{{dataset}}/manifest.csv",
        rate=f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/rate.csv",
        decoded=f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/decoded",
    output:
        f"{RESULTS}/quality/{{dataset}}/{{codec}}/{{quality}}.csv",
    log:
        f"{RESULTS}/logs/quality/{{dataset}}/{{codec}}/{{quality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/quality/{{dataset}}/{{codec}}/{{quality}}.tsv"
    wildcard_constraints:
        quality=r"target_[0-9]+(\.[0-9]+)?",
    conda:
        "../envs/metrics.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        metrics=config["metrics"],
        plugin_code=PLUGIN_CODE,
    script:
        "../scripts/quality.py"
