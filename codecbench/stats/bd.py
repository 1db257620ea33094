"""Bjontegaard deltas of codec comparisons, with paired bootstrap confidence intervals.

``bd_metrics`` compares two rate-quality curves (BD-rate: bits saved at equal quality; BD-quality, e.g. BD-PSNR:
quality gained at equal rate) with the ``bjontegaard`` package, after making each curve usable for it (finite,
sorted, strictly increasing) and reporting how much the curves overlap. ``bootstrap_bd`` adds percentile
confidence intervals from the paired bootstrap over images of :mod:`codecbench.stats.bootstrap`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .bootstrap import bootstrap_counts, check_confidence, percentile_bounds, resampled_means

# Our method names -> bjontegaard's (they happen to coincide; the mapping pins the set we support).
METHODS = {"pchip": "pchip", "akima": "akima", "cubic": "cubic"}
# bjontegaard's default ``min_overlap``: below it a BD value extrapolates the curve shapes too much to trust.
RELIABLE_OVERLAP = 0.75
# np.polyfit(deg=3) is underdetermined below 4 points and returns an arbitrary cubic through them.
_MIN_POINTS = {"pchip": 2, "akima": 2, "cubic": 4}


def _bjontegaard():
    # Imported on first use: bjontegaard imports matplotlib.pyplot at import time (about 0.5 s).
    import bjontegaard

    return bjontegaard


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown BD interpolation method {method!r}; allowed: {', '.join(METHODS)}")
    return METHODS[method]


def _pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted isotonic (non-decreasing) least-squares fit of ``values`` in their given order.

    Returns the value of each block of pooled points and the block label of every point. Blocks with equal values
    are pooled too, so block values are strictly increasing (the same fitted values as any isotonic solver).
    """
    block_values: list[float] = []
    block_weights: list[float] = []
    block_sizes: list[int] = []
    for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
        block_values.append(value)
        block_weights.append(weight)
        block_sizes.append(1)
        while len(block_values) > 1 and block_values[-2] >= block_values[-1]:
            value_2, weight_2, size_2 = block_values.pop(), block_weights.pop(), block_sizes.pop()
            total = block_weights[-1] + weight_2
            block_values[-1] = (block_values[-1] * block_weights[-1] + value_2 * weight_2) / total
            block_weights[-1] = total
            block_sizes[-1] += size_2
    labels = np.repeat(np.arange(len(block_sizes)), block_sizes)
    return np.asarray(block_values), labels


def _prepare_curve(rate, quality) -> tuple[np.ndarray, np.ndarray, bool]:
    """A curve bjontegaard can interpolate both ways: (rate, quality, monotone_fit), both strictly increasing.

    1. Points with a non-finite rate or quality, or a rate <= 0 (no logarithm), are dropped.
    2. Points are sorted by rate; points with exactly the same rate are merged into one, with the mean quality.
    3. If quality then decreases anywhere, it is replaced by its isotonic regression on rate (``monotone_fit``).
    4. Points sharing one quality value (a pooled block of the fit, or a flat run in the data) are merged into one
       point at that quality and the mean log-rate (geometric mean rate) of the points, weighted by how many input
       points each stands for.
    Points that need no merging keep their rate exactly as given.
    """
    rate = np.asarray(rate, dtype=float).ravel()
    quality = np.asarray(quality, dtype=float).ravel()
    if rate.shape != quality.shape:
        raise ValueError(f"rate and quality differ in length: {rate.size} and {quality.size}")
    keep = np.isfinite(rate) & np.isfinite(quality) & (rate > 0)
    rate, quality = rate[keep], quality[keep]
    if rate.size == 0:
        return rate, quality, False
    order = np.lexsort((quality, rate))
    rate, quality = rate[order], quality[order]

    unique_rate, inverse, counts = np.unique(rate, return_inverse=True, return_counts=True)
    if unique_rate.size < rate.size:
        quality = np.bincount(inverse, weights=quality) / counts
    rate, weights = unique_rate, counts.astype(float)

    steps = np.diff(quality)
    monotone_fit = bool((steps < 0).any())
    if (steps > 0).all():
        return rate, quality, monotone_fit
    quality, labels = _pool_adjacent_violators(quality, weights)
    block_weight = np.bincount(labels, weights=weights)
    merged_log_rate = np.bincount(labels, weights=weights * np.log10(rate)) / block_weight
    single = np.bincount(labels) == 1
    # Keep untouched points bit-exact rather than round-tripping them through log10.
    rate = np.where(single, rate[np.searchsorted(labels, np.arange(labels[-1] + 1))], 10.0**merged_log_rate)
    return rate, quality, monotone_fit


def _relative_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Length of the intersection of two ranges over the length of their union (bjontegaard's measure)."""
    union = max(a[-1], b[-1]) - min(a[0], b[0])
    return float(max(min(a[-1], b[-1]) - max(a[0], b[0]), 0.0) / union)


def _bd_prepared(anchor: tuple, test: tuple, method: str) -> dict:
    """BD values for two curves already prepared by ``_prepare_curve`` (warnings are the caller's business)."""
    (rate_a, quality_a, fit_a), (rate_t, quality_t, fit_t) = anchor, test
    result = {
        "bd_rate_pct": float("nan"),
        "bd_quality": float("nan"),
        "overlap_quality": float("nan"),
        "overlap_rate": float("nan"),
        "bd_rate_reliable": False,
        "bd_quality_reliable": False,
        "available": False,
        "monotone_fit": fit_a or fit_t,
        "method": method,
    }
    if min(rate_a.size, rate_t.size) < 2:
        return result
    overlap_quality = _relative_overlap(quality_a, quality_t)
    overlap_rate = _relative_overlap(np.log10(rate_a), np.log10(rate_t))
    result["overlap_quality"], result["overlap_rate"] = overlap_quality, overlap_rate
    if min(overlap_quality, overlap_rate) <= 0 or min(rate_a.size, rate_t.size) < _MIN_POINTS[method]:
        return result
    bj = _bjontegaard()
    options = {"method": METHODS[method], "require_matching_points": False, "min_overlap": 0}
    bd_rate = float(bj.bd_rate(rate_a, quality_a, rate_t, quality_t, **options))
    bd_quality = float(bj.bd_psnr(rate_a, quality_a, rate_t, quality_t, **options))
    if np.isfinite(bd_rate) and np.isfinite(bd_quality):
        result["bd_rate_pct"], result["bd_quality"] = bd_rate, bd_quality
        result["available"] = True
        # Each delta integrates along its own axis, so each is judged by the overlap along that axis.
        result["bd_rate_reliable"] = overlap_quality >= RELIABLE_OVERLAP
        result["bd_quality_reliable"] = overlap_rate >= RELIABLE_OVERLAP
    return result


def bd_metrics(anchor_rate, anchor_quality, test_rate, test_quality, method: str = "pchip") -> dict:
    """Bjontegaard deltas of one test rate-quality curve against one anchor curve.

    Each curve is given as arrays of per-quality mean rate (bpp) and mean quality (higher is better), in any
    order. Non-finite points and rates <= 0 are dropped; a side left with fewer than 2 points (4 for ``"cubic"``,
    whose cubic polynomial is otherwise underdetermined) makes the result not available.

    Monotone fit: BD integrates rate as a function of quality, which needs quality to increase with rate. If a
    curve's quality (sorted by rate) decreases anywhere, its quality values are replaced by their isotonic
    regression on rate (the non-decreasing least-squares fit, by pool-adjacent-violators; Barlow et al. 1972), and
    ``monotone_fit`` is True. The constrained cubic fit of Wang et al. (PCS 2024) is the alternative; it is not used.

    Ties: bjontegaard's interpolators need strictly increasing abscissae in both directions. Points with exactly
    the same rate are merged into one with their mean quality; points with the same quality (a block pooled by the
    fit, or a flat run in the data) are merged into one at that quality and their mean log10-rate.

    Returns a dict:

    - ``bd_rate_pct``: percent rate of test vs anchor at equal quality, averaged over the overlapping quality
      range in log-rate (negative: the test codec saves bits).
    - ``bd_quality``: mean quality difference (test - anchor) at equal log-rate, in the metric's unit (dB for PSNR).
    - ``overlap_quality``: intersection over union of the two quality ranges (0..1), the interval of ``bd_rate_pct``.
    - ``overlap_rate``: the same for the log-rate ranges, the interval of ``bd_quality``.
    - ``bd_rate_reliable``: ``overlap_quality`` >= 0.75, the range BD-rate integrates over (bjontegaard's
      threshold for trusting a delta); ``bd_quality_reliable``: the same for ``overlap_rate`` and BD-quality.
    - ``available``: both overlaps > 0 and enough points; otherwise both deltas are NaN.
    - ``monotone_fit``: whether either curve was replaced by its isotonic fit.
    - ``method``: ``"pchip"`` (default), ``"akima"`` or ``"cubic"`` (the VCEG-M33 cubic polynomial fit).

    Overlaps are NaN when a side has fewer than 2 usable points. bjontegaard's overlap warnings are suppressed,
    since the overlaps are reported here.
    """
    _check_method(method)
    anchor = _prepare_curve(anchor_rate, anchor_quality)
    test = _prepare_curve(test_rate, test_quality)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _bd_prepared(anchor, test, method)


def _per_quality_matrix(rows: pd.DataFrame, column: str, image_ids: np.ndarray) -> np.ndarray:
    """One codec's ``column`` as a (quality x image) matrix over ``image_ids``, NaN where an image is missing."""
    return rows.pivot(index="quality", columns="image_id", values=column).reindex(columns=image_ids).to_numpy(float)


def _bootstrap_replicates_loop(rate_a, quality_a, rate_t, quality_t, method: str) -> np.ndarray:
    """(bd_rate_pct, bd_quality) of every replicate row, NaN where not available: ``_bd_prepared`` row by row.

    The reference for ``_bootstrap_replicates``.
    """
    replicates = np.full((rate_a.shape[0], 2), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # once around the loop: per-call catch_warnings costs time
        for b in range(rate_a.shape[0]):
            bd = _bd_prepared(_prepare_curve(rate_a[b], quality_a[b]), _prepare_curve(rate_t[b], quality_t[b]), method)
            if bd["available"]:
                replicates[b] = bd["bd_rate_pct"], bd["bd_quality"]
    return replicates


def _prepare_curves(rate: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_prepare_curve`` of every row of (replicate x point) matrices, as NaN-padded matrices and lengths.

    Row ``b``'s prepared curve is ``rate[b, :size[b]], quality[b, :size[b]]``, bit-identical to
    ``_prepare_curve(rate[b], quality[b])``. Rows whose usable points, sorted by rate, already increase strictly
    in both rate and quality (the usual case) are prepared at once; the others (ties, a monotone fit) row by row.
    """
    keep = np.isfinite(rate) & np.isfinite(quality) & (rate > 0)
    # Unusable points sort last; among distinct rates, argsort by rate is _prepare_curve's lexsort.
    order = np.argsort(np.where(keep, rate, np.inf), axis=1, kind="stable")
    out_rate = np.take_along_axis(np.where(keep, rate, np.nan), order, axis=1)
    out_quality = np.take_along_axis(np.where(keep, quality, np.nan), order, axis=1)
    size = keep.sum(axis=1)
    inside = np.arange(rate.shape[1] - 1)[None, :] < (size - 1)[:, None]  # pairs of usable neighbours
    with np.errstate(invalid="ignore"):
        increasing = (np.diff(out_rate, axis=1) > 0) & (np.diff(out_quality, axis=1) > 0)
    for b in np.flatnonzero(~(increasing | ~inside).all(axis=1)):
        r, q, _ = _prepare_curve(rate[b], quality[b])
        out_rate[b], out_quality[b], size[b] = np.nan, np.nan, r.size
        out_rate[b, : r.size], out_quality[b, : r.size] = r, q
    return out_rate, out_quality, size


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Derivatives at the knots of scipy's ``PchipInterpolator``, for each row of (curve x point) matrices."""
    h = np.diff(x, axis=1)
    m = np.diff(y, axis=1) / h
    if x.shape[1] == 2:
        return np.concatenate([m, m], axis=1)  # scipy: linear between two points
    sign = np.sign(m)
    flat_or_turn = (sign[:, 1:] != sign[:, :-1]) | (m[:, 1:] == 0) | (m[:, :-1] == 0)
    w1 = 2 * h[:, 1:] + h[:, :-1]
    w2 = h[:, 1:] + 2 * h[:, :-1]
    whmean = (w1 / m[:, :-1] + w2 / m[:, 1:]) / (w1 + w2)
    d = np.empty_like(y)
    d[:, 1:-1] = np.where(flat_or_turn, 0.0, 1.0 / whmean)
    d[:, 0] = _pchip_edge(h[:, 0], h[:, 1], m[:, 0], m[:, 1])
    d[:, -1] = _pchip_edge(h[:, -1], h[:, -2], m[:, -1], m[:, -2])
    return d


def _pchip_edge(h0, h1, m0, m1):
    """scipy's ``PchipInterpolator._edge_case``: one-sided three-point end slope, shape-preserving."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    wrong_sign = np.sign(d) != np.sign(m0)
    overshoot = (np.sign(m0) != np.sign(m1)) & (np.abs(d) > 3.0 * np.abs(m0))
    return np.where(wrong_sign, 0.0, np.where(overshoot, 3.0 * m0, d))


def _akima_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Derivatives at the knots of scipy's ``Akima1DInterpolator`` (method "akima"), row by row, >= 3 points."""
    n = x.shape[1]
    m = np.empty((x.shape[0], n + 3))
    m[:, 2:-2] = np.diff(y, axis=1) / np.diff(x, axis=1)
    m[:, 1] = 2.0 * m[:, 2] - m[:, 3]
    m[:, 0] = 2.0 * m[:, 1] - m[:, 2]
    m[:, -2] = 2.0 * m[:, -3] - m[:, -4]
    m[:, -1] = 2.0 * m[:, -2] - m[:, -3]
    fill = 0.5 * (m[:, 3:] + m[:, :-3])
    dm = np.abs(np.diff(m, axis=1))
    f1, f2 = dm[:, 2:], dm[:, :-2]
    f12 = f1 + f2
    defined = f12 > 1e-9 * f12.max(axis=1, keepdims=True)  # scipy's break_mult, against the curve's largest f12
    return np.where(defined, m[:, 1 : n + 1] + (f2 / f12) * (m[:, 2 : n + 2] - m[:, 1 : n + 1]), fill)


def _hermite_integral(x: np.ndarray, y: np.ndarray, d: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Integral over [low, high] of each row's cubic Hermite spline, in the power basis scipy's PPoly uses."""
    h = np.diff(x, axis=1)
    slope = np.diff(y, axis=1) / h
    t = (d[:, :-1] + d[:, 1:] - 2 * slope) / h
    c3, c2, c1, c0 = t / h, (slope - d[:, :-1]) / h - t, d[:, :-1], y[:, :-1]
    left = x[:, :-1]

    def antiderivative(s):
        return s * (c0 + s * (c1 / 2 + s * (c2 / 3 + s * (c3 / 4))))

    # Segments outside [low, high] clip to an empty interval and add exactly 0.
    lo = np.clip(low[:, None], left, x[:, 1:]) - left
    hi = np.clip(high[:, None], left, x[:, 1:]) - left
    return (antiderivative(hi) - antiderivative(lo)).sum(axis=1)


def _polyfit_cubic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``np.polyfit(x[b], y[b], 3)`` for every row ``b``, bit for bit.

    The same scaled Vandermonde matrix and LAPACK least-squares solver (gelsd) as np.polyfit; the solver is numpy's
    own gufunc behind np.linalg.lstsq, called once on the stack of rows (np.linalg.lstsq only takes one matrix).
    Should that private gufunc be unavailable, np.linalg.lstsq solves the rows one by one.
    """
    n_rows, n_points = x.shape
    powers = np.concatenate([np.ones((n_rows, n_points, 1)), np.repeat(x[:, :, None], 3, axis=2)], axis=2)
    lhs = np.multiply.accumulate(powers, axis=2)[:, :, ::-1]  # np.vander(x, 4)
    scale = np.sqrt((lhs * lhs).sum(axis=1))
    lhs = lhs / scale[:, None, :]
    rcond = n_points * np.finfo(float).eps
    try:
        from numpy.linalg import _umath_linalg

        solver = _umath_linalg.lstsq_m if n_points <= 4 else _umath_linalg.lstsq_n
        with np.errstate(all="ignore"):
            coefficients = solver(lhs, y[:, :, None], rcond, signature="ddd->ddid")[0][:, :, 0]
        if coefficients.shape != (n_rows, 4):
            raise ValueError(coefficients.shape)
    except (ImportError, AttributeError, TypeError, ValueError):
        coefficients = np.array([np.linalg.lstsq(a, b, rcond)[0] for a, b in zip(lhs, y, strict=True)])
    return coefficients / scale


def _cubic_fit_integral(x: np.ndarray, y: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Integral over [low, high] of each row's ``np.polyfit(x, y, 3)``: bjontegaard's cubic, with np.polyint and
    np.polyval's Horner scheme, operation for operation."""
    coefficients = _polyfit_cubic(x, y)
    antiderivative = np.concatenate([coefficients / np.arange(4, 0, -1), np.zeros((x.shape[0], 1))], axis=1)

    def horner(at):
        value = np.zeros_like(at)
        for k in range(antiderivative.shape[1]):
            value = value * at + antiderivative[:, k]
        return value

    return horner(high) - horner(low)


def _bd_delta_batch(base_a, value_a, base_t, value_t, method: str) -> np.ndarray:
    """bjontegaard's ``bd_linear`` for rows of sorted curves: mean of test - anchor over the overlap of the bases."""
    low = np.maximum(base_a[:, 0], base_t[:, 0])
    high = np.minimum(base_a[:, -1], base_t[:, -1])
    integrals = []
    for x, y in ((base_a, value_a), (base_t, value_t)):
        if method == "cubic":
            integrals.append(_cubic_fit_integral(x, y, low, high))
            continue
        if method == "akima" and x.shape[1] > 2:
            slopes = _akima_slopes(x, y)
        else:  # pchip; akima with two points is linear (bjontegaard's make_interp_spline k=1), as is pchip's
            slopes = _pchip_slopes(x, y)
        integrals.append(_hermite_integral(x, y, slopes, low, high))
    return (integrals[1] - integrals[0]) / (high - low)


def _relative_overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``_relative_overlap`` of each row pair of sorted curves."""
    union = np.maximum(a[:, -1], b[:, -1]) - np.minimum(a[:, 0], b[:, 0])
    return np.maximum(np.minimum(a[:, -1], b[:, -1]) - np.maximum(a[:, 0], b[:, 0]), 0.0) / union


def _bd_batch(rate_a, quality_a, rate_t, quality_t, method: str) -> np.ndarray:
    """(bd_rate_pct, bd_quality) of ``_bd_prepared`` for rows of prepared curves of one length per side.

    Rows whose result ``_bd_prepared`` marks not available are NaN. The same interpolants and integrals as
    bjontegaard (scipy's PCHIP and Akima splines, integrated exactly; np.polyfit's cubic), vectorised over rows.
    """
    out = np.full((rate_a.shape[0], 2), np.nan)
    if min(rate_a.shape[1], rate_t.shape[1]) < max(2, _MIN_POINTS[method]) or rate_a.shape[0] == 0:
        return out
    log_a, log_t = np.log10(rate_a), np.log10(rate_t)
    with np.errstate(all="ignore"):  # rows without overlap compute garbage, then are dropped
        overlapping = np.minimum(_relative_overlaps(quality_a, quality_t), _relative_overlaps(log_a, log_t)) > 0
        bd_rate = (10 ** _bd_delta_batch(quality_a, log_a, quality_t, log_t, method) - 1) * 100
        bd_quality = _bd_delta_batch(log_a, quality_a, log_t, quality_t, method)
    available = overlapping & np.isfinite(bd_rate) & np.isfinite(bd_quality)
    out[available, 0], out[available, 1] = bd_rate[available], bd_quality[available]
    return out


def _bootstrap_replicates(rate_a, quality_a, rate_t, quality_t, method: str) -> np.ndarray:
    """``_bootstrap_replicates_loop``'s result, vectorised over replicates.

    Replicates are grouped by the lengths of their two prepared curves and each group is computed at once.
    """
    rate_a, quality_a, size_a = _prepare_curves(rate_a, quality_a)
    rate_t, quality_t, size_t = _prepare_curves(rate_t, quality_t)
    replicates = np.full((rate_a.shape[0], 2), np.nan)
    pairs = size_a * (rate_t.shape[1] + 1) + size_t
    for pair in np.unique(pairs):
        rows = np.flatnonzero(pairs == pair)
        n_a, n_t = size_a[rows[0]], size_t[rows[0]]
        replicates[rows] = _bd_batch(
            rate_a[rows, :n_a], quality_a[rows, :n_a], rate_t[rows, :n_t], quality_t[rows, :n_t], method
        )
    return replicates


def bootstrap_bd(
    table: pd.DataFrame,
    anchor: str,
    codec: str,
    metric: str,
    method: str = "pchip",
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict:
    """``bd_metrics`` of ``codec`` against ``anchor`` on ``metric``, with paired bootstrap percentile intervals.

    ``table`` holds the per-image rows of one dataset (columns ``codec``, ``quality``, ``image_id``, ``bpp`` and
    ``metric``). Only the images both codecs have are used, for the estimate and for the bootstrap alike. Each
    curve is the per-quality mean of ``bpp`` and ``metric`` over those images; a row whose ``bpp`` or ``metric``
    is NaN is left out of both means (so rate and quality stay means over the same images), and a quality whose
    mean is infinite (lossless PSNR) drops out of the curve.

    Bootstrap: each replicate draws the shared images with replacement, once, and uses that draw for both codecs
    and every quality; the curves' means and then the BD values are recomputed. ``bd_*_ci_low``/``_high`` are
    percentiles of the replicates that were available (``n_boot_valid`` of ``n_boot``; replicates where the curves
    stop overlapping are left out, which narrows the interval when that happens often). If the estimate itself is
    not available the intervals are NaN. ``n_images`` is the number of shared images. The replicates are computed
    vectorised (``_bootstrap_replicates``), equal to ``_bd_prepared`` through bjontegaard to rounding.

    Returns ``bd_metrics``' keys plus ``bd_rate_ci_low``, ``bd_rate_ci_high``, ``bd_quality_ci_low``,
    ``bd_quality_ci_high``, ``n_boot_valid`` and ``n_images``.
    """
    _check_method(method)
    check_confidence(confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    missing = {"codec", "quality", "image_id", "bpp", metric} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)}")
    if "dataset" in table.columns and table["dataset"].nunique() > 1:
        raise ValueError("bootstrap_bd expects the rows of one dataset")
    duplicated = table.duplicated(["codec", "quality", "image_id"])
    if duplicated.any():
        raise ValueError(f"duplicate rows for {table.loc[duplicated, ['codec', 'quality', 'image_id']].head()}")

    curves = {}
    for name in (anchor, codec):
        rows = table[table["codec"] == name]
        if rows.empty:
            raise ValueError(f"codec {name!r} has no rows in the table")
        curves[name] = rows
    image_ids = np.sort(np.intersect1d(curves[anchor]["image_id"].unique(), curves[codec]["image_id"].unique()))

    matrices = []  # per codec: (rate, quality) matrices, quality levels x shared images
    for name in (anchor, codec):
        rate = _per_quality_matrix(curves[name], "bpp", image_ids)
        quality = _per_quality_matrix(curves[name], metric, image_ids)
        unusable = np.isnan(rate) | np.isnan(quality)
        matrices.append((np.where(unusable, np.nan, rate), np.where(unusable, np.nan, quality)))

    all_images = np.ones((1, image_ids.size), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        point_curves = [tuple(resampled_means(m, all_images)[0] for m in pair) for pair in matrices]
        result = _bd_prepared(*(_prepare_curve(r, q) for r, q in point_curves), method)

    nan = float("nan")
    result.update(
        bd_rate_ci_low=nan, bd_rate_ci_high=nan, bd_quality_ci_low=nan, bd_quality_ci_high=nan, n_boot_valid=0
    )
    result["n_images"] = int(image_ids.size)
    if not result["available"]:
        return result

    counts = bootstrap_counts(image_ids.size, n_boot, seed)
    # (replicate, quality) mean rate and quality of each codec under the shared draws.
    (rate_a, quality_a), (rate_t, quality_t) = [tuple(resampled_means(m, counts) for m in pair) for pair in matrices]
    replicates = _bootstrap_replicates(rate_a, quality_a, rate_t, quality_t, method)
    valid = np.isfinite(replicates).all(axis=1)
    result["n_boot_valid"] = int(valid.sum())
    if valid.any():
        low, high = percentile_bounds(replicates[valid], confidence)
        result["bd_rate_ci_low"], result["bd_quality_ci_low"] = float(low[0]), float(low[1])
        result["bd_rate_ci_high"], result["bd_quality_ci_high"] = float(high[0]), float(high[1])
    return result
