"""Rule task_tables: a task's per-point scores with CIs, improved/worsened shares, per-class and confusion tables,
training-set sizes against the headline score and BD-rate on the task's per-image quality."""

from codecbench.stages.task_tables import write_task_tables
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        write_task_tables(
            smk.params.task,
            smk.input.evaluations,
            dict(zip(smk.params.trained_variants, smk.input.training, strict=True)),
            dict(zip(smk.params.compressed_training_variants, smk.input.train_rates, strict=True)),
            smk.input.manifest,
            list(smk.params.train_variants),
            smk.params.anchor,
            dict(smk.params.bd),
            dict(smk.params.statistics),
            dict(smk.output.items()),
            dict(smk.params.references),
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
