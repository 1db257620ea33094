"""Rule complexity: parameters and kMAC/px of every network of the run, coding seconds per megapixel per point."""

from codecbench.stages.complexity import write_complexity
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        import torch

        torch.set_num_threads(smk.threads)
        table = write_complexity(
            smk.input.quality, smk.params.codecs, smk.params.task_models, smk.output.table, smk.output.png,
            smk.output.svg,
        )  # fmt: skip
        log.info("%d codec points and %d task models", (table.kind == "codec").sum(), (table.kind != "codec").sum())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
