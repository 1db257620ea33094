"""Task figures: scores against rate with CI bands, the train-variant x test-variant map of the headline score,
the shares of images that improved or worsened, the per-class change at each codec's lowest rate, and
training-set size against the headline score. Same codec colours and markers as every other figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config.plan import ORIGINAL_VARIANT, UNCOMPRESSED, normalise_quality
from ..tasks import TASKS
from .figures import RATE_LABEL, _pyplot, codec_style, save_figure


def score_label(score: str) -> str:
    """The axis label of a score column: the one a registered task declares in ``score_labels`` (the first such
    task), else the column's name with '_' shown as ' '."""
    for task in TASKS.values():
        if score in task.score_labels:
            return task.score_labels[score]
    return score.replace("_", " ")


def reference_variant(summary: pd.DataFrame) -> str:
    """The training variant the rate figures show: the model trained on original images when there is one."""
    variants = list(dict.fromkeys(summary.train_variant))
    return ORIGINAL_VARIANT if ORIGINAL_VARIANT in variants else variants[0]


def plot_scores(summary: pd.DataFrame, title: str, png_path, svg_path=None, scores=("accuracy", "macro_f1",
                "cohen_kappa")) -> list[str]:  # fmt: skip
    """Each of ``scores`` against bpp per codec (CI bands) for the reference model; the score on uncompressed
    test images as a dashed line. Returns the codecs drawn."""
    plt = _pyplot()
    variant = reference_variant(summary)
    rows = summary[summary.train_variant == variant]
    fig, axes = plt.subplots(1, len(scores), figsize=(5 * len(scores), 4.4), squeeze=False)
    axes = axes[0]
    points = rows[rows.codec != UNCOMPRESSED]
    reference = rows[rows.codec == UNCOMPRESSED]
    codecs = sorted(points.codec.unique())
    for ax, score in zip(axes, scores, strict=True):
        for codec in codecs:
            curve = points[points.codec == codec].sort_values("bpp")
            style = codec_style(codec)
            ax.plot(curve.bpp, curve[score], label=codec, linewidth=1.4, markersize=4, **style)
            band = curve[f"{score}_ci_low"], curve[f"{score}_ci_high"]
            ax.fill_between(curve.bpp, *band, color=style["color"], alpha=0.15)
        if len(reference):
            ax.axhline(reference[score].iloc[0], color="black", linestyle="--", linewidth=1, label="uncompressed")
        ax.set_xlabel(RATE_LABEL)
        ax.set_ylabel(score_label(score))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="x-small", ncols=2, loc="best")
    fig.suptitle(f"{title} (model trained on {variant})")
    save_figure(fig, png_path, svg_path)
    return codecs


def _test_label(codec: str, quality) -> str:
    return UNCOMPRESSED if codec == UNCOMPRESSED else f"{codec}/{quality}"


def plot_train_test_accuracy(
    summary: pd.DataFrame, title: str, png_path, svg_path=None, score: str = "accuracy"
) -> pd.DataFrame:
    """``score`` of each training variant's model (rows) on each test variant (columns); returns the matrix."""
    plt = _pyplot()
    table = summary.assign(test=[_test_label(c, q) for c, q in zip(summary.codec, summary.quality, strict=True)])
    matrix = table.pivot(index="train_variant", columns="test", values=score)
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
    fig.colorbar(image, ax=ax, label=score_label(score))
    ax.set_xlabel("test images")
    ax.set_title(title)
    save_figure(fig, png_path, svg_path)
    return matrix


def plot_changes(summary: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """Per point of each codec, the share of test images that got worse (down) and better (up) against the same
    model on uncompressed images, with CIs. Returns the codecs drawn."""
    plt = _pyplot()
    variant = reference_variant(summary)
    rows = summary[(summary.train_variant == variant) & (summary.codec != UNCOMPRESSED)].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(max(6.4, 0.25 * len(rows) + 2), 4.6))
    codecs = list(dict.fromkeys(rows.codec))
    labelled = set()
    for x, row in rows.iterrows():
        color = codec_style(row.codec)["color"]
        for name, sign in (("improved", 1), ("worsened", -1)):
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
    ax.set_ylabel("share of test images (%)\nup: improved, down: worsened")
    ax.set_title(f"{title} (model trained on {variant})")
    ax.grid(True, axis="y", alpha=0.3)
    if codecs:
        ax.legend(fontsize="x-small", ncols=2)
    save_figure(fig, png_path, svg_path)
    return codecs


def plot_training_sets(sizes: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """Bytes of each training set against its model's headline score on uncompressed test images (with CIs).
    Returns the training variants drawn."""
    plt = _pyplot()
    score = sizes.score.iloc[0] if len(sizes) else "accuracy"
    value, low, high = (sizes[f"{score}_uncompressed{suffix}"] for suffix in ("", "_ci_low", "_ci_high"))
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for i in np.flatnonzero(sizes.train_bytes.notna().to_numpy()):  # a ready model has no known training set
        row = sizes.iloc[i]
        style = codec_style(row.codec) if row.codec != ORIGINAL_VARIANT else {"color": "black", "marker": "*"}
        error = [[value.iloc[i] - low.iloc[i]], [high.iloc[i] - value.iloc[i]]]
        ax.errorbar(row.train_bytes / 1e6, value.iloc[i], yerr=np.abs(error), capsize=2, markersize=7,
                    linestyle="none", label=row.train_variant, **style)  # fmt: skip
        ax.annotate(row.train_variant, (row.train_bytes / 1e6, value.iloc[i]), fontsize="x-small",
                    xytext=(4, 4), textcoords="offset points")  # fmt: skip
    ax.set_xlabel("training set size (MB of stored images)")
    ax.set_ylabel(f"{score_label(score)} on uncompressed test images")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, png_path, svg_path)
    return list(sizes.train_variant)


def plot_per_class_change(per_class: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """Per class, the change of its score against uncompressed images at each codec's worst point (the quality
    whose mean change over classes is most negative), for the reference model: which classes lose most. Returns
    the classes drawn (empty for tasks without classes)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    points = per_class[per_class.codec != UNCOMPRESSED]
    points = points[points.score == points.score.iloc[0]] if len(points) else points  # the task's first score
    classes: list[str] = []
    if len(points):
        variant = reference_variant(per_class)
        points = points[points.train_variant == variant]
        codecs = sorted(points.codec.unique())
        classes = sorted(points["class"].astype(str).unique())
        width = 0.8 / max(len(codecs), 1)
        for k, codec in enumerate(codecs):
            rows = points[points.codec == codec]
            worst = rows.groupby("quality").change.mean().idxmin()
            rows = rows[rows.quality == worst].set_index(rows[rows.quality == worst]["class"].astype(str))
            heights = [float(rows.change.get(c, np.nan)) for c in classes]
            ax.bar(np.arange(len(classes)) + k * width, heights, width, label=f"{codec}/{worst}",
                   color=codec_style(codec)["color"])  # fmt: skip
        ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, classes, rotation=90, fontsize="x-small")
        ax.set_ylabel(f"change of {score_label(str(points.score.iloc[0]))}\nagainst uncompressed")
        ax.legend(fontsize="x-small", ncols=2)
        ax.set_title(f"{title} (model trained on {variant})")
    else:
        ax.text(0.5, 0.5, "this task has no per-class scores", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.axhline(0, color="black", linewidth=0.8)
    save_figure(fig, png_path, svg_path)
    return classes


def gallery_examples(table: pd.DataFrame, task, per_kind: int = 3) -> pd.DataFrame:
    """Examples for the gallery, from the reference model's per-sample rows: the ``per_kind`` images whose sample
    quality rose most against the uncompressed image (``improved``), fell most (``worsened``), and unchanged ones
    at the lowest rates; each image at most once. Columns: the row's own plus ``change``, ``kind`` and
    ``reference_caption`` (the uncompressed image's :meth:`~codecbench.tasks.Task.describe_sample`)."""
    variant = reference_variant(table)
    rows = table[table.train_variant == variant]
    quality = task.sample_quality
    reference = rows[rows.codec == UNCOMPRESSED].set_index("image_id")
    points = rows[rows.codec != UNCOMPRESSED].copy()
    points["change"] = (
        points[quality].astype(float).to_numpy() - reference[quality].astype(float).reindex(points.image_id).to_numpy()
    )
    chosen, used = [], set()
    for kind, subset in (
        ("improved", points[points.change > 0].sort_values(["change", "bpp"], ascending=[False, True])),
        ("worsened", points[points.change < 0].sort_values(["change", "bpp"], ascending=[True, True])),
        ("unchanged", points[points.change == 0].sort_values("bpp")),
    ):
        taken = 0
        for _, row in subset.iterrows():
            if taken == per_kind:
                break
            if row.image_id in used:
                continue
            used.add(row.image_id)
            caption = task.describe_sample(reference.loc[row.image_id])
            chosen.append(row.to_dict() | {"kind": kind, "reference_caption": caption})
            taken += 1
    return pd.DataFrame(chosen)


def plot_gallery(table: pd.DataFrame, task, image_files: dict, decoded_image, title: str, png_path) -> pd.DataFrame:
    """Side by side, uncompressed and compressed, the :func:`gallery_examples` with the task's reading of each
    (``image_files``: image id -> the prepared file; ``decoded_image(codec, quality, image_id)``: the point's
    decoded image, see :mod:`codecbench.stages.points`). PNG only: the pixels are the point. Returns the examples
    shown."""
    from ..io import read_rgb

    plt = _pyplot()
    examples = gallery_examples(table, task)
    n = max(len(examples), 1)
    fig, axes = plt.subplots(n, 2, figsize=(8, 1.9 * n + 0.6), squeeze=False)
    for axis_row, (_, example) in zip(axes, examples.iterrows(), strict=False):
        quality = normalise_quality(example.quality)  # as in the ladder: 50, not 50.0
        decoded = decoded_image(str(example.codec), quality, example.image_id)
        point = f"{example.kind}: {example.codec}/{example.quality}, {example.bpp:.2f} bpp"
        for ax, image, caption in (
            (axis_row[0], read_rgb(image_files[example.image_id]), f"{example.image_id}: {example.reference_caption}"),
            (axis_row[1], decoded, f"{point}: {task.describe_sample(example)}"),
        ):
            ax.imshow(image, interpolation="nearest")
            ax.set_title(caption, fontsize=6.5)
            ax.set_axis_off()
    if examples.empty:
        axes[0][0].text(0.5, 0.5, "no compressed test points", ha="center", transform=axes[0][0].transAxes)
        for ax in axes[0]:
            ax.set_axis_off()
    fig.suptitle(f"{title} (model trained on {reference_variant(table)})", fontsize=9)
    save_figure(fig, png_path)
    return examples


def plot_metric_agreement(table: pd.DataFrame, title: str, png_path, svg_path=None) -> list[str]:
    """Per quality metric (and bpp), its Spearman correlation with the task's per-image quality across the
    compressed points, with its bootstrap CI; bpp's level dashed (a metric is worth trusting only above it). One
    panel of bars per training variant. Returns the metrics drawn."""
    plt = _pyplot()
    variants = list(dict.fromkeys(table.train_variant)) or ["(none)"]
    fig, axes = plt.subplots(1, len(variants), figsize=(max(6.4, 3.6 * len(variants)), 4.4), squeeze=False)
    for ax, variant in zip(axes[0], variants, strict=True):
        rows = table[table.train_variant == variant].reset_index(drop=True)
        values = rows.spearman.to_numpy(float)
        errors = np.abs(np.vstack([values - rows.spearman_ci_low, rows.spearman_ci_high - values]))
        colors = ["grey" if metric == "bpp" else "tab:blue" for metric in rows.metric]
        ax.bar(range(len(rows)), np.nan_to_num(values), yerr=np.nan_to_num(errors), color=colors, capsize=2)
        bpp = rows.spearman[rows.metric == "bpp"]
        if len(bpp) and np.isfinite(bpp.iloc[0]):
            ax.axhline(bpp.iloc[0], color="grey", linestyle="--", linewidth=1, label="bpp alone")
            ax.legend(fontsize="x-small")
        ax.set_xticks(range(len(rows)), list(rows.metric), rotation=45, ha="right", fontsize="small")
        ax.axhline(0, color="black", linewidth=0.8)
        sample = rows.sample_quality.iloc[0] if len(rows) else ""
        ax.set_ylabel(f"Spearman with per-image {sample}")
        ax.set_title(f"model: {variant}", fontsize="small")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, png_path, svg_path)
    return list(dict.fromkeys(table.metric))
