"""Rule make_masks: one mask id's masks of a dataset's test images, with their coverage."""

from pathlib import Path

from codecbench.masks import make_masks
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        table = make_masks(
            smk.input.manifest,
            smk.wildcards.mask,
            dict(smk.params.settings),
            Path(smk.output.masks).parent,
            task_checkpoint=smk.input.model[0] if smk.input.model else None,
            task_settings=smk.params.task_settings,
        )
        log.info("%d masks, mean coverage %.3f", len(table), table.coverage.mean() if len(table) else float("nan"))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
