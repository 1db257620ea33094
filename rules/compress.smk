# Stage 2: one job per (dataset, codec, quality) encodes and decodes every image of the dataset.
# params carry only this codec's options (not its ladder), so editing one codec reruns only its jobs.


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
