"""Figures: rate-quality curves with confidence intervals, coding time, per-image spread, BD-rate bars and a
visual comparison grid. Every codec keeps one colour and marker in every figure; every figure is written as PNG
(for the report) and SVG (for papers)."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_path
from ..metrics import metric_label

MARKERS = "osD^v<>pPhX*"
RATE_LABEL = "rate (bits per pixel)"


# The order codecs take their colours in: a codec added to the registry is appended here, so that it takes a
# new colour instead of shifting everyone else's. Names not listed (trained codecs such as cae_small) follow.
STYLE_ORDER = (
    "jpeg", "webp", "avif", "jpegxl", "jpeg2000", "h264", "hevc", "av1", "vp9", "png", "original",
    "bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor", "cheng2020-attn",
    "cae", "h264_video", "hevc_video", "vp9_video", "av1_video", "ssf2020", "external",
)  # fmt: skip


def codec_style(name: str) -> dict:
    """The same colour and marker for a codec in every figure (fixed by its place in ``STYLE_ORDER``)."""
    import matplotlib

    if name in STYLE_ORDER:
        index = STYLE_ORDER.index(name)
    else:
        index = len(STYLE_ORDER) + zlib.crc32(name.encode()) % 32
    palette = [
        colour
        for colour in (*matplotlib.colormaps["tab10"].colors, *matplotlib.colormaps["Dark2"].colors)
        if max(colour) - min(colour) > 0.05  # no greys: they read as text and grid lines
    ]
    return {"color": palette[index % len(palette)], "marker": MARKERS[index % len(MARKERS)]}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # keep text as text in SVG: editable, and searchable in tests
    matplotlib.rcParams["svg.hashsalt"] = "codecbench"  # deterministic SVG ids: same data, same file
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, png_path: str | Path, svg_path: str | Path | None = None) -> None:
    """Write ``fig`` as PNG (and SVG), atomically, and close it."""
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    if svg_path is not None:
        with atomic_path(svg_path) as tmp:
            fig.savefig(tmp, format="svg")
    _pyplot().close(fig)


def _finite(values: pd.Series) -> pd.Series:
    return values.replace([np.inf, -np.inf], np.nan)


def plot_rate_quality(summary: pd.DataFrame, metric: str, title: str, png_path, svg_path=None) -> list[str]:
    """Mean ``metric`` against mean bpp per codec, with the bootstrap CI as error bars; return the codecs drawn.

    ``summary`` holds one dataset's rows: codec, quality, bpp, ``metric`` and ``metric``_ci_low/_ci_high.
    Codecs without a finite value (PSNR of a lossless codec is infinite) are listed under the axes instead.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    drawn, not_drawn = [], []
    for codec, rows in summary.groupby("codec", sort=True):
        rows = rows.assign(value=_finite(rows[metric])).dropna(subset=["value"]).sort_values("bpp")
        if rows.empty:
            not_drawn.append(f"{codec} ({summary.loc[summary.codec == codec, 'bpp'].min():.2f} bpp)")
            continue
        low, high = f"{metric}_ci_low", f"{metric}_ci_high"
        errors = None
        if low in rows and high in rows:
            errors = np.vstack([rows.value - _finite(rows[low]), _finite(rows[high]) - rows.value]).clip(min=0)
        ax.errorbar(
            rows.bpp, rows.value, yerr=errors, label=codec, linewidth=1.5, markersize=5, capsize=2, **codec_style(codec)
        )
        drawn.append(codec)
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel(metric_label(metric))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(loc="lower right", fontsize="small")
    if not_drawn:
        fig.text(0.01, 0.01, "no finite value (lossless), not drawn: " + ", ".join(not_drawn), fontsize="x-small")
    save_figure(fig, png_path, svg_path)
    return drawn


def plot_coding_time(summary: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """Mean encode and decode seconds per image against bpp, one panel each, log time axis."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
    codecs = sorted(summary.codec.unique())
    for ax, column, label in zip(axes, ("encode_s", "decode_s"), ("encode", "decode"), strict=True):
        for codec in codecs:
            rows = summary[summary.codec == codec].sort_values("bpp")
            ax.plot(rows.bpp, rows[column], label=codec, linewidth=1.2, markersize=4, **codec_style(codec))
        ax.set_yscale("log")
        ax.set_xlabel(RATE_LABEL)
        ax.set_ylabel(f"{label} time per image (s)")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize="small", loc="best")
    fig.suptitle(title)
    save_figure(fig, png_path, svg_path)
    return codecs


def plot_spread(table: pd.DataFrame, metric: str, title: str, png_path, svg_path=None) -> list[str]:
    """Per-image values of ``metric`` at every (codec, quality) point: a box plot with the images as dots.

    Points are ordered by codec, then by mean bpp; returns the point labels in plotting order.
    """
    plt = _pyplot()
    data = table.assign(value=_finite(table[metric])).dropna(subset=["value"])
    order = data.groupby(["codec", "quality"]).bpp.mean().reset_index().sort_values(["codec", "bpp"])
    labels, values, colours = [], [], []
    for point in order.itertuples():
        rows = data[(data.codec == point.codec) & (data.quality == point.quality)]
        labels.append(f"{point.codec} {point.quality}\n{point.bpp:.2f} bpp")
        values.append(rows.value.to_numpy())
        colours.append(codec_style(point.codec)["color"])
    fig, ax = plt.subplots(figsize=(max(6.4, 0.45 * len(labels) + 1.5), 4.8))
    if values:
        boxes = ax.boxplot(values, patch_artist=True, widths=0.6, showfliers=False)
        rng = np.random.default_rng(0)  # fixed jitter: the same figure from the same data
        for position, (vals, colour, box) in enumerate(zip(values, colours, boxes["boxes"], strict=True), start=1):
            box.set(facecolor=colour, alpha=0.35)
            ax.plot(position + rng.uniform(-0.15, 0.15, len(vals)), vals, ".", color=colour, markersize=3)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=90, fontsize="x-small")
    ax.set_ylabel(f"{metric_label(metric)} per image")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    save_figure(fig, png_path, svg_path)
    return [label.split("\n")[0] for label in labels]


def plot_bd_bars(bd: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """BD-rate against the anchor per codec (bars) and quality metric (groups), with bootstrap CIs.

    Unreliable values (curve overlap below 75%) are hatched; unavailable ones (no overlap) are marked 'n/a'.
    Returns the codecs drawn.
    """
    plt = _pyplot()
    metrics = list(dict.fromkeys(bd.metric))
    codecs = sorted(bd.codec.unique())
    fig, ax = plt.subplots(figsize=(max(6.4, 0.22 * len(metrics) * len(codecs) + 2.5), 4.8))
    width = 0.8 / max(1, len(codecs))
    for i, codec in enumerate(codecs):
        for j, metric in enumerate(metrics):
            row = bd[(bd.codec == codec) & (bd.metric == metric)]
            if row.empty:
                continue
            row = row.iloc[0]
            x = j + (i - (len(codecs) - 1) / 2) * width
            if not row.available or not math.isfinite(row.bd_rate_pct):
                ax.text(x, 0, "n/a", ha="center", va="top", fontsize="x-small", rotation=90)
                continue
            low, high = row.bd_rate_pct - row.bd_rate_ci_low, row.bd_rate_ci_high - row.bd_rate_pct
            ax.bar(
                x, row.bd_rate_pct, width, color=codec_style(codec)["color"], label=codec if j == 0 else None,
                hatch=None if row.bd_rate_reliable else "//", edgecolor="black", linewidth=0.5,
                yerr=[[max(low, 0)], [max(high, 0)]] if math.isfinite(low) and math.isfinite(high) else None,
                capsize=2,
            )  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(metrics)), [metric_label(m) for m in metrics], fontsize="small")
    ax.set_ylabel(f"BD-rate against {bd.anchor.iloc[0] if len(bd) else 'anchor'} (%)\nnegative = fewer bits")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    if codecs:
        ax.legend(fontsize="small", ncols=2)
    fig.text(
        0.01, 0.01, "hatched: quality ranges overlap < 75% (unreliable); n/a: curves do not overlap", fontsize="x-small"
    )
    save_figure(fig, png_path, svg_path)
    return codecs


def select_grid_points(table: pd.DataFrame, image_id: str, target_bpp: float) -> pd.DataFrame:
    """For one image, each lossy codec's point whose bpp is closest to ``target_bpp`` (ties: the lower bpp).

    Codecs that only ever reproduce the image exactly (infinite PSNR) are left out: the reference tile shows it.
    """
    rows = table[table.image_id == image_id]
    if "psnr_rgb" in rows:
        lossy = rows.groupby("codec").psnr_rgb.transform(lambda v: np.isfinite(v).any())
        rows = rows[lossy]
    rows = rows.assign(distance=lambda t: (t.bpp - target_bpp).abs())
    chosen = rows.sort_values(["codec", "distance", "bpp"]).groupby("codec", sort=True).head(1)
    return chosen.drop(columns="distance").reset_index(drop=True)


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return image[top : top + size, left : left + size]


def plot_comparison_grid(tiles: list[tuple[str, np.ndarray, str]], title: str, png_path, svg_path=None) -> None:
    """Show image crops side by side, each with its label above and its caption (bpp, PSNR) below."""
    plt = _pyplot()
    columns = min(4, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, crop, caption) in zip(axes.flat, tiles, strict=False):
        ax.imshow(crop, interpolation="nearest")
        ax.set_title(f"{label}\n{caption}", fontsize="small")
    fig.suptitle(title)
    save_figure(fig, png_path, svg_path)
