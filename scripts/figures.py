"""Rules rd_figure, spread_figure, coding_time_figure, bd_figure and grid_figure: one dataset's figures.

One script serves the figure rules: each reads its table, keeps one dataset's rows and calls one plotting
function of codecbench.figures, which writes the PNG and the SVG.
"""

from pathlib import Path

import pandas as pd

from codecbench import figures
from codecbench.io import read_rgb
from codecbench.workflow import job_log


def rows_of_dataset(path, dataset):
    table = pd.read_csv(path, dtype={"image_id": str})
    return table[table.dataset == dataset]


def rd_figure(smk, dataset, out):
    metric = smk.wildcards.metric
    confidence = smk.config["statistics"]["confidence"]
    title = f"{dataset}: {figures.metric_label(metric)} against rate (mean, {confidence:.0%} CI)"
    return figures.plot_rate_quality(rows_of_dataset(smk.input[0], dataset), metric, title, *out)


def spread_figure(smk, dataset, out):
    metric = smk.wildcards.metric
    title = f"{dataset}: {figures.metric_label(metric)} of each image at each point"
    return figures.plot_spread(rows_of_dataset(smk.input[0], dataset), metric, title, *out)


def coding_time_figure(smk, dataset, out):
    return figures.plot_coding_time(rows_of_dataset(smk.input[0], dataset), f"{dataset}: coding time", *out)


def bd_figure(smk, dataset, out):
    return figures.plot_bd_bars(rows_of_dataset(smk.input[0], dataset), f"{dataset}: BD-rate against the anchor", *out)


def grid_figure(smk, dataset, out):
    settings = smk.params.grid
    table = rows_of_dataset(smk.input.table, dataset)
    image_id = settings["image"] or sorted(table.image_id)[0]
    if image_id not in set(table.image_id):
        raise ValueError(f"grid.image: image {image_id!r} is not in dataset {dataset!r}")
    root = Path(smk.input.manifest).parent
    reference = read_rgb(root / "images" / f"{image_id}.png")
    tiles = [("reference", figures.centre_crop(reference, settings["crop_px"]), "original pixels")]
    for point in figures.select_grid_points(table, image_id, settings["bpp"]).itertuples():
        decoded_path = Path(smk.params.compressed_dir, point.codec, str(point.quality), "decoded", f"{image_id}.png")
        decoded = read_rgb(decoded_path)
        caption = (
            f"{point.bpp:.3f} bpp, PSNR {point.psnr_rgb:.2f} dB" if "psnr_rgb" in table else f"{point.bpp:.3f} bpp"
        )
        tiles.append((f"{point.codec} q={point.quality}", figures.centre_crop(decoded, settings["crop_px"]), caption))
    title = f"{dataset}/{image_id}: centre crop, each codec's point nearest {settings['bpp']} bpp"
    figures.plot_comparison_grid(tiles, title, *out)
    return [tile[0] for tile in tiles]


def main(smk):
    with job_log(smk.log[0]) as log:
        drawn = globals()[smk.rule](smk, smk.wildcards.dataset, (smk.output.png, smk.output.svg))
        log.info("%s drew: %s", smk.rule, ", ".join(map(str, drawn)) or "nothing")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
