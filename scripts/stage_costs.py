"""Rule stage_costs: wall and CPU time, peak memory and job count per stage, from the jobs' benchmark TSVs (the
rule's inputs, named by stage)."""

from codecbench.report.stage_costs import write_stage_costs
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        benchmarks = {stage: list(smk.input[stage]) for stage in smk.input.keys()}
        table = write_stage_costs(benchmarks, smk.output.table, smk.output.png, smk.output.svg)
        log.info("%d jobs in %d stages, %.0f s of wall time", table.jobs.sum(), len(table), table.wall_s.sum())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
