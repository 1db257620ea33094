"""Rule codec_json: CompressAI-compatible JSON (per-quality means) for one codec on one dataset."""

from codecbench.aggregate import write_codec_json
from codecbench.workflow import job_log


def main(smk):
    with job_log(smk.log[0]):
        write_codec_json(smk.input, smk.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
