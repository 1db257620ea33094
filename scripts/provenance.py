"""Rule provenance: git commit, config and its hash, software versions and where the jobs ran."""

import json
from pathlib import Path

import pandas as pd

from codecbench.io import write_text_atomic
from codecbench.report.provenance import collect_provenance, provenance_line
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        table = pd.read_csv(smk.input[0], dtype={"image_id": str})
        provenance = collect_provenance(dict(smk.config), Path(smk.scriptdir).parent, table)
        write_text_atomic(smk.output.json, json.dumps(provenance, indent=2, default=str) + "\n")
        write_text_atomic(smk.output.line, provenance_line(provenance) + "\n")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
