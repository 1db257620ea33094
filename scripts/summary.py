"""Rule summary: per-point means of every measurement with paired-bootstrap confidence intervals."""

from codecbench.stages.aggregate import write_summary
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        write_summary(smk.input[0], smk.output[0], list(smk.params.metrics), dict(smk.params.statistics))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
