"""Rule compress_target: code a dataset with one codec at the quality per image nearest a target bpp, and measure
every decoded image."""

from pathlib import Path

from codecbench import layout
from codecbench.stages.compress import compress_ladder
from codecbench.stages.points import Point
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        dataset, codec, bpp = smk.wildcards.dataset, smk.wildcards.codec, smk.params.target_bpp
        point = Point(
            quality=layout.target_label(smk.wildcards.bpp),
            folder=Path(layout.target_point_dir(dataset, codec, smk.wildcards.bpp)),
            settings=smk.params.settings,
            keep_decoded=smk.params.keep_decoded,
            target_bpp=bpp,
        )
        keys = {"dataset": dataset, "codec": codec}
        compress_ladder(
            smk.input.manifest, [point], list(smk.params.metrics), keys, smk.output.rates, smk.output.table,
            plugin_code=smk.params.codec_plugin_code, threads=smk.threads,
        )  # fmt: skip


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
