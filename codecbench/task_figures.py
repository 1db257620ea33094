"""Task figures: scores against rate with CI bands, the train-variant x test-variant accuracy map, prediction
flips, and training-set size against accuracy. Same codec colours and markers as every other figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import ORIGINAL_VARIANT, UNCOMPRESSED
from .figures import RATE_LABEL, _pyplot, codec_style, save_figure

SCORE_LABELS = {"accuracy": "accuracy", "macro_f1": "macro-F1", "cohen_kappa": "Cohen's kappa"}


def reference_variant(summary: pd.DataFrame) -> str:
    """The training variant the rate figures show: the model trained on original images when there is one."""
    variants = list(dict.fromkeys(summary.train_variant))
    return ORIGINAL_VARIANT if ORIGINAL_VARIANT in variants else variants[0]


def plot_scores(summary: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """Accuracy, macro-F1 and kappa against bpp per codec (CI bands) for the reference model; the score on
    uncompressed test images as a dashed line. Returns the codecs drawn."""
    plt = _pyplot()
    variant = reference_variant(summary)
    rows = summary[summary.train_variant == variant]
    fig, axes = plt.subplots(1, len(SCORE_LABELS), figsize=(15, 4.4))
    points = rows[rows.codec != UNCOMPRESSED]
    reference = rows[rows.codec == UNCOMPRESSED]
    codecs = sorted(points.codec.unique())
    for ax, (score, label) in zip(axes, SCORE_LABELS.items(), strict=True):
        for codec in codecs:
            curve = points[points.codec == codec].sort_values("bpp")
            style = codec_style(codec)
            ax.plot(curve.bpp, curve[score], label=codec, linewidth=1.4, markersize=4, **style)
            band = curve[f"{score}_ci_low"], curve[f"{score}_ci_high"]
            ax.fill_between(curve.bpp, *band, color=style["color"], alpha=0.15)
        if len(reference):
            ax.axhline(reference[score].iloc[0], color="black", linestyle="--", linewidth=1, label="uncompressed")
        ax.set_xlabel(RATE_LABEL)
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="x-small", ncols=2, loc="lower right")
    fig.suptitle(f"{title} (model trained on {variant})")
    save_figure(fig, png_path, svg_path)
    return codecs


def _test_label(codec: str, quality) -> str:
    return UNCOMPRESSED if codec == UNCOMPRESSED else f"{codec}/{quality}"


def plot_train_test_accuracy(summary: pd.DataFrame, title: str, png_path, svg_path=None) -> pd.DataFrame:
    """Accuracy of each training variant's model (rows) on each test variant (columns); returns the matrix."""
    plt = _pyplot()
    table = summary.assign(test=[_test_label(c, q) for c, q in zip(summary.codec, summary.quality, strict=True)])
    matrix = table.pivot(index="train_variant", columns="test", values="accuracy")
    columns = [UNCOMPRESSED, *[c for c in dict.fromkeys(table.test) if c != UNCOMPRESSED]]
    matrix = matrix.reindex(index=list(dict.fromkeys(table.train_variant)), columns=columns)
    fig, ax = plt.subplots(figsize=(max(6.4, 0.32 * len(columns) + 2.5), 1.0 + 0.5 * len(matrix)))
    image = ax.imshow(matrix.to_numpy(float), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize="x-small")
    ax.set_yticks(range(len(matrix)), [f"trained on {v}" for v in matrix.index], fontsize="small")
    if len(columns) * len(matrix) <= 400:
        for (i, j), value in np.ndenumerate(matrix.to_numpy(float)):
            if np.isfinite(value):
                colour = "white" if value < 0.6 else "black"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=5, color=colour)
    fig.colorbar(image, ax=ax, label="accuracy")
    ax.set_xlabel("test images")
    ax.set_title(title)
    save_figure(fig, png_path, svg_path)
    return matrix


def plot_flips(summary: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """Per point of each codec, the share of test images that flip right to wrong (down) and wrong to right (up)
    against the same model on uncompressed images, with CIs. Returns the codecs drawn."""
    plt = _pyplot()
    variant = reference_variant(summary)
    rows = summary[(summary.train_variant == variant) & (summary.codec != UNCOMPRESSED)].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(max(6.4, 0.25 * len(rows) + 2), 4.6))
    codecs = list(dict.fromkeys(rows.codec))
    labelled = set()
    for x, row in rows.iterrows():
        color = codec_style(row.codec)["color"]
        for name, sign in (("wrong_to_right", 1), ("right_to_wrong", -1)):
            value = 100 * row[name]
            error = 100 * np.array([[row[name] - row[f"{name}_ci_low"]], [row[f"{name}_ci_high"] - row[name]]])
            label = row.codec if sign < 0 and row.codec not in labelled else None
            if label:
                labelled.add(label)
            ax.bar(x, sign * value, color=color, alpha=1.0 if sign < 0 else 0.5, yerr=np.abs(error), capsize=1.5,
                   label=label)  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)), [f"{c}/{q}" for c, q in zip(rows.codec, rows.quality, strict=True)],
                  rotation=90, fontsize="x-small")  # fmt: skip
    ax.set_ylabel("share of test images (%)\nup: wrong to right, down: right to wrong")
    ax.set_title(f"{title} (model trained on {variant})")
    ax.grid(True, axis="y", alpha=0.3)
    if codecs:
        ax.legend(fontsize="x-small", ncols=2)
    save_figure(fig, png_path, svg_path)
    return codecs


def plot_training_sets(sizes: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """Bytes of each training set against its model's accuracy on uncompressed test images (with CIs).
    Returns the training variants drawn."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for row in sizes.dropna(subset=["train_bytes"]).itertuples():  # a user's own model has no known training set
        style = codec_style(row.codec) if row.codec != ORIGINAL_VARIANT else {"color": "black", "marker": "*"}
        error = [[row.accuracy_uncompressed - row.accuracy_uncompressed_ci_low],
                 [row.accuracy_uncompressed_ci_high - row.accuracy_uncompressed]]  # fmt: skip
        ax.errorbar(row.train_bytes / 1e6, row.accuracy_uncompressed, yerr=np.abs(error), capsize=2, markersize=7,
                    linestyle="none", label=row.train_variant, **style)  # fmt: skip
        ax.annotate(row.train_variant, (row.train_bytes / 1e6, row.accuracy_uncompressed), fontsize="x-small",
                    xytext=(4, 4), textcoords="offset points")  # fmt: skip
    ax.set_xlabel("training set size (MB of stored images)")
    ax.set_ylabel("accuracy on uncompressed test images")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, png_path, svg_path)
    return list(sizes.train_variant)
