"""Rule roi_figures: a dataset's PSNR inside/outside the mask against rate, and the plain-vs-ROI gallery."""

from pathlib import Path

import pandas as pd

from codecbench.datasets import read_split
from codecbench.io import read_rgb
from codecbench.masks import StoredMasks
from codecbench.report.roi_figures import equal_rate_pairs, gallery_image, plot_roi_gallery, plot_roi_quality
from codecbench.stages.points import ladder_images, read_rates
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        dataset = smk.wildcards.dataset
        table = pd.read_csv(smk.input.table, dtype={"image_id": str, "codec": str, "quality": str})
        plot_roi_quality(table, f"{dataset}: inside and outside the mask", smk.output.quality, smk.output.quality_svg)
        rates = dict(zip(smk.params.codecs, smk.input.rates, strict=True))
        masks = {Path(path).parent.name: StoredMasks(path) for path in smk.input.masks}
        image_id = gallery_image(table)
        files = dict(read_split(smk.input.manifest, "test")[["image_id", "file"]].itertuples(index=False))
        original = read_rgb(Path(smk.input.manifest).parent / files[image_id])
        tiles = []
        for plain, roi in equal_rate_pairs(table, image_id):
            mask = masks[roi["mask"]][image_id]
            for row in (plain, roi):
                ladder = read_rates(rates[row.codec])
                images = ladder_images(smk.params.readings[row.codec], dataset, row.codec, row.quality, ladder)
                decoded = images[images.image_index(image_id)]
                caption = f"{row.bpp:.3f} bpp, PSNR in {row.psnr_roi:.1f} / out {row.psnr_background:.1f} dB"
                tiles.append((f"{row.codec} q{row.quality}", decoded, mask, caption))
        if not tiles:
            tiles = [("original", original, masks[next(iter(masks))][image_id], "no ROI pair")]
        plot_roi_gallery(tiles, f"{dataset}, image {image_id}: plain and ROI at about equal rate", smk.output.gallery)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
