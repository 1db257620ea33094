"""Task tables: scores per (train variant, codec, quality) with paired bootstrap CIs, the share of images that
improved or worsened against the uncompressed ones, per-class scores, confusion counts (classification),
training-set size against the headline score, and BD-rate on the task's per-image quality against the anchor.

The task class says which scores a task has and recomputes them per bootstrap replicate
(:meth:`codecbench.tasks.Task.resampled_scores`), so accuracy, F1, kappa, mAP and corpus CER all get their CIs
the same way. Every interval comes from one matrix of image draws per task (the same test images for every point
and model), so differences between codecs, qualities and training variants are judged on the same draws.

"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config.plan import ORIGINAL_VARIANT, PRETRAINED_VARIANT, UNCOMPRESSED, USER_CHECKPOINT, parse_train_variant
from ..io import write_csv_atomic
from ..stats.bd import bootstrap_bd
from ..stats.bootstrap import bootstrap_counts, percentile_bounds, resampled_means
from ..tasks import Task
from . import prepend_columns

POINT = ["train_variant", "codec", "quality"]
CHANGES = ("improved", "worsened")
BD_COLUMNS = [
    "train_variant", "codec", "anchor", "metric", "available", "bd_rate_pct", "bd_rate_ci_low", "bd_rate_ci_high",
    "bd_quality", "bd_quality_ci_low", "bd_quality_ci_high", "bd_rate_reliable", "bd_quality_reliable",
    "monotone_fit", "n_images",
]  # fmt: skip


def read_evaluations(paths: Iterable[str | Path], task: type[Task]) -> pd.DataFrame:
    """The evaluation jobs' per-sample rows, the task's text columns as strings, sorted by point and image."""
    dtypes = {"image_id": str} | dict.fromkeys(task.text_columns, str)
    frames = [pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""]) for path in paths]
    table = pd.concat(frames, ignore_index=True)
    for column in task.text_columns:  # an empty reading is "", not NaN
        table[column] = table[column].fillna("")
    if "correct" in table.columns:
        table["correct"] = table["correct"].astype(bool)
    return table.sort_values([*POINT, "image_id"], key=_sort_key, ignore_index=True)


def _sort_key(column: pd.Series) -> pd.Series:
    # qualities are numbers for the ladders, 0 for the uncompressed test split: keep numeric order
    return pd.to_numeric(column, errors="coerce").fillna(-1) if column.name == "quality" else column


def with_changes(table: pd.DataFrame, task: type[Task]) -> pd.DataFrame:
    """Per image, whether its sample quality rose (``improved``) or fell (``worsened``) against the same model on
    the uncompressed image: for classification, wrong to right and right to wrong; for OCR, a lower or higher
    character error rate."""
    quality = task.sample_quality
    reference = table[table.codec == UNCOMPRESSED][["train_variant", "image_id", quality]]
    merged = table.merge(reference, on=["train_variant", "image_id"], how="left", suffixes=("", "_uncompressed"))
    before = merged.pop(f"{quality}_uncompressed").astype(float)
    after = merged[quality].astype(float)
    merged["improved"] = np.where(before.isna(), np.nan, (after > before).astype(float))
    merged["worsened"] = np.where(before.isna(), np.nan, (after < before).astype(float))
    return merged


def change_column(task: type[Task]) -> str:
    """The summary's column of the headline score's change against the uncompressed images (same model)."""
    return f"{task.scores[0]}_change"


def summarise(table: pd.DataFrame, task: type[Task], statistics: dict) -> pd.DataFrame:
    """One row per point: n, mean bpp, the task's scores and the improved/worsened shares, each with its
    bootstrap CI; and the headline score's change against the same model on the uncompressed images
    (:func:`change_column`), with its paired CI: both points scored on the same image draws, so the interval is
    that of the difference (NaN where the two points hold different images, and for the uncompressed point)."""
    table = with_changes(table, task)
    image_ids = np.sort(table.image_id.unique())
    counts = bootstrap_counts(image_ids.size, statistics["n_boot"], statistics["seed"])
    confidence = statistics["confidence"]
    headline, change = task.scores[0], change_column(task)
    rows, draws = [], {}
    for point, rows_of_point in table.groupby(POINT, sort=False):
        position = np.searchsorted(image_ids, rows_of_point.image_id.to_numpy())
        weights = counts[:, position]
        scores = task.resampled_scores(rows_of_point, np.vstack([np.ones((1, position.size)), weights]))
        row: dict[str, Any] = dict(zip(POINT, point, strict=True)) | {"n_images": len(rows_of_point)}
        for name, values in [
            ("bpp", _with_estimate(rows_of_point.bpp, weights)),
            *[(name, np.asarray(scores[name], dtype=float)) for name in task.scores],
            *[(name, _with_estimate(rows_of_point[name], weights)) for name in CHANGES],
        ]:  # row 0: the estimate; then one row per replicate
            low, high = percentile_bounds(values[1:], confidence)
            row |= {name: float(values[0]), f"{name}_ci_low": float(low), f"{name}_ci_high": float(high)}
        draws[point] = (frozenset(rows_of_point.image_id), np.asarray(scores[headline], dtype=float))
        rows.append(row)
    uncompressed = {variant: drawn for (variant, codec, _), drawn in draws.items() if codec == UNCOMPRESSED}
    for row in rows:
        reference = uncompressed.get(row["train_variant"])
        images, values = draws[tuple(row[key] for key in POINT)]
        if row["codec"] == UNCOMPRESSED or reference is None or reference[0] != images:
            row |= {change: np.nan, f"{change}_ci_low": np.nan, f"{change}_ci_high": np.nan}
            continue
        difference = values - reference[1]
        low, high = percentile_bounds(difference[1:], confidence)
        row |= {change: float(difference[0]), f"{change}_ci_low": float(low), f"{change}_ci_high": float(high)}
    return pd.DataFrame(rows)


def _with_estimate(values: pd.Series, weights: np.ndarray) -> np.ndarray:
    """The plain mean of one point's per-image ``values`` (NaN left out), then its mean in every replicate."""
    data = values.to_numpy(float)
    return np.concatenate([[np.nanmean(data) if np.isfinite(data).any() else np.nan],
                           resampled_means(data[None, :], weights)[:, 0]])  # fmt: skip


def per_class_scores(table: pd.DataFrame, task: type[Task]) -> pd.DataFrame:
    """The task's per-class score at every point (long format) with its change against the same model on
    uncompressed images (which classes lose most)."""
    frames = [
        task.per_class(rows).assign(**dict(zip(POINT, point, strict=True)))
        for point, rows in table.groupby(POINT, sort=False)
    ]
    columns = [*POINT, "class", "score", "value", "n_objects"]
    per_class = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    reference = per_class[per_class.codec == UNCOMPRESSED][["train_variant", "class", "score", "value"]]
    per_class = per_class.merge(reference, on=["train_variant", "class", "score"], how="left", suffixes=("", "_ref"))
    per_class["change"] = per_class["value"].astype(float) - per_class.pop("value_ref").astype(float)
    return per_class


def confusion_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Counts of (true class, predicted class) at every point (long format, zero cells left out); classification
    only (an empty table for other tasks)."""
    columns = [*POINT, "true_class", "predicted_class", "count"]
    if not {"label", "predicted"} <= set(table.columns):
        return pd.DataFrame(columns=columns)
    counts = table.groupby([*POINT, "label", "predicted"], sort=False).size()
    counts = counts.rename("count").reset_index()
    return counts.rename(columns={"label": "true_class", "predicted": "predicted_class"})[columns]


def training_sets(
    summary: pd.DataFrame,
    variants: list[str],
    manifest: pd.DataFrame,
    training_infos: dict[str, dict],
    train_rates: dict[str, pd.DataFrame],
    score: str = "accuracy",
) -> pd.DataFrame:
    """Per training variant: the training set's size in bytes (the bitstreams a user would store; the raw 24-bit
    pixels for the original) against the model's headline ``score`` on uncompressed test images and on the test
    images compressed like its training set (columns ``<score>_uncompressed``, ``<score>_matched``)."""
    train_rows = manifest[manifest.split == "train"]
    rows = []
    for variant in variants:
        parsed = parse_train_variant(variant)
        if variant in (USER_CHECKPOINT, PRETRAINED_VARIANT):  # trained elsewhere: its training set is unknown
            n_bytes, pixels, codec, quality = np.nan, 0, variant, None
        elif parsed is None:
            n_bytes = int((train_rows.width * train_rows.height * 3).sum())
            pixels = int((train_rows.width * train_rows.height).sum())
            codec, quality = ORIGINAL_VARIANT, None
        else:
            rates = train_rates[variant]
            n_bytes, pixels = int(rates.bytes.sum()), int((rates.width * rates.height).sum())
            codec, quality = parsed
        info = training_infos.get(variant, {})
        trained_here = variant not in (USER_CHECKPOINT, PRETRAINED_VARIANT)
        row = {
            "train_variant": variant, "codec": codec, "quality": quality, "score": score,
            "n_train": len(train_rows) if trained_here else np.nan,
            "train_bytes": n_bytes, "train_bpp": 8 * n_bytes / pixels if pixels else np.nan,
            "images_per_s": info.get("images_per_s", np.nan), "device": info.get("device", ""),
        }  # fmt: skip
        own = summary[summary.train_variant == variant]
        for label, point in [("uncompressed", own[own.codec == UNCOMPRESSED])] + [
            ("matched", own[(own.codec == codec) & (own.quality.astype(str) == str(quality))])
        ]:
            for suffix in ("", "_ci_low", "_ci_high"):
                row[f"{score}_{label}{suffix}"] = float(point[f"{score}{suffix}"].iloc[0]) if len(point) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def bd_on_task(
    table: pd.DataFrame,
    task: type[Task],
    anchor: str,
    bd: dict,
    statistics: dict,
    references: dict[str, str] | None = None,
) -> pd.DataFrame:
    """BD-rate (and BD-quality) of every codec against ``anchor`` on the mean of the task's per-image quality
    (accuracy for classification), per training variant, with bootstrap CIs; and of each ROI variant against its
    plain codec (``references``: variant -> plain codec; rows whose ``anchor`` is that plain codec)."""
    rows = []
    metric = task.sample_quality_label
    points = table[table.codec != UNCOMPRESSED].assign(**{metric: lambda t: t[task.sample_quality].astype(float)})
    for variant, data in points.groupby("train_variant", sort=False):
        present = set(data.codec)
        pairs = [(codec, anchor) for codec in sorted(present - {anchor})] if anchor in present else []
        pairs += [
            (codec, plain)
            for codec, plain in (references or {}).items()
            if codec in present and plain in present and plain != anchor
        ]
        for codec, reference in pairs:
            result = bootstrap_bd(
                data, reference, codec, metric, method=bd["method"], n_boot=statistics["n_boot"],
                seed=statistics["seed"], confidence=statistics["confidence"],
            )  # fmt: skip
            rows.append({"train_variant": variant, "codec": codec, "anchor": reference, "metric": metric, **result})
    return pd.DataFrame(rows).reindex(columns=BD_COLUMNS)


def write_task_tables(
    task_name: str,
    evaluations: Iterable[str | Path],
    training_jsons: dict[str, str | Path],
    train_rate_csvs: dict[str, str | Path],
    manifest_csv: str | Path,
    variants: list[str],
    anchor: str,
    bd: dict,
    statistics: dict,
    outputs: dict[str, str | Path],
    references: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Write every task table (keys of ``outputs``: predictions, summary, per_class, confusion, training_sets,
    bd) of a task of registry name ``task_name``; return the summary. ``training_jsons``: training variant -> its
    training record; ``train_rate_csvs``: compressed training variant -> the ladder rate rows holding its training
    set's point."""
    from ..config.plan import parse_train_variant
    from ..datasets import read_manifest
    from ..tasks import get_task_class
    from .points import point_rows, read_rates

    task = get_task_class(task_name)
    table = read_evaluations(evaluations, task)
    write_csv_atomic(table, outputs["predictions"])
    summary = summarise(table, task, statistics)
    write_csv_atomic(summary, outputs["summary"])
    write_csv_atomic(per_class_scores(table, task), outputs["per_class"])
    write_csv_atomic(confusion_counts(table), outputs["confusion"])
    infos = {variant: json.loads(Path(path).read_text()) for variant, path in training_jsons.items()}
    rates = {
        variant: point_rows(read_rates(path), parse_train_variant(variant)[1]).reset_index(drop=True)
        for variant, path in train_rate_csvs.items()
    }
    sizes = training_sets(summary, variants, read_manifest(manifest_csv), infos, rates, task.scores[0])
    write_csv_atomic(sizes, outputs["training_sets"])
    write_csv_atomic(bd_on_task(table, task, anchor, bd, statistics, references), outputs["bd"])
    return summary


def metric_agreement(
    task_name: str, evaluations: pd.DataFrame, quality: pd.DataFrame, metrics: list[str], statistics: dict
) -> pd.DataFrame:
    """Per training variant of a task, which quality metric (and bpp) ranks its images like the task's per-image
    quality does, across every compressed point of the task's codecs
    (:func:`codecbench.stats.metric_agreement.metric_task_correlations`). ``evaluations``: the task's per-sample
    rows; ``quality``: the quality tables of the task's dataset and codecs; ``metrics``: the configured metrics."""
    from ..config.plan import normalise_quality
    from ..metrics import REGISTRY
    from ..stats.metric_agreement import metric_task_correlations
    from ..tasks import get_task_class

    task = get_task_class(task_name)
    columns = ["bpp", *[m for m in metrics if m in quality.columns and quality[m].notna().any()]]
    lower = {m for m in columns if m in REGISTRY and not REGISTRY[m].higher_is_better}
    key = ["codec", "quality", "image_id"]
    measured = quality[[*key, *columns]].assign(quality=lambda t: t.quality.map(lambda q: str(normalise_quality(q))))
    tables = []
    for variant, rows in evaluations[evaluations.codec != UNCOMPRESSED].groupby("train_variant", sort=False):
        rows = rows[[*key, task.sample_quality]].assign(
            quality=lambda t: t.quality.map(lambda q: str(normalise_quality(q))),
            **{task.sample_quality: lambda t: t[task.sample_quality].astype(float)},
        )
        joined = rows.merge(measured, on=key, how="inner", validate="1:1")
        if joined.empty:
            continue
        table = metric_task_correlations(joined, columns, task.sample_quality, lower, statistics)
        tables.append(prepend_columns(table, {"train_variant": variant, "sample_quality": task.sample_quality}))
    if not tables:
        return pd.DataFrame(columns=["train_variant", "sample_quality", "metric"])
    return pd.concat(tables, ignore_index=True)


def write_metric_agreement(
    task_name: str, predictions_csv: str | Path, quality_csvs: Iterable[str | Path], metrics: list[str],
    statistics: dict, out_csv: str | Path,
) -> pd.DataFrame:  # fmt: skip
    """:func:`metric_agreement` from the task's predictions table and its codecs' quality tables, written."""
    from ..tasks import get_task_class

    evaluations = read_evaluations([predictions_csv], get_task_class(task_name))
    quality = pd.concat([pd.read_csv(path, dtype={"image_id": str}) for path in quality_csvs], ignore_index=True)
    table = metric_agreement(task_name, evaluations, quality, metrics, statistics)
    write_csv_atomic(table, out_csv)
    return table
