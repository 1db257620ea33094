"""Rule machines_figure: each variant's BD-rates against its reference, and task gain against mask coverage."""

import pandas as pd

from codecbench.report.roi_figures import plot_machines_bd
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        summary = pd.read_csv(smk.input[0], dtype={"codec": str})
        title = "Compression for machines: each variant against its reference"
        plot_machines_bd(summary, title, smk.output.png, smk.output.svg)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
