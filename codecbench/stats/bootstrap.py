"""The paired bootstrap over images: every codec and quality of one dataset is resampled with the same image
draws, so that intervals reflect the spread of images, not of codec settings. ``bootstrap_means`` gives per-group
means with percentile intervals; the BD-rates (:mod:`codecbench.stats.bd`) and the task tables draw the same way.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


def check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")


def paired_bootstrap_indices(n_images: int, n_boot: int, seed: int) -> np.ndarray:
    """Image positions drawn with replacement, one row of ``n_images`` per bootstrap replicate.

    Shape ``(n_boot, n_images)``, from ``np.random.default_rng(seed)``: the same seed gives the same matrix. Using
    one matrix for every codec and quality of a dataset is what makes the bootstrap paired.
    """
    if n_images < 0 or n_boot < 0:
        raise ValueError(f"n_images and n_boot must be non-negative, got {n_images} and {n_boot}")
    rng = np.random.default_rng(seed)
    if n_images == 0:
        return np.empty((n_boot, 0), dtype=np.int64)
    return rng.integers(0, n_images, size=(n_boot, n_images))


def _draw_counts(indices: np.ndarray, n_images: int) -> np.ndarray:
    """How often each image is drawn in each replicate, shape (n_boot, n_images)."""
    n_boot = indices.shape[0]
    offsets = (np.arange(n_boot) * n_images)[:, None]
    return np.bincount((indices + offsets).ravel(), minlength=n_boot * n_images).reshape(n_boot, n_images)


def bootstrap_counts(n_images: int, n_boot: int, seed: int) -> np.ndarray:
    """Paired bootstrap as image weights: how often each image is drawn in each replicate, (n_boot, n_images)."""
    return _draw_counts(paired_bootstrap_indices(n_images, n_boot, seed), n_images)


def resampled_means(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of each row of ``values`` (groups x images) in every replicate of ``counts`` (replicates x images).

    NaN cells (missing images, undefined metrics) are left out of the mean; a drawn +inf makes the mean +inf, a
    drawn -inf -inf, both NaN, as np.nanmean would. A replicate that draws none of a group's values gives NaN.
    """
    present = ~np.isnan(values)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (counts @ np.where(finite, values, 0.0).T) / (counts @ present.T)
    if not finite[present].all():
        has_pos = (counts @ np.isposinf(values).T) > 0
        has_neg = (counts @ np.isneginf(values).T) > 0
        means = np.where(has_pos, np.inf, means)
        means = np.where(has_neg, -np.inf, means)
        means = np.where(has_pos & has_neg, np.nan, means)
    return means


def percentile_bounds(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring NaN replicates."""
    tail = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN bounds, as they should
        low, high = np.nanpercentile(replicates, [tail, 100 - tail], axis=0)
    return low, high


def bootstrap_means(
    table: pd.DataFrame,
    value_columns: Iterable[str],
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    group_columns: Sequence[str] = ("dataset", "codec", "quality"),
) -> pd.DataFrame:
    """Per group, the mean over images of each value column with a paired bootstrap percentile interval.

    Returns one row per group: the group columns, then for each value column ``<col>``, ``<col>_ci_low`` and
    ``<col>_ci_high``, then ``n_images`` (the group's rows).

    Paired: within a dataset (when ``"dataset"`` is a group column; otherwise the whole table is one block) one
    index matrix from ``paired_bootstrap_indices(n, n_boot, seed)`` over the dataset's sorted unique image ids
    serves every group, so differences between codecs are judged on the same image draws. A group lacking some
    image averages the drawn images it has. Every dataset uses ``seed`` itself, so its intervals do not depend on
    which other datasets the table holds.

    NaN values are ignored (nanmean). A group with an infinite value (PSNR of a lossless codec) has an infinite
    mean, and its interval bounds are set to that same infinity.
    """
    value_columns = list(value_columns)
    group_columns = list(group_columns)
    check_confidence(confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    missing = set(value_columns) | set(group_columns) | {"image_id"}
    missing -= set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)}")
    duplicated = table.duplicated([*group_columns, "image_id"])
    if duplicated.any():
        raise ValueError(f"duplicate rows for {table.loc[duplicated, [*group_columns, 'image_id']].head()}")

    if "dataset" in group_columns:
        blocks = [block for _, block in table.groupby("dataset", sort=True, dropna=False)]
    else:
        blocks = [table]
    frames = []
    for block in blocks:
        image_ids = np.sort(block["image_id"].unique())
        counts = bootstrap_counts(image_ids.size, n_boot, seed)
        groups = block.groupby(group_columns, sort=True, dropna=False)
        group_of_row = groups.ngroup().to_numpy()
        image_of_row = pd.Index(image_ids).get_indexer(block["image_id"])
        sizes = groups.size()
        frame = sizes.index.to_frame(index=False)
        for column in value_columns:
            values = np.full((len(sizes), image_ids.size), np.nan)
            values[group_of_row, image_of_row] = block[column].to_numpy(float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups: NaN mean
                mean = np.nanmean(values, axis=1)
            low, high = percentile_bounds(resampled_means(values, counts), confidence)
            infinite = np.isinf(mean)
            frame[column] = mean
            frame[f"{column}_ci_low"] = np.where(infinite, mean, low)
            frame[f"{column}_ci_high"] = np.where(infinite, mean, high)
        frame["n_images"] = sizes.to_numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
