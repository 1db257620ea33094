"""Rules quality_ladder and quality_ladder_shard: per-image quality metrics of every ladder point of one
(dataset, codec) (or of one shard of its images) as tidy rows; a whole ladder also as CompressAI's JSON of
per-quality means."""

from codecbench.config.plan import normalise_quality
from codecbench.metrics import limit_threads
from codecbench.stages.aggregate import write_codec_json
from codecbench.stages.quality import measure_ladder
from codecbench.workflow import job_shard, script_job


def main(smk):
    with script_job(smk):
        limit_threads(smk.threads)
        keys = {"dataset": smk.wildcards.dataset, "codec": smk.wildcards.codec}
        qualities = [normalise_quality(q) for q in smk.params.qualities]
        points = list(zip(qualities, smk.input.rates, smk.input.decoded, strict=True))
        metrics = list(smk.params.metrics)
        measure_ladder(smk.input.manifest, points, metrics, keys, smk.output.table, shard=job_shard(smk))
        if smk.params.write_compressai_json:
            write_codec_json([smk.output.table], smk.output.compressai)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
