"""Rule prepare_dataset: normalise one dataset's images to 8-bit RGB PNGs and write its manifest."""

from pathlib import Path

from codecbench.datasets import prepare_dataset
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        prepare_dataset(
            smk.wildcards.dataset,
            smk.params.settings,
            out_dir=Path(smk.output.manifest).parent,
            downloads_dir=smk.params.downloads_dir,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
