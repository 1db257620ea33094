# Stage 3: full-reference quality metrics per decoded image, merged with the rate table into tidy rows.


rule quality:
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
