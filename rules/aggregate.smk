# Stage 4: the tidy table of every measurement, CompressAI-style JSON per (dataset, codec), RD figures.


rule quality_table:
    input:
        get_point_tables(None),
    output:
        csv=layout.table("quality.csv"),
        parquet=layout.table("quality.parquet"),
    log:
        layout.log("quality_table"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/quality_table.py"


rule summary:
    input:
        layout.table("quality.csv"),
    output:
        report(
            layout.table("summary.csv"),
            caption="../report/summary.rst",
            category="Tables",
            labels={"table": "per-point means with CIs"},
        ),
    log:
        layout.log("summary"),
    benchmark:
        layout.benchmark("summary")
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
        layout.table("quality.csv"),
    output:
        report(
            layout.table("bd_rate.csv"),
            caption="../report/bd_table.rst",
            category="Tables",
            labels={"table": "BD-rates against the anchor"},
        ),
    log:
        layout.log("bd_rate"),
    benchmark:
        layout.benchmark("bd_rate")
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
        rows=layout.table("equal_rate.csv"),
        summary=report(
            layout.table("equal_rate_summary.csv"),
            caption="../report/equal_rate.rst",
            category="Tables",
            labels={"table": "codecs at equal rate"},
        ),
    log:
        layout.log("equal_rate_table"),
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
        layout.table("quality.csv"),
    output:
        json=layout.provenance("json"),
        line=report(
            layout.provenance("txt"),
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"file": "provenance line"},
        ),
    log:
        layout.log("provenance"),
    localrule: True
    conda:
        "../envs/provenance.yaml"
    params:
        config_sha256=config_hash(config),
    script:
        "../scripts/provenance.py"


# What each stage cost: every benchmarked job's wall and CPU time and peak memory, summed per stage.
rule stage_costs:
    input:
        unpack(get_stage_benchmarks),
    output:
        table=report(
            layout.table("stage_costs.csv"),
            caption="../report/stage_costs.rst",
            category="Stage costs",
            labels={"table": "wall, CPU, memory and jobs per stage"},
        ),
        png=report(
            layout.run_figure("stage_costs.png"),
            caption="../report/stage_costs.rst",
            category="Stage costs",
            labels={"figure": "wall and CPU time per stage"},
        ),
        svg=layout.run_figure("stage_costs.svg"),
    log:
        layout.log("stage_costs"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/stage_costs.py"


# What each codec and task model costs: coding seconds per megapixel per point, parameters and kMAC/px of every
# network (learned codecs counted with random weights of their architecture, task models as evaluated).
rule complexity:
    input:
        unpack(get_complexity_inputs),
    output:
        table=report(
            layout.table("complexity.csv"),
            caption="../report/complexity.rst",
            category="Complexity",
            labels={"table": "parameters, kMAC/px and coding time"},
        ),
        png=report(
            layout.run_figure("complexity.png"),
            caption="../report/complexity.rst",
            category="Complexity",
            labels={"figure": "coding time and kMAC/px"},
        ),
        svg=layout.run_figure("complexity.svg"),
    log:
        layout.log("complexity"),
    benchmark:
        layout.benchmark("complexity")
    conda:
        "../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        codecs=get_complexity_codecs,
        task_models=get_complexity_task_models,
        plugin_code=get_complexity_plugin_code,
    script:
        "../scripts/complexity.py"


# What the run found, in sentences from its tables, each effect judged against its CI: the report's first page.
rule findings:
    input:
        unpack(get_findings_inputs),
    output:
        table=layout.table("findings.csv"),
        markdown=layout.findings("md"),
        html=report(
            layout.findings("html"),
            caption="../report/findings.rst",
            category="Findings",
            labels={"page": "what this run found"},
        ),
    log:
        layout.log("findings"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        metrics=config["metrics"],
        tasks=lambda wildcards: {
            task: entry["task"] for task, entry in config.get("tasks", {}).items()
        },
        # Codec -> the task whose model drew its mask or trained it: a gain that task scores is self-fulfilling.
        self_scorers=lambda wildcards: self_scorers(),
        plugin_code=lambda wildcards: next(
            (
                PLUGIN_CODE
                for entry in config.get("tasks", {}).values()
                if plugin_code_of(get_task_class(entry["task"]))
            ),
            {},
        ),
    script:
        "../scripts/findings.py"


# ROI variants, per dataset: PSNR inside and outside each ROI variant's mask beside its plain codec's;
# for the run, each variant's BD-rates against its plain codec on those and on every task's score, with CIs and the
# mask's kind (codecbench.stages.roi).
rule roi_quality:
    input:
        unpack(get_roi_quality_inputs),
    output:
        layout.dataset_table("roi_quality.csv"),
    log:
        layout.log("roi_quality", "{dataset}"),
    benchmark:
        layout.benchmark("roi_quality", "{dataset}")
    conda:
        "../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        variants=lambda wildcards: roi_variant_facts(wildcards.dataset),
        codecs=lambda wildcards: roi_codecs_of(wildcards.dataset),
        readings=lambda wildcards: {
            codec: codec_reading(codec) for codec in roi_codecs_of(wildcards.dataset)
        },
    script:
        "../scripts/roi_quality.py"


rule machines_summary:
    input:
        unpack(get_machines_summary_inputs),
    output:
        report(
            layout.table("machines.csv"),
            caption="../report/machines.rst",
            category="Compression for machines",
            labels={"table": "variants for machines against their references"},
        ),
    log:
        layout.log("machines_summary"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        tasks=lambda wildcards: machines_summary_tasks(),
        trained=lambda wildcards: trained_for_task(),
        bd=config["bd"],
        statistics=config["statistics"],
    script:
        "../scripts/machines_summary.py"
