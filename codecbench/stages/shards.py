"""Scale-out by sharding: which rows of a split one shard job handles, and how shard outputs merge back.

A dataset with ``shards: N`` (config) has its compression, metric and inference jobs split N ways; one sharded by
size (``images_per_shard``) gets :func:`count_shards` shards once it is prepared. Shard ``k``
takes a contiguous block of *units* of the split: an image dataset's images in manifest order, a video dataset's
clips (a clip never splits: a video codec codes it as one file, VMAF scores it as one sequence). The merge of the
shards' tables puts their rows back in the order an unsharded job writes them, so the merged outputs equal an
unsharded run's (tests/test_sharding.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def shard_units(manifest_path: str | Path, rows: pd.DataFrame, sequence_codec: bool = False) -> np.ndarray:
    """Per row of ``rows`` (one split of the manifest), the index of the unit it belongs to, units numbered in
    the order an unsharded job handles them: a video dataset's clips (in :func:`codecbench.stages.sequences.split_clips`
    order), an image dataset's single images, or, for a video codec (``sequence_codec``), which reads an image
    dataset as one clip, one unit of all its rows."""
    from ..datasets import read_frames

    frames = read_frames(Path(manifest_path).parent)
    if frames is None:
        return np.zeros(len(rows), dtype=int) if sequence_codec else np.arange(len(rows))
    clip_of = dict(zip(frames["image_id"], frames["clip"], strict=True))
    missing = [image_id for image_id in rows.image_id if image_id not in clip_of]
    if missing:
        raise ValueError(
            f"{Path(manifest_path).parent / 'frames.csv'} lacks frames {missing[:5]}; prepare the dataset again"
        )
    clips = [clip_of[image_id] for image_id in rows.image_id]
    return pd.factorize(pd.Series(clips, dtype=object), sort=False)[0]


def assign_shards(units: np.ndarray, n_shards: int) -> np.ndarray:
    """Per row, its shard (0 .. n_shards - 1): units (see :func:`shard_units`) in contiguous blocks of about
    equal numbers of rows. A unit starts in shard ``floor(n_shards * rows before it / all rows)``, so blocks are
    contiguous in unit order and balanced to within one unit; shards beyond the number of units stay empty."""
    if n_shards < 1:
        raise ValueError(f"n_shards must be at least 1, got {n_shards}")
    units = np.asarray(units, dtype=int)
    if units.size == 0:
        return units
    n_units = int(units.max()) + 1
    sizes = np.bincount(units, minlength=n_units)
    before = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    unit_shard = (n_shards * before) // units.size
    return unit_shard[units]


def count_shards(
    manifest_path: str | Path, rows: pd.DataFrame, images_per_shard: int, sequence_codec: bool = False
) -> int:
    """How many shards split ``rows`` (one split of the manifest) into shards of about ``images_per_shard`` rows:
    the rows over that, rounded up, but never more shards than units (:func:`shard_units`: a video's clips, or the
    one clip a video codec makes of an image dataset), and at least one."""
    if images_per_shard < 1:
        raise ValueError(f"images_per_shard must be at least 1, got {images_per_shard}")
    units = shard_units(manifest_path, rows, sequence_codec)
    n_units = int(units.max()) + 1 if units.size else 0
    return max(1, min(n_units, -(-len(rows) // images_per_shard)))


def shard_rows(
    manifest_path: str | Path, rows: pd.DataFrame, shard: int, n_shards: int, sequence_codec: bool = False
) -> pd.DataFrame:
    """The rows of ``rows`` (one split of the manifest) that shard ``shard`` of ``n_shards`` handles, in their
    manifest order (possibly none). Every row falls in exactly one shard; a video dataset's clips stay whole, and
    so does the one clip a video codec (``sequence_codec``) makes of an image dataset (all in shard 0)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is not one of 0..{n_shards - 1}")
    if n_shards == 1:
        return rows
    selected = assign_shards(shard_units(manifest_path, rows, sequence_codec), n_shards) == shard
    subset = rows[selected].reset_index(drop=True)
    subset.attrs = dict(rows.attrs)
    return subset


def select_shard(
    manifest_path: str | Path, rows: pd.DataFrame, shard: tuple[int, int] | None, sequence_codec: bool = False
) -> pd.DataFrame:
    """The rows of ``rows`` a job handles: all of them, or with ``shard`` ``(k, n)`` those of shard k of n
    (:func:`shard_rows`), logged as 'shard k of n: m of t images'."""
    if shard is None:
        return rows
    selected = shard_rows(manifest_path, rows, *shard, sequence_codec=sequence_codec)
    log.info("shard %d of %d: %d of %d images", shard[0], shard[1], len(selected), len(rows))
    return selected


def coding_order(manifest_path: str | Path, rows: pd.DataFrame, sequence_codec: bool) -> list[str]:
    """The image ids of ``rows`` in the order a compression job writes them: manifest order for an image codec,
    clip by clip in display order for a video codec (:func:`codecbench.stages.sequences.split_clips`)."""
    if not sequence_codec:
        return list(rows.image_id)
    from .sequences import split_clips

    return [image_id for clip in split_clips(manifest_path, rows) for image_id in clip.rows.image_id]


def read_shard_table(path: str | Path) -> pd.DataFrame:
    """A shard's CSV as text (every cell a string, as written), so that merging rewrites the very same cells;
    an empty shard's table (a file without columns) reads as an empty frame."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def merge_shard_tables(
    tables: Sequence[pd.DataFrame], image_order: Sequence[str], group_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """The shards' tables as one, in the unsharded order: groups (distinct values of ``group_columns``, e.g. a
    ladder's points) in order of first appearance, and within each group the rows by ``image_order``.

    ValueError when a group does not hold each image of ``image_order`` exactly once (a shard missing or run
    with another shard count).
    """
    tables = [table for table in tables if len(table)]
    if not tables:
        return pd.DataFrame()
    merged = pd.concat(tables, ignore_index=True)
    position = {image_id: index for index, image_id in enumerate(image_order)}
    unknown = sorted(set(merged.image_id) - set(position))
    if unknown:
        raise ValueError(f"shard tables hold images {unknown[:5]} that are not in this split; rerun the shard jobs")
    if group_columns:
        groups = pd.Series(list(zip(*(merged[column] for column in group_columns), strict=True)), dtype=object)
        group_index = pd.factorize(groups, sort=False)[0]
    else:
        group_index = np.zeros(len(merged), dtype=int)
    image_index = merged.image_id.map(position).to_numpy()
    for group in np.unique(group_index):
        images = image_index[group_index == group]
        if len(images) != len(position) or len(np.unique(images)) != len(images):
            raise ValueError(
                f"shard tables hold {len(images)} rows ({len(np.unique(images))} images) of group {group} where "
                f"the split has {len(position)} images; rerun the shard jobs with one shard count"
            )
    order = np.lexsort((image_index, group_index))
    return merged.iloc[order].reset_index(drop=True)
