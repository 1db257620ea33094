"""Rule metric_agreement: which quality metric (and bpp) ranks a task's images like the task's per-image quality,
as a table and a figure."""

from codecbench.report.task_figures import plot_metric_agreement
from codecbench.stages.task_tables import write_metric_agreement
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        table = write_metric_agreement(
            smk.params.task,
            smk.input.predictions,
            smk.input.quality,
            list(smk.params.metrics),
            dict(smk.params.statistics),
            smk.output.table,
        )
        plot_metric_agreement(table, f"{smk.wildcards.task}: which metric predicts the task", smk.output.figure)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
