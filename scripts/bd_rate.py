"""Rule bd_rate: BD-rate and BD-quality of every codec against the anchor, with bootstrap CIs."""

from codecbench.stages.aggregate import write_bd_table
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        table = write_bd_table(
            smk.input[0], smk.output[0], smk.params.anchor, dict(smk.params.bd), dict(smk.params.statistics)
        )
        log.info("%d BD rows against %s", len(table), smk.params.anchor)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
