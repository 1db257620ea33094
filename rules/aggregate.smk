# Stage 4: the tidy table of every measurement, CompressAI-style JSON per (dataset, codec), RD figures.


rule quality_table:
    input:
        get_point_tables(None),
    output:
        csv=f"{RESULTS}/tables/quality.csv",
        parquet=f"{RESULTS}/tables/quality.parquet",
    log:
        f"{RESULTS}/logs/quality_table.log",
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/quality_table.py"


rule summary:
    input:
        f"{RESULTS}/tables/quality.csv",
    output:
        report(
            f"{RESULTS}/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            labels={"table": "per-point means with CIs"},
        ),
    log:
        f"{RESULTS}/logs/summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/summary.tsv"
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        statistics=config["statistics"],
        metrics=config["metrics"],
    script:
        "../scripts/summary.py"


rule bd_rate:
    input:
        f"{RESULTS}/tables/quality.csv",
    output:
        report(
            f"{RESULTS}/tables/bd_rate.csv",
            caption="../report/bd_table.rst",
            category="Tables",
            labels={"table": "BD-rates against the anchor"},
        ),
    log:
        f"{RESULTS}/logs/bd_rate.log",
    benchmark:
        f"{RESULTS}/benchmarks/bd_rate.tsv"
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        anchor=config["anchor"],
        bd=config["bd"],
        statistics=config["statistics"],
    script:
        "../scripts/bd_rate.py"


rule equal_rate_table:
    input:
        get_target_point_tables,
    output:
        rows=f"{RESULTS}/tables/equal_rate.csv",
        summary=report(
            f"{RESULTS}/tables/equal_rate_summary.csv",
            caption="../report/equal_rate.rst",
            category="Tables",
            labels={"table": "codecs at equal rate"},
        ),
    log:
        f"{RESULTS}/logs/equal_rate_table.log",
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        statistics=config["statistics"],
        metrics=config["metrics"],
    script:
        "../scripts/equal_rate_table.py"


rule provenance:
    input:
        f"{RESULTS}/tables/quality.csv",
    output:
        json=f"{RESULTS}/provenance.json",
        line=report(
            f"{RESULTS}/provenance.txt",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"file": "provenance line"},
        ),
    log:
        f"{RESULTS}/logs/provenance.log",
    localrule: True
    conda:
        "../envs/provenance.yaml"
    params:
        config_sha256=config_hash(config),
    script:
        "../scripts/provenance.py"
