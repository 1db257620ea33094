"""Which image quality metric predicts what a vision task loses?

Across all (codec, quality) variants of one dataset, per image, ``metric_task_correlations`` ranks each quality
metric (and bpp itself, the baseline any metric must beat) by its rank correlation with the task's per-image
quality: Spearman's rho and Kendall's tau-b, each with a percentile interval from a cluster bootstrap over images,
and each metric's Spearman gain over bpp with an interval from the same draws. ``best_metric`` turns the table
into a sentence for the findings.

The bootstrap resamples images, not rows: the rows of one image (its codec and quality variants) share the
image's content and difficulty, so they are not independent draws. One count matrix from
:func:`codecbench.stats.bootstrap.bootstrap_counts` serves every metric, which pairs the comparisons. A replicate's
correlations are those of the resampled table with each drawn image's rows repeated as often as it was drawn;
they are computed from image weights rather than by building that table (see ``_resampled_spearman`` and
``_resampled_kendall``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from .bootstrap import bootstrap_counts, check_confidence, percentile_bounds

DEFAULT_STATISTICS: Mapping[str, Any] = MappingProxyType({"n_boot": 1000, "seed": 0, "confidence": 0.95})
# The rate is the baseline: a quality metric is only worth computing if it predicts the task better than bpp.
BASELINE = "bpp"
COLUMNS = [
    "metric",
    "n_pairs",
    "n_images",
    "spearman",
    "spearman_ci_low",
    "spearman_ci_high",
    "kendall",
    "kendall_ci_low",
    "kendall_ci_high",
    "spearman_gain_over_bpp",
    "spearman_gain_ci_low",
    "spearman_gain_ci_high",
    "rank",
]
_KEY = ["codec", "quality", "image_id"]
# Bounds the (replicates x rows) and (rows x rows) temporaries to some tens of MB whatever the table size.
_CELLS_PER_BLOCK = 2**21


def metric_task_correlations(
    rows: pd.DataFrame,
    metrics: Sequence[str],
    sample_quality: str,
    lower_is_better: Collection[str] = frozenset(),
    statistics: Mapping[str, Any] = DEFAULT_STATISTICS,
) -> pd.DataFrame:
    """Rank correlation of each metric with the task's per-image quality, with cluster bootstrap intervals.

    ``rows`` holds one row per (``codec``, ``quality``, ``image_id``) of the compressed images of one dataset and
    one task, with the ``sample_quality`` column (e.g. ``correct``, 0/1 or bool; ``cer``; ``f1``) and the
    ``metrics`` columns (e.g. ``bpp``, ``psnr_rgb``, ``ms_ssim``) joined. Per metric, rows where the metric or the
    sample quality is NaN are dropped (vmaf exists only for video codecs); ``n_pairs`` and ``n_images`` count the
    rows and images left. Infinite values (PSNR of a lossless image) rank above every finite one.

    Orientation: every correlation is signed so that positive means "the metric says better where the task does
    better". The sign is flipped once for a metric in ``lower_is_better`` (mse, mae) and once more if the sample
    quality is in it (cer). bpp counts as higher-is-better: more bits, a better image.

    Statistics: Spearman's rho with average ranks for ties and Kendall's tau-b (tie-corrected), equal to
    ``scipy.stats.spearmanr`` and ``scipy.stats.kendalltau``. ``statistics`` gives ``n_boot``, ``seed`` and
    ``confidence`` (missing keys take ``DEFAULT_STATISTICS``). The bootstrap draws images with replacement,
    ``bootstrap_counts(n_images, n_boot, seed)`` over the table's sorted image ids, and every drawn image brings
    all its rows; the same draws serve every metric. Intervals are percentile intervals of the replicates that are
    defined: a replicate in which the metric or the sample quality is constant (every drawn image correct) has no
    correlation and is left out. ``spearman_gain_over_bpp`` is the metric's rho minus bpp's rho, its interval the
    percentiles of that difference over the same draws (paired); it is 0 for bpp itself (NaN if bpp's own rho is
    undefined) and NaN for every metric when ``bpp`` is not among ``metrics``.

    A metric or sample quality that is constant gives NaN correlations. Returns one row per metric with
    ``COLUMNS``, sorted by Spearman's rho, best first (NaN last, ties in the order of ``metrics``); ``rank`` 1 is
    the best.
    """
    metrics = list(metrics)
    settings = _statistics_settings(statistics)
    _check_rows(rows, metrics, sample_quality)

    image_ids = np.sort(rows["image_id"].unique())
    image_of_row = np.searchsorted(image_ids, rows["image_id"].to_numpy())
    counts = bootstrap_counts(image_ids.size, settings["n_boot"], settings["seed"])
    task_values = rows[sample_quality].to_numpy(dtype=float, na_value=np.nan)  # nullable dtypes: NA -> NaN

    records = []
    replicates: dict[str, np.ndarray] = {}
    for metric in metrics:
        metric_values = rows[metric].to_numpy(dtype=float, na_value=np.nan)
        usable = ~np.isnan(metric_values) & ~np.isnan(task_values)
        orientation = _sign(metric, lower_is_better) * _sign(sample_quality, lower_is_better)
        record, spearman_replicates, kendall_replicates = _correlations(
            metric_values[usable], task_values[usable], image_of_row[usable], counts
        )
        record = {"metric": metric, **record}
        record["spearman"] *= orientation
        record["kendall"] *= orientation
        spearman_replicates *= orientation
        kendall_replicates *= orientation
        for name, values in (("spearman", spearman_replicates), ("kendall", kendall_replicates)):
            low, high = percentile_bounds(values, settings["confidence"])
            record[f"{name}_ci_low"], record[f"{name}_ci_high"] = float(low), float(high)
        replicates[metric] = spearman_replicates
        records.append(record)

    baseline = next((record for record in records if record["metric"] == BASELINE), None)
    for record in records:
        if baseline is None:
            gain, low, high = math.nan, math.nan, math.nan
        else:
            gain = record["spearman"] - baseline["spearman"]
            low, high = percentile_bounds(replicates[record["metric"]] - replicates[BASELINE], settings["confidence"])
        record["spearman_gain_over_bpp"] = gain
        record["spearman_gain_ci_low"], record["spearman_gain_ci_high"] = float(low), float(high)

    table = pd.DataFrame.from_records(records, columns=COLUMNS[:-1])
    table = table.sort_values("spearman", ascending=False, na_position="last", kind="stable", ignore_index=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table.astype({"n_pairs": int, "n_images": int})


def best_metric(table: pd.DataFrame) -> dict[str, Any]:
    """The metric to trust, from a ``metric_task_correlations`` table, in numbers and as a findings sentence.

    Returns ``metric`` (None when no metric has a defined correlation), ``spearman`` with ``spearman_ci_low`` and
    ``spearman_ci_high``, ``gain_over_bpp`` with ``gain_ci_low`` and ``gain_ci_high``, ``better_than_bpp`` (the
    gain's interval lies above 0; False when it cannot be judged) and ``sentence``, e.g. "ms_ssim (Spearman 0.41
    [0.30, 0.52]) predicts the task best; better than bpp alone by 0.12 [0.05, 0.20]".
    """
    ranked = table.sort_values("rank")
    ranked = ranked[ranked["spearman"].notna()]
    nan = math.nan
    if ranked.empty:
        return {
            "metric": None,
            "spearman": nan,
            "spearman_ci_low": nan,
            "spearman_ci_high": nan,
            "gain_over_bpp": nan,
            "gain_ci_low": nan,
            "gain_ci_high": nan,
            "better_than_bpp": False,
            "sentence": "no metric's rank correlation with the task is defined (the task quality or every metric is "
            "constant)",
        }
    top = ranked.iloc[0]
    gain, gain_low, gain_high = (
        float(top["spearman_gain_over_bpp"]),
        float(top["spearman_gain_ci_low"]),
        float(top["spearman_gain_ci_high"]),
    )
    better = bool(gain_low > 0)  # NaN compares False: no bpp, or no defined replicate
    spearman_text = _estimate_text(top["spearman"], top["spearman_ci_low"], top["spearman_ci_high"])
    sentence = f"{top['metric']} (Spearman {spearman_text}) predicts the task best"
    if top["metric"] == BASELINE:
        sentence += "; no quality metric predicts it better than bpp alone"
    elif math.isnan(gain):
        sentence += "; bpp was not compared"
    elif better:
        sentence += f"; better than bpp alone by {_estimate_text(gain, gain_low, gain_high)}"
    else:
        sentence += f"; not distinguishable from bpp alone (gain {_estimate_text(gain, gain_low, gain_high)})"
    return {
        "metric": top["metric"],
        "spearman": float(top["spearman"]),
        "spearman_ci_low": float(top["spearman_ci_low"]),
        "spearman_ci_high": float(top["spearman_ci_high"]),
        "gain_over_bpp": gain,
        "gain_ci_low": gain_low,
        "gain_ci_high": gain_high,
        "better_than_bpp": better,
        "sentence": sentence,
    }


def _sign(column: str, lower_is_better: Collection[str]) -> float:
    return -1.0 if column in lower_is_better else 1.0


def _estimate_text(estimate: float, low: float, high: float) -> str:
    return f"{estimate:.2f} [{low:.2f}, {high:.2f}]"


def _statistics_settings(statistics: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(statistics) - set(DEFAULT_STATISTICS)
    if unknown:
        raise ValueError(f"unknown statistics settings {sorted(unknown)}; allowed: {', '.join(DEFAULT_STATISTICS)}")
    settings = {**DEFAULT_STATISTICS, **statistics}
    check_confidence(settings["confidence"])
    if settings["n_boot"] < 1:
        raise ValueError(f"n_boot must be at least 1, got {settings['n_boot']}")
    return settings


def _check_rows(rows: pd.DataFrame, metrics: list[str], sample_quality: str) -> None:
    if not metrics:
        raise ValueError("no metrics to rank")
    repeated = sorted({metric for metric in metrics if metrics.count(metric) > 1})
    if repeated:
        raise ValueError(f"metrics named more than once: {repeated}")
    missing = {*_KEY, sample_quality, *metrics} - set(rows.columns)
    if missing:
        raise ValueError(f"rows lack columns {sorted(missing)}")
    if "dataset" in rows.columns and rows["dataset"].nunique() > 1:
        raise ValueError("metric_task_correlations expects the rows of one dataset")
    duplicated = rows.duplicated(_KEY)
    if duplicated.any():
        raise ValueError(f"duplicate rows for {rows.loc[duplicated, _KEY].head()}")


def _correlations(
    metric_values: np.ndarray, task_values: np.ndarray, image_of_row: np.ndarray, counts: np.ndarray
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Unoriented point estimates (scipy) and per-replicate Spearman and Kendall of one metric's usable rows."""
    n_boot = counts.shape[0]
    present_images, image_codes = np.unique(image_of_row, return_inverse=True)
    record: dict[str, Any] = {"n_pairs": int(metric_values.size), "n_images": int(present_images.size)}
    # Correlations depend on ranks only, so dense codes stand in for the values (and make inf harmless).
    metric_codes, n_metric_levels = _dense_codes(metric_values)
    task_codes, n_task_levels = _dense_codes(task_values)
    if n_metric_levels < 2 or n_task_levels < 2:  # constant (or empty): no correlation, not an error
        record["spearman"] = record["kendall"] = math.nan
        return record, np.full(n_boot, np.nan), np.full(n_boot, np.nan)

    record["spearman"] = float(scipy_stats.spearmanr(metric_codes, task_codes).statistic)
    record["kendall"] = float(scipy_stats.kendalltau(metric_codes, task_codes, variant="b").statistic)

    image_counts = counts[:, present_images].astype(float)
    pair_signs = _image_pair_signs(metric_codes, task_codes, image_codes, present_images.size)
    spearman = np.empty(n_boot)
    kendall = np.empty(n_boot)
    block = max(1, _CELLS_PER_BLOCK // metric_codes.size)
    for start in range(0, n_boot, block):
        replicate = slice(start, start + block)
        row_weights = image_counts[replicate][:, image_codes]
        metric_groups = _group_weights(metric_codes, n_metric_levels, row_weights)
        task_groups = _group_weights(task_codes, n_task_levels, row_weights)
        spearman[replicate] = _resampled_spearman(metric_codes, task_codes, row_weights, metric_groups, task_groups)
        kendall[replicate] = _resampled_kendall(image_counts[replicate], pair_signs, metric_groups, task_groups)
    return record, spearman, kendall


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's position among the sorted distinct values, and how many distinct values there are."""
    levels, codes = np.unique(values, return_inverse=True)
    return codes.ravel(), int(levels.size)


def _group_weights(codes: np.ndarray, n_levels: int, row_weights: np.ndarray) -> np.ndarray:
    """Total weight of each level in each replicate: (replicates, levels), the tie group sizes once resampled."""
    n_replicates = row_weights.shape[0]
    flat = (codes[None, :] + n_levels * np.arange(n_replicates)[:, None]).ravel()
    totals = np.bincount(flat, weights=row_weights.ravel(), minlength=n_replicates * n_levels)
    return totals.reshape(n_replicates, n_levels)


def _centred_ranks(groups: np.ndarray) -> np.ndarray:
    """Average rank of each level in each replicate's resampled table, minus the mean rank (N + 1) / 2.

    A level of total weight g after weight c below it holds ranks c + 1 ... c + g, on average c + (g + 1) / 2:
    the average ranks of ``scipy.stats.rankdata`` on the table with each row repeated as often as it was drawn.
    """
    total = groups.sum(axis=1, keepdims=True)
    return np.cumsum(groups, axis=1) - (groups - 1) / 2 - (total + 1) / 2


def _resampled_spearman(
    metric_codes: np.ndarray,
    task_codes: np.ndarray,
    row_weights: np.ndarray,
    metric_groups: np.ndarray,
    task_groups: np.ndarray,
) -> np.ndarray:
    """Spearman's rho of each replicate: the Pearson correlation of average ranks, every row counted by its
    weight."""
    metric_ranks = _centred_ranks(metric_groups)
    task_ranks = _centred_ranks(task_groups)
    rows = np.arange(row_weights.shape[0])[:, None]
    covariance = (row_weights * metric_ranks[rows, metric_codes] * task_ranks[rows, task_codes]).sum(axis=1)
    metric_variance = (metric_groups * metric_ranks**2).sum(axis=1)
    task_variance = (task_groups * task_ranks**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = covariance / np.sqrt(metric_variance * task_variance)
    # Tested on level counts, not on a variance that rounding could leave a hair above 0.
    constant = ((metric_groups > 0).sum(axis=1) < 2) | ((task_groups > 0).sum(axis=1) < 2)
    return np.where(constant, np.nan, np.clip(rho, -1.0, 1.0))


def _image_pair_signs(
    metric_codes: np.ndarray, task_codes: np.ndarray, image_codes: np.ndarray, n_images: int
) -> np.ndarray:
    """Concordant minus discordant row pairs between each two images, (images, images).

    Entry (a, b) sums sign(dx) * sign(dy) over rows i of image a and j of image b. A replicate drawing image a
    c_a times then has c^T K c / 2 concordant minus discordant pairs: the copies of one row are tied with each
    other (sign 0), so only this matrix and the draw counts matter. Built in row blocks to bound memory.
    """
    order = np.argsort(image_codes, kind="stable")
    metric_codes, task_codes, image_codes = metric_codes[order], task_codes[order], image_codes[order]
    image_starts = np.flatnonzero(np.r_[True, image_codes[1:] != image_codes[:-1]])
    pair_signs = np.zeros((n_images, n_images))
    block = max(1, _CELLS_PER_BLOCK // metric_codes.size)
    for start in range(0, metric_codes.size, block):
        rows = slice(start, start + block)
        signs = np.sign(metric_codes[rows, None] - metric_codes[None, :]) * np.sign(
            task_codes[rows, None] - task_codes[None, :]
        )
        by_column_image = np.add.reduceat(signs, image_starts, axis=1)
        block_images = image_codes[rows]
        block_starts = np.flatnonzero(np.r_[True, block_images[1:] != block_images[:-1]])
        # Images are contiguous after sorting, so each appears once among block_images[block_starts].
        pair_signs[block_images[block_starts]] += np.add.reduceat(by_column_image, block_starts, axis=0)
    return pair_signs


def _resampled_kendall(
    image_counts: np.ndarray, pair_signs: np.ndarray, metric_groups: np.ndarray, task_groups: np.ndarray
) -> np.ndarray:
    """Kendall's tau-b of each replicate: (P - Q) / sqrt((n0 - n1) (n0 - n2)) on the resampled table."""
    concordance = 0.5 * ((image_counts @ pair_signs) * image_counts).sum(axis=1)
    total = metric_groups.sum(axis=1)
    all_pairs = total * (total - 1) / 2
    untied_metric = all_pairs - (metric_groups * (metric_groups - 1) / 2).sum(axis=1)
    untied_task = all_pairs - (task_groups * (task_groups - 1) / 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = concordance / np.sqrt(untied_metric * untied_task)
    # These are integer counts held exactly in floats, so == 0 is exact: a constant column in this replicate.
    constant = (untied_metric == 0) | (untied_task == 0)
    return np.where(constant, np.nan, np.clip(tau, -1.0, 1.0))
