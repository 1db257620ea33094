"""Rule equal_rate_table: every codec at the same target rates, per image and as means with bootstrap CIs."""

from codecbench.stages.aggregate import write_equal_rate_tables
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        write_equal_rate_tables(
            smk.input, smk.output.rows, smk.output.summary, list(smk.params.metrics), dict(smk.params.statistics)
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
