"""Rule dataset_figures: every figure of one dataset (rate-quality curves and per-image spreads per metric,
coding time, BD-rates, the visual comparison grid). Each plotting function of codecbench.report.figures writes a PNG and
an SVG; the tables are read once.
"""

from pathlib import Path

import pandas as pd

from codecbench.io import read_rgb
from codecbench.report import figures
from codecbench.stages.points import ladder_images, read_rates
from codecbench.workflow import script_job


def rows_of_dataset(path, dataset):
    table = pd.read_csv(path, dtype={"image_id": str})
    return table[table.dataset == dataset]


def grid_figure(smk, dataset, table, out):
    settings = smk.params.grid
    image_id = settings["image"] or sorted(table.image_id)[0]
    if image_id not in set(table.image_id):
        raise ValueError(f"grid.image: image {image_id!r} is not in dataset {dataset!r}")
    root = Path(smk.input.manifest).parent
    reference = read_rgb(root / "images" / f"{image_id}.png")
    tiles = [("reference", figures.centre_crop(reference, settings["crop_px"]), "original pixels")]
    readings = smk.params.readings
    rates = {codec: read_rates(path) for codec, path in zip(readings, smk.input.rates, strict=True)}
    for point in figures.select_grid_points(table, image_id, settings["bpp"]).itertuples():
        stored = ladder_images(readings[point.codec], dataset, point.codec, point.quality, rates[point.codec], dataset)
        decoded = stored[stored.image_index(image_id)]
        caption = (
            f"{point.bpp:.3f} bpp, PSNR {point.psnr_rgb:.2f} dB" if "psnr_rgb" in table else f"{point.bpp:.3f} bpp"
        )
        tiles.append((f"{point.codec} q={point.quality}", figures.centre_crop(decoded, settings["crop_px"]), caption))
    title = f"{dataset}/{image_id}: centre crop, each codec's point nearest {settings['bpp']} bpp"
    figures.plot_comparison_grid(tiles, title, *out)
    return [tile[0] for tile in tiles]


def main(smk):
    dataset = smk.wildcards.dataset
    out = smk.output
    with script_job(smk) as log:
        summary = rows_of_dataset(smk.input.summary, dataset)
        quality = rows_of_dataset(smk.input.quality, dataset)
        for metric in smk.params.metrics:
            label = figures.metric_label(metric)
            title = f"{dataset}: {label} against rate (mean, {smk.params.confidence:.0%} CI)"
            drawn = figures.plot_rate_quality(summary, metric, title, out[f"rd_{metric}"], out[f"rd_{metric}_svg"])
            log.info("rd %s drew: %s", metric, ", ".join(map(str, drawn)) or "nothing")
            title = f"{dataset}: {label} of each image at each point"
            figures.plot_spread(quality, metric, title, out[f"spread_{metric}"], out[f"spread_{metric}_svg"])
        figures.plot_coding_time(summary, f"{dataset}: coding time", out.coding_time, out.coding_time_svg)
        bd_rows = rows_of_dataset(smk.input.bd_rate, dataset)
        drawn = figures.plot_bd_bars(bd_rows, f"{dataset}: BD-rate against the anchor", out.bd_rate, out.bd_rate_svg)
        log.info("bd_rate drew: %s", ", ".join(map(str, drawn)) or "nothing")
        drawn = grid_figure(smk, dataset, quality, (out.grid, out.grid_svg))
        log.info("grid drew: %s", ", ".join(drawn))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
