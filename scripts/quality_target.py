"""Rule quality_target: per-image quality metrics of one equal-rate point as tidy rows."""

from codecbench.metrics import limit_threads
from codecbench.stages.quality import measure_quality
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        limit_threads(smk.threads)
        keys = {"dataset": smk.wildcards.dataset, "codec": smk.wildcards.codec, "quality": smk.params.point}
        metrics = list(smk.params.metrics)
        measure_quality(smk.input.manifest, smk.input.rate, smk.input.decoded, metrics, keys, smk.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
