# Stage 2: one job per (dataset, codec, quality) encodes and decodes every image of the dataset (per shard of it,
# for a sharded dataset). params carry only this codec's options (not its ladder), so editing one codec
# reruns only its jobs.


rule compress:
    input:
        manifest=get_view_manifest,
        checkpoint=get_checkpoint,
    output:
        rate=f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/rate.csv",
        bitstreams=directory(
            f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/bitstreams"
        ),
        decoded=directory(
            f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/decoded"
        ),
    log:
        f"{RESULTS}/logs/compress/{{dataset}}/{{codec}}/{{quality}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/compress/{{dataset}}/{{codec}}/{{quality}}.tsv"
    wildcard_constraints:
        quality=LADDER_QUALITY,
        dataset=UNSHARDED_VIEWS,
    conda:
        "../envs/codecs.yaml"
    threads: get_codec_threads
    resources:
        gpu=get_codec_gpus,
        mem_mb=1000,
        runtime=60,
    params:
        settings=lambda wildcards: codec_job_settings(config, wildcards.codec),
        extra=get_point_columns,
    script:
        "../scripts/compress.py"


# A sharded dataset ('shards' or 'images_per_shard'): one job per shard of a point (a contiguous block of its
# images, whole clips of a video), merged by compress_merge into the point's usual outputs, which every later rule
# reads unchanged. The shard folders are temporary: the merge hard-links their files (one copy on disk, plain files
# for readers).
rule compress_shard:
    input:
        manifest=get_view_manifest,
        checkpoint=get_checkpoint,
    output:
        rate=temp(
            f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/shards/{{shard}}-of-{{shard_count}}/rate.csv"
        ),
        bitstreams=temp(
            directory(
                f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/shards/{{shard}}-of-{{shard_count}}/bitstreams"
            )
        ),
        decoded=temp(
            directory(
                f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/shards/{{shard}}-of-{{shard_count}}/decoded"
            )
        ),
    log:
        f"{RESULTS}/logs/compress/{{dataset}}/{{codec}}/{{quality}}/shard-{{shard}}-of-{{shard_count}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/compress/{{dataset}}/{{codec}}/{{quality}}/shard-{{shard}}-of-{{shard_count}}.tsv"
    wildcard_constraints:
        quality=LADDER_QUALITY,
        dataset=SHARDED_VIEWS,
        shard=SHARD,
        shard_count=SHARD,
    conda:
        "../envs/codecs.yaml"
    threads: get_codec_threads
    resources:
        gpu=get_codec_gpus,
        mem_mb=1000,
        runtime=60,
    params:
        settings=lambda wildcards: codec_job_settings(config, wildcards.codec),
        extra=get_point_columns,
        shard=shard_params,
    script:
        "../scripts/compress.py"


rule compress_merge:
    input:
        manifest=get_view_manifest,
        rates=get_compress_shards("rate.csv"),
        bitstreams=get_compress_shards("bitstreams"),
        decoded=get_compress_shards("decoded"),
    output:
        rate=f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/rate.csv",
        bitstreams=directory(
            f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/bitstreams"
        ),
        decoded=directory(
            f"{RESULTS}/compressed/{{dataset}}/{{codec}}/{{quality}}/decoded"
        ),
    log:
        f"{RESULTS}/logs/compress/{{dataset}}/{{codec}}/{{quality}}.log",
    wildcard_constraints:
        quality=LADDER_QUALITY,
        dataset=SHARDED_VIEWS,
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        # The order an unsharded job writes its rows in: clip by clip for a video codec.
        sequence_codec=lambda wildcards: is_sequence_codec(config, wildcards.codec),
    script:
        "../scripts/compress_merge.py"


# Equal-rate points: per image, the quality nearest a target bpp (several encodes per image to search).
rule compress_target:
    input:
        manifest=get_view_manifest,
    output:
        rate=f"{RESULTS}/compressed/{{dataset}}/{{codec}}/target_{{bpp}}/rate.csv",
        bitstreams=directory(
            f"{RESULTS}/compressed/{{dataset}}/{{codec}}/target_{{bpp}}/bitstreams"
        ),
        decoded=directory(
            f"{RESULTS}/compressed/{{dataset}}/{{codec}}/target_{{bpp}}/decoded"
        ),
    log:
        f"{RESULTS}/logs/compress_target/{{dataset}}/{{codec}}/{{bpp}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/compress_target/{{dataset}}/{{codec}}/{{bpp}}.tsv"
    wildcard_constraints:
        bpp=r"[0-9]+(\.[0-9]+)?",
    conda:
        "../envs/codecs.yaml"
    threads: get_codec_threads
    resources:
        gpu=get_codec_gpus,
        mem_mb=1000,
        runtime=120,
    params:
        settings=lambda wildcards: codec_job_settings(config, wildcards.codec),
    script:
        "../scripts/compress.py"
