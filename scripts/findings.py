"""Rule findings: what the run found, in sentences from its BD table and each task's tables."""

from codecbench.report.findings import write_findings
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        task_tables = {
            name: {"task": kind, "summary": smk.input[f"summary_{name}"], "agreement": smk.input[f"agreement_{name}"]}
            for name, kind in smk.params.tasks.items()
        }
        table = write_findings(
            smk.input.bd, smk.params.metrics, task_tables, smk.output.table, smk.output.markdown, smk.output.html,
            machines_csv=smk.input.get("machines"), self_scorers=dict(smk.params.self_scorers),
        )  # fmt: skip
        log.info("%d findings, %d beyond their CI", len(table), int(table.beyond_ci.sum()))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
