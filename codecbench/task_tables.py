"""Task tables: scores per (train variant, codec, quality) with paired bootstrap CIs, flips, per-class accuracy,
confusion counts, training-set size against accuracy, and BD-rate on accuracy against the anchor codec.

Every interval comes from one matrix of image draws per task (the same test images for every point and model),
so differences between codecs, qualities and training variants are judged on the same draws. Accuracy,
macro-F1 and Cohen's kappa are recomputed in each draw from the weighted confusion matrix, not averaged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .bd import bootstrap_bd, bootstrap_counts, percentile_bounds, resampled_means
from .config import ORIGINAL_VARIANT, UNCOMPRESSED, USER_CHECKPOINT, parse_train_variant
from .io import write_csv_atomic

POINT = ["train_variant", "codec", "quality"]
SCORES = ("accuracy", "macro_f1", "cohen_kappa")
FLIPS = ("right_to_wrong", "wrong_to_right")
BD_COLUMNS = [
    "train_variant", "codec", "anchor", "metric", "available", "bd_rate_pct", "bd_rate_ci_low", "bd_rate_ci_high",
    "bd_quality", "bd_quality_ci_low", "bd_quality_ci_high", "bd_rate_reliable", "bd_quality_reliable",
    "monotone_fit", "n_images",
]  # fmt: skip


def scores_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and Cohen's kappa of confusion matrices (..., true class, predicted class).

    Macro-F1 averages the classes that occur as truth or prediction (scikit-learn's default label set); a class
    whose F1 is undefined counts 0 (``zero_division=0``). Kappa is ``(p_o - p_e) / (1 - p_e)``; NaN when
    ``p_e`` is 1 (a single class everywhere).
    """
    confusion = np.asarray(confusion, dtype=float)
    total = confusion.sum(axis=(-2, -1))
    hits = np.trace(confusion, axis1=-2, axis2=-1)
    true_counts, predicted_counts = confusion.sum(axis=-1), confusion.sum(axis=-2)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    present = (true_counts + predicted_counts) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / (true_counts + predicted_counts), 0.0)
        accuracy = hits / total
        macro_f1 = f1.sum(axis=-1) / present.sum(axis=-1)
        expected = (true_counts * predicted_counts).sum(axis=-1) / total**2
        kappa = np.where(expected < 1, (accuracy - expected) / (1 - expected), np.nan)
    return {"accuracy": accuracy, "macro_f1": macro_f1, "cohen_kappa": kappa}


def weighted_confusion(true_index: np.ndarray, predicted_index: np.ndarray, counts: np.ndarray, n_classes: int):
    """Confusion matrices of one point under each row of image weights ``counts`` (replicates x images)."""
    cells = np.zeros((true_index.size, n_classes * n_classes))
    cells[np.arange(true_index.size), true_index * n_classes + predicted_index] = 1.0
    return (counts @ cells).reshape(counts.shape[0], n_classes, n_classes)


def read_evaluations(paths: Iterable[str | Path]) -> pd.DataFrame:
    frames = [pd.read_csv(path, dtype={"image_id": str, "label": str, "predicted": str}) for path in paths]
    table = pd.concat(frames, ignore_index=True)
    table["correct"] = table["correct"].astype(bool)
    return table.sort_values([*POINT, "image_id"], key=_sort_key, ignore_index=True)


def _sort_key(column: pd.Series) -> pd.Series:
    # qualities are numbers for the ladders, 0 for the uncompressed test split: keep numeric order
    return pd.to_numeric(column, errors="coerce").fillna(-1) if column.name == "quality" else column


def _with_flips(table: pd.DataFrame) -> pd.DataFrame:
    """Per image, whether it went right to wrong (or wrong to right) against the same model on uncompressed images."""
    reference = table[table.codec == UNCOMPRESSED][["train_variant", "image_id", "correct"]]
    merged = table.merge(reference, on=["train_variant", "image_id"], how="left", suffixes=("", "_uncompressed"))
    before = merged.pop("correct_uncompressed").astype("boolean")
    merged["right_to_wrong"] = (before & ~merged.correct).astype(float)
    merged["wrong_to_right"] = (~before & merged.correct).astype(float)
    return merged


def summarise(table: pd.DataFrame, statistics: dict) -> pd.DataFrame:
    """One row per point: n, mean bpp, accuracy, macro-F1, kappa and flip shares, each with its bootstrap CI."""
    table = _with_flips(table)
    classes = sorted(set(table.label) | set(table.predicted))
    index = {name: i for i, name in enumerate(classes)}
    image_ids = np.sort(table.image_id.unique())
    counts = bootstrap_counts(image_ids.size, statistics["n_boot"], statistics["seed"])
    confidence = statistics["confidence"]
    rows = []
    for point, rows_of_point in table.groupby(POINT, sort=False):
        position = np.searchsorted(image_ids, rows_of_point.image_id.to_numpy())
        weights = counts[:, position]
        confusion = weighted_confusion(
            rows_of_point.label.map(index).to_numpy(), rows_of_point.predicted.map(index).to_numpy(),
            np.vstack([np.ones((1, position.size)), weights]), len(classes),
        )  # fmt: skip
        scores = scores_from_confusion(confusion)  # row 0: the estimate; then one row per replicate
        row: dict[str, Any] = dict(zip(POINT, point, strict=True)) | {"n_images": len(rows_of_point)}
        for name, values in [
            ("bpp", _replicate_means(rows_of_point.bpp, weights)),
            *[(name, scores[name]) for name in SCORES],
            *[(name, _replicate_means(rows_of_point[name], weights)) for name in FLIPS],
        ]:
            estimate = values[0] if name in SCORES else float(np.nanmean(rows_of_point[name].to_numpy(float)))
            low, high = percentile_bounds(values[1:] if name in SCORES else values, confidence)
            row |= {name: float(estimate), f"{name}_ci_low": float(low), f"{name}_ci_high": float(high)}
        rows.append(row)
    return pd.DataFrame(rows)


def _replicate_means(values: pd.Series, weights: np.ndarray) -> np.ndarray:
    """The mean of one point's per-image ``values`` in every bootstrap replicate (rows of image ``weights``)."""
    return resampled_means(values.to_numpy(float)[None, :], weights)[:, 0]


def per_class_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per true class at every point (long format)."""
    grouped = table.groupby([*POINT, "label"], sort=False)["correct"]
    return grouped.agg(accuracy="mean", n_images="size").reset_index().rename(columns={"label": "class"})


def confusion_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Counts of (true class, predicted class) at every point (long format, zero cells left out)."""
    counts = table.groupby([*POINT, "label", "predicted"], sort=False).size()
    return counts.rename("count").reset_index().rename(columns={"label": "true_class", "predicted": "predicted_class"})


def training_sets(
    summary: pd.DataFrame,
    variants: list[str],
    manifest: pd.DataFrame,
    training_infos: dict[str, dict],
    train_rates: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """Per training variant: the training set's size in bytes (the bitstreams a user would store; the raw 24-bit
    pixels for the original) against the model's accuracy on uncompressed test images and on the test images
    compressed like its training set."""
    train_rows = manifest[manifest.split == "train"]
    rows = []
    for variant in variants:
        parsed = parse_train_variant(variant)
        if variant == USER_CHECKPOINT:  # trained elsewhere: its training set is unknown
            n_bytes, pixels, codec, quality = np.nan, 0, USER_CHECKPOINT, None
        elif parsed is None:
            n_bytes = int((train_rows.width * train_rows.height * 3).sum())
            pixels = int((train_rows.width * train_rows.height).sum())
            codec, quality = ORIGINAL_VARIANT, None
        else:
            rates = train_rates[variant]
            n_bytes, pixels = int(rates.bytes.sum()), int((rates.width * rates.height).sum())
            codec, quality = parsed
        info = training_infos.get(variant, {})
        row = {
            "train_variant": variant, "codec": codec, "quality": quality,
            "n_train": len(train_rows) if variant != USER_CHECKPOINT else np.nan,
            "train_bytes": n_bytes, "train_bpp": 8 * n_bytes / pixels if pixels else np.nan,
            "images_per_s": info.get("images_per_s", np.nan), "device": info.get("device", ""),
        }  # fmt: skip
        own = summary[summary.train_variant == variant]
        for label, point in [("uncompressed", own[own.codec == UNCOMPRESSED])] + [
            ("matched", own[(own.codec == codec) & (own.quality.astype(str) == str(quality))])
        ]:
            for suffix in ("", "_ci_low", "_ci_high"):
                row[f"accuracy_{label}{suffix}"] = float(point[f"accuracy{suffix}"].iloc[0]) if len(point) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def bd_on_accuracy(table: pd.DataFrame, anchor: str, bd: dict, statistics: dict) -> pd.DataFrame:
    """BD-rate (and BD-accuracy) of every codec against ``anchor``, per training variant, with bootstrap CIs."""
    rows = []
    points = table[table.codec != UNCOMPRESSED].assign(accuracy=lambda t: t.correct.astype(float))
    for variant, data in points.groupby("train_variant", sort=False):
        if anchor not in set(data.codec):
            continue
        for codec in sorted(set(data.codec) - {anchor}):
            result = bootstrap_bd(
                data, anchor, codec, "accuracy", method=bd["method"], n_boot=statistics["n_boot"],
                seed=statistics["seed"], confidence=statistics["confidence"],
            )  # fmt: skip
            rows.append({"train_variant": variant, "codec": codec, "anchor": anchor, "metric": "accuracy", **result})
    return pd.DataFrame(rows).reindex(columns=BD_COLUMNS)


def write_task_tables(
    evaluations: Iterable[str | Path],
    training_jsons: Iterable[str | Path],
    train_rate_csvs: Iterable[str | Path],
    manifest_csv: str | Path,
    variants: list[str],
    anchor: str,
    bd: dict,
    statistics: dict,
    outputs: dict[str, str | Path],
) -> pd.DataFrame:
    """Write every task table (keys of ``outputs``: predictions, summary, per_class, confusion, training_sets,
    bd); return the summary."""
    from .datasets import read_manifest

    table = read_evaluations(evaluations)
    write_csv_atomic(table, outputs["predictions"])
    summary = summarise(table, statistics)
    write_csv_atomic(summary, outputs["summary"])
    write_csv_atomic(per_class_accuracy(table), outputs["per_class"])
    write_csv_atomic(confusion_counts(table), outputs["confusion"])
    infos = {Path(p).parent.name: json.loads(Path(p).read_text()) for p in training_jsons}
    rates = {Path(p).parent.parent.name + "-" + Path(p).parent.name: pd.read_csv(p) for p in train_rate_csvs}
    sizes = training_sets(summary, variants, read_manifest(manifest_csv), infos, rates)
    write_csv_atomic(sizes, outputs["training_sets"])
    write_csv_atomic(bd_on_accuracy(table, anchor, bd, statistics), outputs["bd"])
    return summary
