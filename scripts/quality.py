"""Rules quality_ladder, quality_ladder_shard and quality_target: per-image quality metrics of every ladder point
of one (dataset, codec) (or of one shard of its images), or of one equal-rate point, as tidy rows; a whole ladder
also as CompressAI's JSON of per-quality means."""

from codecbench.aggregate import write_codec_json
from codecbench.compress import measure_ladder, measure_quality
from codecbench.config import normalise_quality
from codecbench.metrics import limit_threads
from codecbench.workflow import job_shard, script_job


def main(smk):
    with script_job(smk):
        limit_threads(smk.threads)
        keys = {"dataset": smk.wildcards.dataset, "codec": smk.wildcards.codec}
        metrics = list(smk.params.metrics)
        if "qualities" in smk.params.keys():  # a ladder: the input lists each point's rate table, then its folder
            files = list(smk.input.points)
            points = [
                (normalise_quality(q), files[2 * i], files[2 * i + 1]) for i, q in enumerate(smk.params.qualities)
            ]
            measure_ladder(smk.input.manifest, points, metrics, keys, smk.output[0], shard=job_shard(smk))
            if "compressai" in smk.output.keys():  # quality_ladder; a shard's rows are not the codec's means
                write_codec_json([smk.output.table], smk.output.compressai)
        else:
            keys["quality"] = smk.wildcards.quality  # 'target_<bpp>'
            measure_quality(smk.input.manifest, smk.input.rate, smk.input.decoded, metrics, keys, smk.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
