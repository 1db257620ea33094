"""Rule train_task: train a task's model on one training variant of its dataset (CUDA when present)."""

from pathlib import Path

from codecbench.stages.points import ladder_images, read_rates
from codecbench.stages.tasks import train_task_variant
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        import torch

        torch.set_num_threads(smk.threads)
        reading = smk.params.reading  # None for the original train split
        images = None
        if reading is not None:
            rates = read_rates(smk.input.rates)
            images = ladder_images(reading, reading["dataset"], reading["codec"], reading["quality"], rates)
        info = train_task_variant(
            smk.params.settings,
            smk.input.manifest,
            images,
            Path(smk.output.checkpoint).parent,
            smk.output.info,
        )
        log.info("trained %s on %s: %s", smk.wildcards.task, info.get("device"), smk.wildcards.train_variant)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
