# Stage 5: figures per dataset, PNG for the HTML report and SVG for papers. Each PNG is a report item.


# One job per dataset draws all its figures: a figure takes a fraction of a second, a job's start-up (Python,
# pandas, matplotlib) about 3 CPU-seconds, which one job per figure paid 55 times in the default run (measured).
rule dataset_figures:
    input:
        summary=f"{RESULTS}/tables/summary.csv",
        quality=f"{RESULTS}/tables/quality.csv",
        bd_rate=f"{RESULTS}/tables/bd_rate.csv",
        manifest=f"{RESULTS}/datasets/{{dataset}}/manifest.csv",
        decoded=lambda wildcards: get_decoded_dirs(wildcards.dataset),
    output:
        **metric_figure_outputs("rd", "Rate-quality", "rate-quality curve"),
        **metric_figure_outputs("spread", "Per-image spread", "per-image spread"),
        coding_time=report(
            f"{RESULTS}/figures/{{dataset}}/coding_time.png",
            caption="../report/coding_time.rst",
            category="Coding time",
            labels={"dataset": "{dataset}", "figure": "encode and decode time"},
        ),
        coding_time_svg=f"{RESULTS}/figures/{{dataset}}/coding_time.svg",
        bd_rate=report(
            f"{RESULTS}/figures/{{dataset}}/bd_rate.png",
            caption="../report/bd_rate.rst",
            category="BD-rate",
            labels={"dataset": "{dataset}", "figure": "BD-rate against the anchor"},
        ),
        bd_rate_svg=f"{RESULTS}/figures/{{dataset}}/bd_rate.svg",
        grid=report(
            f"{RESULTS}/figures/{{dataset}}/grid.png",
            caption="../report/grid.rst",
            category="Visual comparison",
            labels={"dataset": "{dataset}", "figure": "same crop across codecs"},
        ),
        grid_svg=f"{RESULTS}/figures/{{dataset}}/grid.svg",
    log:
        f"{RESULTS}/logs/dataset_figures/{{dataset}}.log",
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        metrics=get_rd_metrics(),
        grid=config["grid"],
        confidence=config["statistics"]["confidence"],
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
