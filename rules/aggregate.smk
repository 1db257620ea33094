# Stage 4: the tidy table of every measurement, CompressAI-style JSON per (dataset, codec), RD figures.


rule quality_table:
    input:
        get_point_tables(None),
    output:
        csv=f"{RESULTS}/tables/quality.csv",
        parquet=f"{RESULTS}/tables/quality.parquet",
    log:
        f"{RESULTS}/logs/quality_table.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/quality_table.py"


rule codec_json:
    input:
        lambda wildcards: get_point_tables(wildcards.dataset, wildcards.codec),
    output:
        f"{RESULTS}/tables/{{dataset}}/{{codec}}.json",
    log:
        f"{RESULTS}/logs/codec_json/{{dataset}}/{{codec}}.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/codec_json.py"


rule rd_figure:
    input:
        lambda wildcards: get_codec_jsons(wildcards.dataset),
    output:
        f"{RESULTS}/figures/{{dataset}}/rd_{{metric}}.png",
    log:
        f"{RESULTS}/logs/rd_figure/{{dataset}}/{{metric}}.log",
    wildcard_constraints:
        metric="psnr_rgb|ms_ssim",
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/rd_figure.py"
