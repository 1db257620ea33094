"""The quality stage: measure every configured metric of a compression point's decoded images against their
references, per image (and per clip for clip metrics), joined to the point's rate table.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ..datasets import read_split
from ..io import read_rgb, write_csv_atomic
from . import prepend_columns

log = logging.getLogger(__name__)


def measure_quality(
    manifest_path: str | Path,
    rate_csv: str | Path,
    decoded_dir: str | Path,
    metrics: list[str],
    keys: dict[str, Any],
    quality_csv: str | Path | None,
) -> pd.DataFrame:
    """Compute ``metrics`` for every decoded image against its reference.

    Returns (and writes to ``quality_csv``, if given) the tidy rows of this (dataset, codec, quality) point: the
    ``keys`` columns, the rate table's columns, ``compression_ratio`` (raw 24-bit RGB bytes / coded bytes) and
    one column per metric. A failing metric raises :class:`codecbench.metrics.MetricError` naming the metric, the
    ``keys`` (dataset, codec, quality) and the image, or for a clip metric the clip.
    """
    (table,) = _measure_points(manifest_path, [(rate_csv, decoded_dir, keys)], metrics)
    if quality_csv is not None:
        write_csv_atomic(table, quality_csv)
    return table


def measure_ladder(
    manifest_path: str | Path,
    points: list[tuple[Any, str | Path, str | Path]],
    metrics: list[str],
    keys: dict[str, Any],
    quality_csv: str | Path,
    shard: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """:func:`measure_quality` at every ``(quality, rate csv, decoded folder)`` point of one codec's ladder, in
    one table (``keys`` plus a ``quality`` column first). Each reference image is read once for all points.

    ``shard``: ``(k, n)`` measures only the images of shard k of n (:func:`codecbench.stages.shards.shard_rows`, whole
    clips of a video dataset, so that per-clip metrics see every frame of a clip).
    """
    specs = [(rate_csv, decoded_dir, {**keys, "quality": quality}) for quality, rate_csv, decoded_dir in points]
    table = pd.concat(_measure_points(manifest_path, specs, metrics, shard), ignore_index=True)
    write_csv_atomic(table, quality_csv)
    return table


def _measure_points(
    manifest_path: str | Path,
    points: list[tuple[str | Path, str | Path, dict[str, Any]]],
    metrics: list[str],
    shard: tuple[int, int] | None = None,
) -> list[pd.DataFrame]:
    """One table per ``(rate csv, decoded folder, key columns)`` point, reading each reference image once; with
    ``shard``, of that shard's images only (rows in rate-table order, as unsharded)."""
    from tqdm import tqdm

    from ..metrics import SEQUENCE_METRICS, compute_metrics
    from .shards import select_shard

    manifest_path = Path(manifest_path)
    manifest = read_split(manifest_path, "test")
    per_clip = [m for m in metrics if m in SEQUENCE_METRICS]
    metrics = [m for m in metrics if m not in SEQUENCE_METRICS]
    rate_tables = []
    for rate_csv, _, _ in points:
        rates = pd.read_csv(rate_csv, dtype={"image_id": str})
        if sorted(rates.image_id) != sorted(manifest.image_id):
            raise ValueError(f"{rate_csv} does not list the same images as {manifest_path}; rerun the compression job")
        rate_tables.append(rates)
    if shard is not None:
        manifest = select_shard(manifest_path, manifest, shard)
        rate_tables = [rates[rates.image_id.isin(manifest.image_id)] for rates in rate_tables]
    rows: list[list[dict]] = [[] for _ in points]
    for item in tqdm(manifest.itertuples(), total=len(manifest), desc="metrics", mininterval=5):
        reference = read_rgb(manifest_path.parent / item.file)
        for point_rows, (_, decoded_dir, keys) in zip(rows, points, strict=True):
            path = Path(decoded_dir) / f"{item.image_id}.png"
            decoded = read_rgb(path)
            where = f"{_point_name(keys)}, image {item.image_id!r} ({path})"
            point_rows.append({"image_id": item.image_id, **compute_metrics(reference, decoded, metrics, where)})
    for name in per_clip:
        for point_rows, (_, decoded_dir, keys) in zip(rows, points, strict=True):
            values = clip_metric(manifest_path, manifest, Path(decoded_dir), name, _point_name(keys))
            for row in point_rows:
                row[name] = values.get(row["image_id"], float("nan"))
    metrics = [*metrics, *per_clip]
    tables = []
    for rates, point_rows, (_, _, keys) in zip(rate_tables, rows, points, strict=True):
        table = rates.merge(pd.DataFrame(point_rows, columns=["image_id", *metrics]), on="image_id", validate="1:1")
        table["compression_ratio"] = table.width * table.height * 3 / table.bytes
        table["metrics_device"] = "cpu"  # the metrics run their torch code on the CPU
        tables.append(prepend_columns(table, keys))
    return tables


def _point_name(keys: dict[str, Any]) -> str:
    """A point's key columns as its errors name it: "dataset 'photos', codec 'jpeg', quality 50"."""
    return ", ".join(f"{column} {value!r}" for column, value in keys.items())


def clip_metric(
    manifest_path: Path, manifest: pd.DataFrame, decoded_dir: Path, name: str, point: str
) -> dict[str, float]:
    """A per-clip metric (VMAF) of every frame of a video dataset's test split, by image id; empty for an image
    dataset, whose rows then hold NaN (an image is no clip, and VMAF's motion feature would read unrelated images
    as motion). Clips under the metric's minimum side get NaN too. ``point`` (dataset, codec, quality) names the
    point in errors."""
    from ..datasets import read_frames
    from ..metrics import MIN_SIDE, SEQUENCE_METRICS, MetricError
    from .sequences import split_clips

    if read_frames(manifest_path.parent) is None:
        log.info("%s: computed on video datasets only; %s has no frames.csv", name, manifest_path.parent.name)
        return {}
    values = {}
    for clip in split_clips(manifest_path, manifest):
        if min(clip.rows.width.min(), clip.rows.height.min()) < MIN_SIDE[name]:
            log.info("%s: clip %s is under %d px a side: nan", name, clip.name, MIN_SIDE[name])
            continue
        reference = [read_rgb(manifest_path.parent / file) for file in clip.rows.file]
        decoded = [read_rgb(decoded_dir / f"{image_id}.png") for image_id in clip.rows.image_id]
        try:
            scores = SEQUENCE_METRICS[name](reference, decoded, clip.fps)
        except Exception as exc:  # as compute_metrics does for an image: the metric's failure, named with its clip
            raise MetricError(
                f"{name} of {point}, clip {clip.name!r} ({decoded_dir}): {type(exc).__name__}: {exc}"
            ) from exc
        values |= dict(zip(clip.rows.image_id, scores, strict=True))
    return values
