# Stage 5: figures per dataset, PNG for the HTML report and SVG for papers. Each PNG is a report item.


rule rd_figure:
    input:
        f"{RESULTS}/tables/summary.csv",
    output:
        png=report(
            f"{RESULTS}/figures/{{dataset}}/rd_{{metric}}.png",
            caption="../report/rd.rst",
            category="Rate-quality",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "metric": "{metric}",
                "figure": "rate-quality curve",
            },
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/rd_{{metric}}.svg",
    log:
        f"{RESULTS}/logs/rd_figure/{{dataset}}/{{metric}}.log",
    wildcard_constraints:
        metric=alternatives(BD_METRICS),
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/figures.py"


rule spread_figure:
    input:
        f"{RESULTS}/tables/quality.csv",
    output:
        png=report(
            f"{RESULTS}/figures/{{dataset}}/spread_{{metric}}.png",
            caption="../report/spread.rst",
            category="Per-image spread",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "metric": "{metric}",
                "figure": "per-image spread",
            },
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/spread_{{metric}}.svg",
    log:
        f"{RESULTS}/logs/spread_figure/{{dataset}}/{{metric}}.log",
    wildcard_constraints:
        metric=alternatives(BD_METRICS),
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/figures.py"


rule coding_time_figure:
    input:
        f"{RESULTS}/tables/summary.csv",
    output:
        png=report(
            f"{RESULTS}/figures/{{dataset}}/coding_time.png",
            caption="../report/coding_time.rst",
            category="Coding time",
            labels={"dataset": "{dataset}", "figure": "encode and decode time"},
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/coding_time.svg",
    log:
        f"{RESULTS}/logs/coding_time_figure/{{dataset}}.log",
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/figures.py"


rule bd_figure:
    input:
        f"{RESULTS}/tables/bd_rate.csv",
    output:
        png=report(
            f"{RESULTS}/figures/{{dataset}}/bd_rate.png",
            caption="../report/bd_rate.rst",
            category="BD-rate",
            labels={"dataset": "{dataset}", "figure": "BD-rate against the anchor"},
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/bd_rate.svg",
    log:
        f"{RESULTS}/logs/bd_figure/{{dataset}}.log",
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/figures.py"


rule grid_figure:
    input:
        table=f"{RESULTS}/tables/quality.csv",
        manifest=f"{RESULTS}/datasets/{{dataset}}/manifest.csv",
        decoded=lambda wildcards: get_decoded_dirs(wildcards.dataset),
    output:
        png=report(
            f"{RESULTS}/figures/{{dataset}}/grid.png",
            caption="../report/grid.rst",
            category="Visual comparison",
            labels={"dataset": "{dataset}", "figure": "same crop across codecs"},
        ),
        svg=f"{RESULTS}/figures/{{dataset}}/grid.svg",
    log:
        f"{RESULTS}/logs/grid_figure/{{dataset}}.log",
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        grid=config["grid"],
        compressed_dir=lambda wildcards: f"{RESULTS}/compressed/{wildcards.dataset}",
    script:
        "../scripts/figures.py"


# Video datasets: quality against kbit/s per codec (clip bytes over clip duration) and per-frame traces.
rule video_figures:
    input:
        table=f"{RESULTS}/tables/quality.csv",
        manifest=f"{RESULTS}/datasets/{{dataset}}/manifest.csv",
    output:
        kbps=report(
            f"{RESULTS}/figures/{{dataset}}/kbps.png",
            caption="../report/video_kbps.rst",
            category="Video",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "quality against kbit/s"},
        ),
        kbps_svg=f"{RESULTS}/figures/{{dataset}}/kbps.svg",
        traces=report(
            f"{RESULTS}/figures/{{dataset}}/traces.png",
            caption="../report/video_traces.rst",
            category="Video",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "per-frame traces"},
        ),
        traces_svg=f"{RESULTS}/figures/{{dataset}}/traces.svg",
    log:
        f"{RESULTS}/logs/video_figures/{{dataset}}.log",
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        metrics=get_video_metrics(),
    script:
        "../scripts/video_figures.py"
