# Stage 5: figures per dataset, PNG for the HTML report and SVG for papers. Each PNG is a report item.


# One job per dataset draws all its figures: a figure takes a fraction of a second, a job's start-up (Python,
# pandas, matplotlib) about 3 CPU-seconds, which one job per figure paid 55 times in the default run (measured).
rule dataset_figures:
    input:
        summary=layout.table("summary.csv"),
        quality=layout.table("quality.csv"),
        bd_rate=layout.table("bd_rate.csv"),
        manifest=layout.manifest(),
        # The ladder rate rows of each codec of the dataset, in params readings order.
        rates=lambda wildcards: [
            layout.ladder_rates(wildcards.dataset, codec)
            for codec in dataset_codecs(wildcards.dataset)
        ],
    output:
        **metric_figure_outputs("rd", "Rate-quality", "rate-quality curve"),
        **metric_figure_outputs("spread", "Per-image spread", "per-image spread"),
        coding_time=report(
            layout.figure("coding_time.png"),
            caption="../report/coding_time.rst",
            category="Coding time",
            labels={"dataset": "{dataset}", "figure": "encode and decode time"},
        ),
        coding_time_svg=layout.figure("coding_time.svg"),
        bd_rate=report(
            layout.figure("bd_rate.png"),
            caption="../report/bd_rate.rst",
            category="BD-rate",
            labels={"dataset": "{dataset}", "figure": "BD-rate against the anchor"},
        ),
        bd_rate_svg=layout.figure("bd_rate.svg"),
        grid=report(
            layout.figure("grid.png"),
            caption="../report/grid.rst",
            category="Visual comparison",
            labels={"dataset": "{dataset}", "figure": "same crop across codecs"},
        ),
        grid_svg=layout.figure("grid.svg"),
    log:
        layout.log("dataset_figures", "{dataset}"),
    localrule: True
    conda:
        "../envs/codecs.yaml"
    params:
        metrics=get_rd_metrics(),
        grid=config["grid"],
        confidence=config["statistics"]["confidence"],
        readings=lambda wildcards: {
            codec: codec_reading(codec) for codec in dataset_codecs(wildcards.dataset)
        },
    script:
        "../scripts/figures.py"


# Video datasets: quality against kbit/s per codec (clip bytes over clip duration) and per-frame traces.
rule video_figures:
    input:
        table=layout.table("quality.csv"),
        manifest=layout.manifest(),
    output:
        table=report(
            layout.dataset_table("kbps.csv"),
            caption="../report/video_kbps.rst",
            category="Video",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "kbit/s and quality per point"},
        ),
        kbps=report(
            layout.figure("kbps.png"),
            caption="../report/video_kbps.rst",
            category="Video",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "quality against kbit/s"},
        ),
        kbps_svg=layout.figure("kbps.svg"),
        traces=report(
            layout.figure("traces.png"),
            caption="../report/video_traces.rst",
            category="Video",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "per-frame traces"},
        ),
        traces_svg=layout.figure("traces.svg"),
    log:
        layout.log("video_figures", "{dataset}"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        metrics=get_video_metrics(),
    script:
        "../scripts/video_figures.py"


# ROI variants per dataset: PSNR inside and outside the mask against rate, and a gallery of plain and
# ROI images at about equal rate with the mask drawn (its pixels decoded from the stored bitstreams).
rule roi_figures:
    input:
        unpack(get_roi_quality_inputs),
        table=layout.dataset_table("roi_quality.csv"),
    output:
        quality=report(
            layout.figure("roi_quality.png"),
            caption="../report/roi_quality.rst",
            category="Compression for machines",
            labels={
                "dataset": "{dataset}",
                "figure": "PSNR inside and outside the mask",
            },
        ),
        quality_svg=layout.figure("roi_quality.svg"),
        gallery=report(
            layout.figure("roi_gallery.png"),
            caption="../report/roi_gallery.rst",
            category="Compression for machines",
            labels={
                "dataset": "{dataset}",
                "figure": "plain and ROI at about equal rate",
            },
        ),
    log:
        layout.log("roi_figures", "{dataset}"),
    localrule: True
    conda:
        "../envs/learned.yaml"
    params:
        codecs=lambda wildcards: roi_codecs_of(wildcards.dataset),
        readings=lambda wildcards: {
            codec: codec_reading(codec) for codec in roi_codecs_of(wildcards.dataset)
        },
    script:
        "../scripts/roi_figures.py"


rule machines_figure:
    input:
        layout.table("machines.csv"),
    output:
        png=report(
            layout.run_figure("machines_bd.png"),
            caption="../report/machines.rst",
            category="Compression for machines",
            labels={"figure": "variants for machines against their references"},
        ),
        svg=layout.run_figure("machines_bd.svg"),
    log:
        layout.log("machines_figure"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    script:
        "../scripts/machines_figure.py"
