"""Figures of compression for machines: quality inside and outside the ROI mask against rate, every variant's
BD-rates against its reference (ROI variants against their plain codecs, task-trained codecs against their
controls) and the ROI variants' task gain against mask coverage, and a gallery of plain and ROI images at about
equal rate with the mask drawn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .figures import RATE_LABEL, _finite, _pyplot, codec_style, save_figure

MEASURE_LABELS = {
    "psnr_roi": "PSNR inside the mask (dB)",
    "psnr_background": "PSNR outside the mask (dB)",
    "ms_ssim": "whole-image MS-SSIM",
}


def _mean_band(values: pd.Series, confidence: float = 0.95) -> tuple[float, float, float]:
    """The mean and its normal-approximation interval (a figure's band; the tables carry bootstrap CIs)."""
    from scipy import stats

    values = _finite(values).dropna()
    if values.empty:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    half = float(stats.norm.ppf(0.5 + confidence / 2) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def plot_roi_quality(table: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """PSNR inside and outside the mask against bpp, per ROI variant (solid) and its plain codec (dashed) for the
    same mask, with 95% bands over images; returns the curves drawn as 'codec (mask)'."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    drawn = []
    for (codec, mask), rows in table.groupby(["codec", "mask"], sort=True):
        role = rows.role.iloc[0]
        label = f"{codec} ({mask})" if role == "roi" else f"{codec}, plain ({mask})"
        for ax, measure in zip(axes, ("psnr_roi", "psnr_background"), strict=True):
            points = [(g.bpp.mean(), *_mean_band(g[measure])) for _, g in rows.groupby("quality")]
            points = sorted(p for p in points if math.isfinite(p[1]))
            if not points:
                continue
            bpp, mean, low, high = (np.array(column) for column in zip(*points, strict=True))
            style = codec_style(codec)
            ax.plot(bpp, mean, linestyle="-" if role == "roi" else "--", label=label, **style)
            ax.fill_between(bpp, low, high, color=style["color"], alpha=0.15)
        drawn.append(label)
    for ax, measure in zip(axes, ("psnr_roi", "psnr_background"), strict=True):
        ax.set_xlabel(RATE_LABEL)
        ax.set_ylabel(MEASURE_LABELS[measure])
        ax.grid(True, alpha=0.3)
    if drawn:
        axes[0].legend(fontsize="x-small")
    fig.suptitle(title)
    save_figure(fig, png_path, svg_path)
    return drawn


def plot_machines_bd(summary: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """Left: each variant's BD-rate against its reference per measure (task scores and, for ROI variants, image
    quality) with its CI; a bar whose CI excludes 0 is solid, one that holds 0 is hatched (no finding). Right: the
    ROI variants' task BD-rates against the mask's mean coverage. Labels carry the mask's kind (oracle: ground
    truth) or, for a codec trained for a task, how it was trained."""
    plt = _pyplot()
    rows = summary.dropna(subset=["bd_rate_pct"]).reset_index(drop=True)
    height = max(3.5, 0.32 * len(rows) + 1.5)
    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(13, height), width_ratios=(2, 1))
    labels = []
    for y, row in enumerate(rows.itertuples(index=False)):
        colour = codec_style(row.codec)["color"]
        low, high = row.bd_rate_pct - row.bd_rate_ci_low, row.bd_rate_ci_high - row.bd_rate_pct
        error = [[max(low, 0)], [max(high, 0)]] if math.isfinite(low) and math.isfinite(high) else None
        bars.barh(
            y, row.bd_rate_pct, color=colour, xerr=error, capsize=2, edgecolor="black", linewidth=0.5,
            hatch=None if row.finding else "//", alpha=1.0 if row.finding else 0.6,
        )  # fmt: skip
        measure = MEASURE_LABELS.get(row.measure, f"{row.scorer}: {row.measure}")
        how = f"{row.mask_kind} mask" if row.mask_kind != "none" else row.strategy
        labels.append(f"{row.codec} vs {row.compare_to} [{how}]\n{measure}")
    bars.set_yticks(range(len(labels)), labels, fontsize="x-small")
    bars.invert_yaxis()
    bars.axvline(0, color="black", linewidth=0.8)
    bars.set_xlabel("BD-rate against the reference (%), negative = fewer bits at equal score")
    bars.grid(True, axis="x", alpha=0.3)
    tasks = rows[(rows.scorer != "image") & (rows.mask_kind != "none")]
    for row in tasks.itertuples(index=False):
        scatter.errorbar(
            row.coverage, row.bd_rate_pct, yerr=[[max(row.bd_rate_pct - row.bd_rate_ci_low, 0)],
            [max(row.bd_rate_ci_high - row.bd_rate_pct, 0)]], capsize=2, label=f"{row.codec} ({row.scorer})",
            **codec_style(row.codec),
        )  # fmt: skip
    scatter.axhline(0, color="black", linewidth=0.8)
    scatter.set_xlabel("mean mask coverage (fraction of pixels)")
    scatter.set_ylabel("task BD-rate against the plain codec (%)")
    scatter.grid(True, alpha=0.3)
    if len(tasks):
        scatter.legend(fontsize="x-small")
    else:
        scatter.text(0.5, 0.5, "no ROI variant scored by a task", ha="center", transform=scatter.transAxes)
    fig.suptitle(title)
    fig.text(0.01, 0.005, "hatched: the CI holds no change (not a finding)", fontsize="x-small")
    save_figure(fig, png_path, svg_path)
    return list(dict.fromkeys(rows.codec))


def equal_rate_pairs(table: pd.DataFrame, image_id: str) -> list[tuple[pd.Series, pd.Series]]:
    """For one image, per ROI variant the (plain, ROI) points whose bpp are closest to each other."""
    pairs = []
    image = table[table.image_id == image_id]
    for _, roi in image[image.role == "roi"].groupby("codec", sort=True):
        plain = image[
            (image.role == "plain") & (image.codec == roi.compare_to.iloc[0]) & (image["mask"] == roi["mask"].iloc[0])
        ]
        if plain.empty:
            continue
        distance = np.abs(roi.bpp.to_numpy()[:, None] - plain.bpp.to_numpy()[None, :])
        i, j = np.unravel_index(np.argmin(distance), distance.shape)
        pairs.append((plain.iloc[j], roi.iloc[i]))
    return pairs


def gallery_image(table: pd.DataFrame) -> str:
    """The image a gallery shows: the one whose mask coverage is nearest the median (a typical scene)."""
    coverage = table.drop_duplicates("image_id").set_index("image_id").coverage
    return str((coverage - coverage.median()).abs().sort_values(kind="stable").index[0])


def plot_roi_gallery(tiles: list[tuple[str, np.ndarray, np.ndarray, str]], title: str, png_path) -> None:
    """Plain and ROI images side by side (label, image, mask, caption), the mask's outline drawn in."""
    plt = _pyplot()
    columns = 2
    rows = max(1, math.ceil(len(tiles) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, image, mask, caption) in zip(axes.flat, tiles, strict=False):
        ax.imshow(image, interpolation="nearest")
        if mask.any() and not mask.all():
            ax.contour(mask.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        ax.set_title(f"{label}\n{caption}", fontsize="small")
    fig.suptitle(title)
    save_figure(fig, png_path)
