# Stage 2: one job per (dataset, codec, quality) encodes and decodes every image of the dataset (per shard of it,
# for a sharded dataset). params carry only this codec's options (not its ladder), so editing one codec
# reruns only its jobs.


rule compress:
    input:
        manifest=get_view_manifest,
        checkpoint=get_checkpoint,
    output:
        rate=f"{layout.point_dir()}/rate.csv",
        bitstreams=directory(f"{layout.point_dir()}/bitstreams"),
        decoded=directory(f"{layout.point_dir()}/decoded"),
    log:
        layout.log("compress", "{dataset}/{codec}/{quality}"),
    benchmark:
        layout.benchmark("compress", "{dataset}/{codec}/{quality}")
    wildcard_constraints:
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
        plugin_code=get_codec_plugin_code,
        extra=get_point_columns,
        target_bpp=None,
        shard=None,
    script:
        "../scripts/compress.py"


# A sharded dataset ('shards' or 'images_per_shard'): one job per shard of a point (a contiguous block of its
# images, whole clips of a video), merged by compress_merge into the point's usual outputs, which every later rule
# reads unchanged. The shard folders are temporary: the merge hard-links their files (one copy on disk, plain files
# for readers).
use rule compress as compress_shard with:
    output:
        rate=temp(f"{layout.point_shard_dir()}/rate.csv"),
        bitstreams=temp(directory(f"{layout.point_shard_dir()}/bitstreams")),
        decoded=temp(directory(f"{layout.point_shard_dir()}/decoded")),
    log:
        layout.log("compress", layout.shard_job_name("{dataset}/{codec}/{quality}")),
    benchmark:
        layout.benchmark(
            "compress", layout.shard_job_name("{dataset}/{codec}/{quality}")
        )
    wildcard_constraints:
        dataset=SHARDED_VIEWS,
        shard=SHARD,
        shard_count=SHARD,
    params:
        shard=shard_params,


rule compress_merge:
    input:
        manifest=get_view_manifest,
        rates=get_compress_shards("rate.csv"),
        bitstreams=get_compress_shards("bitstreams"),
        decoded=get_compress_shards("decoded"),
    output:
        rate=f"{layout.point_dir()}/rate.csv",
        bitstreams=directory(f"{layout.point_dir()}/bitstreams"),
        decoded=directory(f"{layout.point_dir()}/decoded"),
    log:
        layout.log("compress", "{dataset}/{codec}/{quality}"),
    wildcard_constraints:
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
        rate=f"{layout.target_point_dir()}/rate.csv",
        bitstreams=directory(f"{layout.target_point_dir()}/bitstreams"),
        decoded=directory(f"{layout.target_point_dir()}/decoded"),
    log:
        layout.log("compress_target", "{dataset}/{codec}/{bpp}"),
    benchmark:
        layout.benchmark("compress_target", "{dataset}/{codec}/{bpp}")
    conda:
        "../envs/codecs.yaml"
    threads: get_codec_threads
    resources:
        gpu=get_codec_gpus,
        mem_mb=1000,
        runtime=120,
    params:
        settings=lambda wildcards: codec_job_settings(config, wildcards.codec),
        plugin_code=get_codec_plugin_code,
        extra={},
        target_bpp=lambda wildcards: float(wildcards.bpp),
        shard=None,
    script:
        "../scripts/compress.py"
