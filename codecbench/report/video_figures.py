"""Figures of video datasets: quality (or a task's score) against kbit/s per codec, and per-frame traces.

Rates of a video dataset are per clip: a clip's bytes (the sum over its frames' rows, which for a video codec add
up to its file and for an image codec are its frames' files) over its duration. A point's kbit/s is its clips'
bytes over their summed durations, so a dataset of several clips is weighted by their length.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config.plan import UNCOMPRESSED
from .figures import _finite, _pyplot, codec_style, metric_label, save_figure

KBPS_LABEL = "rate (kbit/s)"


def with_frames(rows: pd.DataFrame, frames: pd.DataFrame) -> pd.DataFrame:
    """Per-frame rows (``image_id``, ``bytes``, ...) with their clip, frame index and fps from ``frames.csv``
    (rows of codecs that wrote their own ``clip``/``frame``/``fps`` get the same values)."""
    own = [c for c in ("clip", "frame", "fps") if c in rows.columns]
    merged = rows.drop(columns=own).merge(frames, on="image_id", how="left", validate="m:1")
    missing = merged["clip"].isna()
    if missing.any():
        raise ValueError(f"frames.csv lacks frames {list(merged.image_id[missing])[:5]}")
    return merged


def point_rates(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (codec, quality) of frame rows (with ``clip``, ``fps``, ``bytes``): kbit/s, mean bpp and frames."""
    rows = rows.assign(seconds=1.0 / rows.fps)
    grouped = rows.groupby(["codec", "quality"], sort=False).agg(
        bytes=("bytes", "sum"), seconds=("seconds", "sum"), bpp=("bpp", "mean"), frames=("bytes", "size")
    )
    grouped["kbps"] = grouped.bytes * 8.0 / grouped.seconds / 1000.0
    return grouped.reset_index()


def _plain_numbers(only: tuple[int, ...] | None = None):
    """Tick labels such as 50 and 200 on a log axis (matplotlib's default writes 5x10^1); with ``only``, just the
    ticks whose leading digit is one of those (minor ticks would crowd the axis)."""
    import math

    from matplotlib.ticker import FuncFormatter

    def label(value: float, _position) -> str:
        leading = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
        return f"{value:g}" if only is None or leading in only else ""

    return FuncFormatter(label)


def _kbps_axes(ax, points: pd.DataFrame, value: str, label: str, reference: float | None) -> list[str]:
    drawn = []
    for codec, rows in points.groupby("codec", sort=True):
        rows = rows.assign(y=_finite(rows[value])).dropna(subset=["y"]).sort_values("kbps")
        if rows.empty:
            continue
        ax.plot(rows.kbps, rows.y, label=codec, linewidth=1.5, markersize=5, **codec_style(codec))
        drawn.append(codec)
    if reference is not None and np.isfinite(reference):
        ax.axhline(reference, color="black", linestyle="--", linewidth=1, label="uncompressed")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_plain_numbers())
    ax.xaxis.set_minor_formatter(_plain_numbers(only=(2, 5)))
    ax.set_xlabel(KBPS_LABEL)
    ax.set_ylabel(label)
    ax.grid(True, which="both", alpha=0.3)
    return drawn


def plot_kbps_curves(
    panels: list[tuple[pd.DataFrame, str, str]], title: str, png_path, svg_path=None, reference: float | None = None
) -> list[str]:
    """One panel per ``(points, value column, axis label)``: the value against kbit/s per codec (log rate axis),
    from one row per (codec, quality) with ``kbps``; ``reference`` (the value on uncompressed frames, single-panel
    figures) as a dashed line. Returns the codecs drawn."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    drawn: dict[str, None] = {}
    for ax, (points, value, label) in zip(axes[0], panels, strict=True):
        drawn |= dict.fromkeys(_kbps_axes(ax, points, value, label, reference))
    if drawn:
        axes[0][0].legend(loc="best", fontsize="small")
    fig.suptitle(title)
    save_figure(fig, png_path, svg_path)
    return list(drawn)


def quality_points(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (codec, quality) of frame rows: kbit/s and the mean of ``metric`` over frames (infinite values, from
    lossless frames, count as missing)."""
    means = rows.assign(m=_finite(rows[metric])).groupby(["codec", "quality"], sort=False).m.mean().rename(metric)
    return point_rates(rows).merge(means.reset_index(), on=["codec", "quality"])


def kbps_table(rows: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per (codec, quality) of a video dataset's frame rows: ``kbps``, ``bytes``, ``seconds`` (the clips'
    summed durations), mean ``bpp``, ``frames`` and the mean of each of ``metrics`` over frames (as
    :func:`quality_points`), the points of each codec by rate."""
    table = point_rates(rows)
    for metric in metrics:
        table = table.merge(quality_points(rows, metric)[["codec", "quality", metric]], on=["codec", "quality"])
    return table.sort_values(["codec", "kbps"], kind="stable", ignore_index=True)


def middle_points(rows: pd.DataFrame) -> pd.DataFrame:
    """Each codec's ladder point of median rate (the lower of the two middle ones): the traces' points."""
    rates = rows.groupby(["codec", "quality"]).bpp.mean().reset_index().sort_values(["codec", "bpp"])
    middle = [group.iloc[[(len(group) - 1) // 2]] for _, group in rates.groupby("codec", sort=True)]
    return pd.concat(middle)[["codec", "quality"]]


def plot_frame_traces(rows: pd.DataFrame, metric: str, title: str, png_path, svg_path=None) -> list[str]:
    """Per-frame ``metric`` (top) and coded bytes (bottom, log) over the frames of the first clip, one line per
    codec at its middle ladder point; frames coded as I (key) frames are ringed. Returns '<codec> <quality>'."""
    plt = _pyplot()
    clip = sorted(rows["clip"].unique())[0]
    rows = rows[rows["clip"] == clip]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    drawn = []
    for point in middle_points(rows).itertuples():
        trace = rows[(rows.codec == point.codec) & (rows.quality == point.quality)].sort_values("frame")
        style = codec_style(point.codec)
        label = f"{point.codec} {point.quality}"
        top.plot(trace.frame, _finite(trace[metric]), label=label, linewidth=1.2, markersize=3, **style)
        bottom.plot(trace.frame, trace.bytes, linewidth=1.2, markersize=3, **style)
        if "frame_type" in trace:
            keys = trace[trace.frame_type == "I"]
            bottom.plot(keys.frame, keys.bytes, "o", markersize=9, markerfacecolor="none", color=style["color"])
        drawn.append(label)
    top.set_ylabel(metric_label(metric))
    top.set_title(title)
    top.grid(True, alpha=0.3)
    if drawn:
        top.legend(fontsize="small", ncols=2, loc="best")
    bottom.set_yscale("log")
    bottom.set_xlabel(f"frame of clip {clip}")
    bottom.set_ylabel("bytes per frame (ringed: I frames)")
    bottom.grid(True, which="both", alpha=0.3)
    save_figure(fig, png_path, svg_path)
    return drawn


def task_points(predictions: pd.DataFrame, summary: pd.DataFrame, frames: pd.DataFrame, variant: str) -> pd.DataFrame:
    """One model's (``variant``) summary rows of the compressed points with their kbit/s, computed from the bytes
    of the evaluated frames (``predictions``: the per-image evaluation rows)."""
    rows = predictions[(predictions.train_variant == variant) & (predictions.codec != UNCOMPRESSED)]
    rates = point_rates(with_frames(rows, frames))[["codec", "quality", "kbps"]]
    scores = summary[(summary.train_variant == variant) & (summary.codec != UNCOMPRESSED)]
    # Ladders mix int and float knobs across codecs: compare qualities as text, as the tables store them.
    rates = rates.assign(quality=rates.quality.astype(str))
    return scores.assign(quality=scores.quality.astype(str)).merge(rates, on=["codec", "quality"], validate="1:1")


__all__ = [
    "kbps_table",
    "task_points",
    "plot_frame_traces",
    "plot_kbps_curves",
    "point_rates",
    "quality_points",
    "with_frames",
]
