"""Rule quality_table: one tidy table (CSV and Parquet) of every (dataset, codec, quality, image) measurement."""

from codecbench.aggregate import write_quality_table
from codecbench.workflow import job_log


def main(smk):
    with job_log(smk.log[0]) as log:
        table = write_quality_table(smk.input, smk.output.csv, smk.output.parquet)
        log.info("%d rows written", len(table))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
