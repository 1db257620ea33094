"""Rules compress_ladder, compress_training_set and compress_ladder_shard: code one (dataset, codec)'s points (or
one shard of its images) and, unless a training set, measure every decoded image; a whole ladder also as
CompressAI's JSON of per-quality means."""

from pathlib import Path

from codecbench import layout
from codecbench.config.plan import dataset_view
from codecbench.stages.aggregate import write_codec_json
from codecbench.stages.compress import compress_ladder
from codecbench.stages.points import Point
from codecbench.workflow import job_shard, script_job


def main(smk):
    with script_job(smk):
        dataset, codec = smk.wildcards.dataset, smk.wildcards.codec
        points = [
            Point(
                quality=point["quality"],
                folder=Path(layout.point_dir(dataset, codec, point["quality"])),
                settings=smk.params.settings,
                keep_decoded=smk.params.keep_decoded,
                checkpoint=point["checkpoint"],
                extra=point["extra"],
                masks=smk.input.masks[0] if smk.input.masks else None,
            )
            for point in smk.params.points
        ]
        measure = smk.params.measure
        compress_ladder(
            smk.input.manifest,
            points,
            list(smk.params.metrics),
            {"dataset": dataset, "codec": codec},
            smk.output.rates,
            smk.output.table if measure else None,
            split=dataset_view(dataset)[1],
            shard=job_shard(smk),
            plugin_code=smk.params.codec_plugin_code,
            threads=smk.threads,
        )
        if measure and job_shard(smk) is None:
            write_codec_json([smk.output.table], smk.output.compressai)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
