"""Rules video_figures and task_kbps_figure: a video dataset's quality against kbit/s (figure and table) and
per-frame traces, and a task's scores against kbit/s on a video dataset (figure and table)."""

from pathlib import Path

import pandas as pd

from codecbench.datasets import read_frames
from codecbench.io import write_csv_atomic
from codecbench.report import video_figures
from codecbench.report.figures import metric_label
from codecbench.report.task_figures import reference_variant, score_label
from codecbench.stages.task_tables import read_evaluations
from codecbench.tasks import get_task_class
from codecbench.workflow import script_job


def frames_of(manifest):
    frames = read_frames(Path(manifest).parent)
    if frames is None:
        raise ValueError(f"{Path(manifest).parent} has no frames.csv: it is not a video dataset; prepare it again")
    return frames


def video_figures_rule(smk, log):
    dataset = smk.wildcards.dataset
    table = pd.read_csv(smk.input.table, dtype={"image_id": str}, low_memory=False)
    rows = video_figures.with_frames(table[table.dataset == dataset], frames_of(smk.input.manifest))
    metrics = list(smk.params.metrics)
    write_csv_atomic(video_figures.kbps_table(rows, metrics), smk.output.table)
    panels = [(video_figures.quality_points(rows, metric), metric, metric_label(metric)) for metric in metrics]
    title = f"{dataset}: quality against kbit/s (mean over frames)"
    drawn = video_figures.plot_kbps_curves(panels, title, smk.output.kbps, smk.output.kbps_svg)
    log.info("kbps: %s", ", ".join(drawn))
    trace_metric = metrics[0]
    title = f"{dataset}: per-frame {metric_label(trace_metric)} and bytes, each codec's middle point"
    drawn = video_figures.plot_frame_traces(rows, trace_metric, title, smk.output.traces, smk.output.traces_svg)
    log.info("traces: %s", ", ".join(drawn))


def task_kbps_figure(smk, log):
    task = smk.wildcards.task
    task_class = get_task_class(smk.params.task)
    summary = pd.read_csv(smk.input.summary)
    predictions = read_evaluations([smk.input.predictions], task_class)
    variant = reference_variant(summary)
    points = video_figures.task_points(predictions, summary, frames_of(smk.input.manifest), variant)
    write_csv_atomic(points.drop(columns=["log_probs"], errors="ignore"), smk.output.table)
    score = task_class.scores[0]
    reference = summary[(summary.train_variant == variant) & (summary.codec == "uncompressed")][score]
    title = f"{task}: {score_label(score)} against kbit/s (model: {variant})"
    drawn = video_figures.plot_kbps_curves(
        [(points, score, score_label(score))], title, smk.output.png, smk.output.svg,
        reference=float(reference.iloc[0]) if len(reference) else None,
    )  # fmt: skip
    log.info("drew %s", ", ".join(drawn))


def main(smk):
    with script_job(smk) as log:
        (video_figures_rule if smk.rule == "video_figures" else task_kbps_figure)(smk, log)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
