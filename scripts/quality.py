"""Rule quality: per-image quality metrics of one (dataset, codec, quality) point, as tidy rows."""

from codecbench.compress import measure_quality
from codecbench.config import normalise_quality
from codecbench.metrics import limit_threads
from codecbench.workflow import job_log


def quality_key(label):
    """A ladder point's quality as a number (a trained codec's model index too); an equal-rate point keeps its
    label ('target_0.5')."""
    return label if label.startswith("target_") else normalise_quality(float(label))


def main(smk):
    with job_log(smk.log[0]):
        limit_threads(smk.threads)
        codec = smk.wildcards.codec
        keys = {
            "dataset": smk.wildcards.dataset,
            "codec": codec,
            "quality": quality_key(smk.wildcards.quality),
        }
        measure_quality(
            smk.input.manifest, smk.input.rate, smk.input.decoded, list(smk.params.metrics), keys, smk.output[0]
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
