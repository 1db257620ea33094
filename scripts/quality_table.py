"""Rule quality_table: one tidy table (CSV and Parquet) of every (dataset, codec, quality, image) measurement."""

from codecbench.stages.aggregate import write_quality_table
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        table = write_quality_table(smk.input, smk.output.csv, smk.output.parquet)
        log.info("%d rows written", len(table))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
