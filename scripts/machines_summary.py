"""Rule machines_summary: each ROI variant against its plain codec (image quality inside and outside the mask, every
task's score) and each codec trained for a task against its reference, as BD-rates with CIs."""

from codecbench.stages.machines import write_machines_summary
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        tasks = dict(smk.params.tasks)
        task_bd = {task: (tasks[task], path) for task, path in zip(tasks, smk.input.task_bd, strict=True)}
        write_machines_summary(
            smk.output[0], quality_tables=list(smk.input.quality), task_bd_tables=task_bd, bd=dict(smk.params.bd),
            statistics=dict(smk.params.statistics), trained=dict(smk.params.trained),
        )  # fmt: skip


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
