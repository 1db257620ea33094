# Stage 3: full-reference quality metrics per decoded image, merged with the rate table into tidy rows.
# One job per (dataset, codec) measures every point of its ladder: a metric job's start-up (Python, Snakemake,
# torch, piq) costs 4-6 s, more than the metrics of a few images, so per-point jobs mostly paid start-up.
# Adding a quality reruns that point's compression and its codec's metric job (seconds).


rule quality_ladder:
    input:
        manifest=f"{RESULTS}/datasets/{{dataset}}/manifest.csv",
        points=get_ladder_point_files,
    output:
        f"{RESULTS}/quality/{{dataset}}/{{codec}}.csv",
    log:
        f"{RESULTS}/logs/quality/{{dataset}}/{{codec}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/quality/{{dataset}}/{{codec}}.tsv"
    conda:
        "../envs/metrics.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        metrics=config["metrics"],
        qualities=lambda wildcards: config["codecs"][wildcards.codec]["qualities"],
    script:
        "../scripts/quality.py"


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
    script:
        "../scripts/quality.py"
