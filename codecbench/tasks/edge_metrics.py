"""The BSDS500 boundary benchmark: precision, recall and F of edge maps against human boundaries (ODS, OIS, AP).

Definition (Martin, Fowlkes & Malik, "Learning to detect natural image boundaries using local brightness, color,
and texture cues", PAMI 2004; Arbeláez, Maire, Fowlkes & Malik, "Contour detection and hierarchical image
segmentation", PAMI 2011, whose benchmark code, ``evaluation_bdry_image``, ``correspondPixels`` and
``collect_eval_bdry``, this follows):

* a soft edge map ``pb`` in [0, 1] is cut at each threshold ``t`` (``nthresh = 99`` thresholds, evenly spaced
  ``1/100 .. 99/100``): ``bmap = pb >= t``, thinned to one pixel width (the benchmark's ``bwmorph(bmap, 'thin',
  inf)``; here scikit-image's ``thin``, the same Guo-Hall thinning that MATLAB cites from Lam, Lee & Suen,
  reproduced pixel for pixel but faster by :func:`thin_edges`);
* ``bmap`` is matched to EACH annotator's boundary map separately, one to one, a pair being allowed when the two
  pixels lie at most ``max_dist`` (0.0075) times the image diagonal apart (Euclidean, in pixels);
* per image and threshold: ``cntR`` = matched boundary pixels summed over annotators, ``sumR`` = boundary pixels
  summed over annotators, ``cntP`` = predicted pixels matched to at least one annotator, ``sumP`` = predicted
  pixels. Recall ``R = cntR / sumR``, precision ``P = cntP / sumP`` (the benchmark's ``x ./ (n + (n == 0))``:
  0 when the denominator is 0), ``F = 2PR / (P + R)`` (0 when ``P + R = 0``);
* ODS (optimal dataset scale): the counts summed over images per threshold, then the best F over thresholds. As in
  ``collect_eval_bdry``'s ``maxF``, the search also walks 100 evenly spaced points along the straight segment
  between each pair of neighbouring thresholds' (R, P) (``interpolate=True``; False: the thresholds only);
* OIS (optimal image scale): each image at its own best threshold (the first of equal best Fs, no interpolation,
  as the benchmark does), those counts summed over images, F of the sums;
* AP: the area under the dataset's PR curve, the benchmark's way: precision interpolated linearly in recall
  (unique recalls, each with the precision of its first, lowest, threshold) at recalls 0, 0.01, ..., 1, outside
  the measured range 0, summed and times 0.01 (0 when fewer than two distinct recalls).

Conventions worth knowing: an empty prediction has P = 0, and an image without ground-truth boundaries has R = 0,
so F = 0 there even when nothing is predicted. A binary detector (Canny: maps in {0, 1}) gives the same
thresholded map at every threshold, so every threshold has the same counts and ODS = OIS-per-image = that F (the
dataset ODS and OIS are then equal too).

Matching: the benchmark solves a min-cost assignment (Goldberg's CSA) in which leaving a pixel unmatched costs
100 x the tolerance per pixel while a matched pair costs its distance (at most the tolerance), so its solution is
in effect a maximum-cardinality matching within the tolerance that, among those, prefers short pairs. Here
:func:`correspond_pixels` computes an exact maximum-cardinality matching (Hopcroft-Karp,
:func:`scipy.sparse.csgraph.maximum_bipartite_matching`, on the sparse graph of pixel pairs within the tolerance,
found by enumerating the integer offsets in the disc as ``match.cc`` does). The number of matches, hence ``cntR``
and the single-annotator ``cntP``, is the benchmark's; with several annotators ``cntP`` counts the union of the
matched predicted pixels, and where maximum matchings differ in WHICH predicted pixels they use (the benchmark
picks short pairs, ours an arbitrary one) that union can differ slightly. A min-cost full matching
(:func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`) reproduces the tie-break but takes minutes per
dense map. The benchmark itself also draws random sparse outlier edges (``kOfN``) and rounds distances to
1/100 pixel, so it is not bit-for-bit deterministic in those tie-breaks either.

Cost: thinning and matching every threshold of a dense soft map (481 x 321, 5 annotators) takes about 0.2 s per
threshold on one core, 20 s per image at 99 thresholds (the MATLAB benchmark is as slow); thresholds that cut the
same pixels are computed once, so a binary map costs one threshold.

``pyEdgeEval`` (PyPI, MIT with the BSDS C++ under GPL-2.0) ports the original CSA code with Cython; this module
needs nothing beyond numpy, scipy and scikit-image, and keeps the per-image counts so that bootstrap replicates
(weights over images) recompute ODS/OIS/AP exactly (:func:`ods_ois`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DEFAULT_THRESHOLDS = 99
DEFAULT_MAX_DIST = 0.0075
COUNT_COLUMNS = ("cnt_r", "sum_r", "cnt_p", "sum_p")  # the last axis of the counts arrays
INTERPOLATION_STEPS = 100  # MATLAB's linspace(0, 1) in maxF
AP_RECALLS = np.linspace(0.0, 1.0, 101)  # 0 : 0.01 : 1


def benchmark_thresholds(n: int = DEFAULT_THRESHOLDS) -> np.ndarray:
    """The benchmark's ``n`` thresholds, ``linspace(1/(n+1), 1 - 1/(n+1), n)`` (0.5 alone when n is 1)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"the number of thresholds must be a positive integer, got {n!r}")
    if n == 1:
        return np.array([0.5])
    return np.linspace(1.0 / (n + 1), 1.0 - 1.0 / (n + 1), int(n))


def thin_edges(bmap: np.ndarray) -> np.ndarray:
    """A boolean map thinned to one-pixel-wide curves (``bwmorph(bmap, 'thin', inf)``).

    :func:`skimage.morphology.thin` step for step (its neighbourhood code and its two look-up tables, until
    nothing changes), with the 3x3 correlation done by OpenCV on the map's bounding box: the same pixels, several
    times faster on the dense maps that low thresholds cut.
    """
    import cv2

    bmap = np.asarray(bmap, dtype=bool)
    out = np.zeros_like(bmap)
    if not bmap.any():
        return out
    try:
        from skimage.morphology._skeletonize import G123_LUT, G123P_LUT
    except ImportError:  # a scikit-image that moved its tables: its own (slower) thin
        from skimage.morphology import thin

        return thin(bmap)
    rows, cols = np.nonzero(bmap.any(axis=1))[0], np.nonzero(bmap.any(axis=0))[0]
    top, bottom = max(rows[0] - 1, 0), min(rows[-1] + 2, bmap.shape[0])
    left, right = max(cols[0] - 1, 0), min(cols[-1] + 2, bmap.shape[1])
    skel = np.ascontiguousarray(bmap[top:bottom, left:right], dtype=np.uint8)
    mask = np.array([[8, 4, 2], [16, 0, 1], [32, 64, 128]], dtype=np.float32)  # skimage's neighbourhood code
    luts = [np.asarray(lut, dtype=np.uint8) for lut in (G123_LUT, G123P_LUT)]
    before, after = -1, int(skel.sum())
    while before != after:
        before = after
        for lut in luts:
            code = cv2.filter2D(skel, -1, mask, borderType=cv2.BORDER_CONSTANT)  # correlation, zeros outside
            skel[cv2.LUT(code, lut) > 0] = 0
        after = int(skel.sum())
    out[top:bottom, left:right] = skel > 0
    return out


def tolerance_px(shape: Sequence[int], max_dist: float = DEFAULT_MAX_DIST) -> float:
    """The matching radius in pixels: ``max_dist`` times the diagonal of a ``shape`` (height, width) image."""
    return float(max_dist) * math.hypot(int(shape[0]), int(shape[1]))


def _disc_offsets(radius: float) -> list[tuple[int, int]]:
    r = math.ceil(radius)
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= radius * radius]


def correspond_pixels(
    pred: np.ndarray, gt: np.ndarray, max_dist: float = DEFAULT_MAX_DIST
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one correspondence of two boolean boundary maps of one shape: (predicted pixels matched, ground-truth
    pixels matched), boolean maps, each match pairing pixels at most ``max_dist`` x diagonal apart. A maximum
    matching (as many pairs as possible; see the module docstring on how it relates to the benchmark's)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    pred, gt = np.asarray(pred, dtype=bool), np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"maps to match must be 2-D and of one shape, got {pred.shape} and {gt.shape}")
    matched_pred, matched_gt = np.zeros_like(pred), np.zeros_like(gt)
    if not pred.any() or not gt.any():
        return matched_pred, matched_gt
    height, width = pred.shape
    py, px = np.nonzero(pred)
    gy, gx = np.nonzero(gt)
    gt_index = np.full(pred.shape, -1, dtype=np.int64)
    gt_index[gy, gx] = np.arange(gy.size)
    rows, cols = [], []
    for dy, dx in _disc_offsets(tolerance_px(pred.shape, max_dist)):
        y, x = py + dy, px + dx
        inside = np.nonzero((y >= 0) & (y < height) & (x >= 0) & (x < width))[0]
        j = gt_index[y[inside], x[inside]]
        hit = j >= 0
        rows.append(inside[hit])
        cols.append(j[hit])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    if rows.size == 0:
        return matched_pred, matched_gt
    graph = csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(py.size, gy.size))
    partner = maximum_bipartite_matching(graph, perm_type="column")  # per predicted pixel: its GT pixel or -1
    paired = partner >= 0
    matched_pred[py[paired], px[paired]] = True
    matched_gt[gy[partner[paired]], gx[partner[paired]]] = True
    return matched_pred, matched_gt


def _match_annotators(pred: np.ndarray, gts: np.ndarray, max_dist: float) -> tuple[int, int]:
    """(matched ground-truth pixels summed over annotators, predicted pixels matched to at least one annotator):
    :func:`correspond_pixels` against each of ``gts`` (annotators, H, W), solved as one block-diagonal graph (one
    block per annotator, so one maximum matching of it is a maximum matching per annotator)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    py, px = np.nonzero(pred)
    if py.size == 0 or not gts.any():
        return 0, 0
    n_annotators, height, width = gts.shape
    gt_index = np.full(gts.shape, -1, dtype=np.int64)
    n_gt = int(gts.sum())
    gt_index[gts] = np.arange(n_gt)
    rows, cols = [], []
    for dy, dx in _disc_offsets(tolerance_px(pred.shape, max_dist)):
        y, x = py + dy, px + dx
        inside = np.nonzero((y >= 0) & (y < height) & (x >= 0) & (x < width))[0]
        j = gt_index[:, y[inside], x[inside]]  # (annotators, pixels inside)
        annotator, k = np.nonzero(j >= 0)
        rows.append(annotator * py.size + inside[k])  # row: (annotator, predicted pixel)
        cols.append(j[annotator, k])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    if rows.size == 0:
        return 0, 0
    # ground-truth pixels as the rows: Hopcroft-Karp runs a few times faster that way round on edge maps
    graph = csr_matrix((np.ones(rows.size, dtype=np.int8), (cols, rows)), shape=(n_gt, n_annotators * py.size))
    paired = maximum_bipartite_matching(graph, perm_type="row") >= 0  # per (annotator, predicted pixel)
    return int(paired.sum()), int(paired.reshape(n_annotators, py.size).any(axis=0).sum())


def _as_thresholds(thresholds: int | Sequence[float] | np.ndarray) -> np.ndarray:
    if isinstance(thresholds, int | np.integer) and not isinstance(thresholds, bool):
        return benchmark_thresholds(int(thresholds))
    values = np.asarray(thresholds, dtype=float).ravel()
    if values.size == 0 or not np.all(np.diff(values) > 0):
        raise ValueError("thresholds must be a positive count or increasing numbers")
    return values


def boundary_counts(
    edge_map: np.ndarray,
    gt_maps: np.ndarray,
    thresholds: int | Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS,
    max_dist: float = DEFAULT_MAX_DIST,
    thin: bool = True,
) -> np.ndarray:
    """The benchmark's per-threshold counts of one image: an int64 (thresholds, 4) array of
    ``cnt_r, sum_r, cnt_p, sum_p`` (:data:`COUNT_COLUMNS`).

    ``edge_map``: (height, width) edge strengths in [0, 1] (a bool map is 0/1); ``gt_maps``: boolean boundaries,
    (annotators, height, width) or one (height, width) map; ``thresholds``: a count (the benchmark's evenly spaced
    ones, :func:`benchmark_thresholds`) or increasing values; a pixel is an edge at ``t`` when ``edge_map >= t``.
    Thresholds that leave the same pixels (all of them, for a binary map) share one computation.
    """
    pb = np.asarray(edge_map)
    pb = pb.astype(np.float64) if pb.dtype == bool else np.asarray(pb, dtype=np.float64)
    gts = np.asarray(gt_maps, dtype=bool)
    if gts.ndim == 2:
        gts = gts[None]
    if pb.ndim != 2 or gts.ndim != 3 or gts.shape[1:] != pb.shape:
        raise ValueError(f"edge map {pb.shape} and ground-truth maps {gts.shape} must be (H, W) and (annotators, H, W)")
    if gts.shape[0] == 0:
        raise ValueError("no ground-truth boundary maps (zero annotators)")
    if not np.isfinite(pb).all() or (pb.size and (pb.min() < 0 or pb.max() > 1)):
        raise ValueError("edge strengths must be finite numbers in [0, 1] (divide 8-bit maps by 255)")
    values = _as_thresholds(thresholds)
    counts = np.zeros((values.size, 4), dtype=np.int64)
    sum_r = int(gts.sum())
    previous_size, previous = -1, None
    for index, t in enumerate(values):
        bmap = pb >= t
        size = int(bmap.sum())
        # Cuts at increasing thresholds are nested, so an equal pixel count means an identical map.
        if size == previous_size:
            counts[index] = previous
            continue
        bmap = thin_edges(bmap) if thin else bmap
        cnt_r, cnt_p = _match_annotators(bmap, gts, max_dist)
        counts[index] = previous = (cnt_r, sum_r, cnt_p, int(bmap.sum()))
        previous_size = size
    return counts


def precision_recall_f(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, F) of counts (..., 4) with the benchmark's zero conventions (see the module docstring)."""
    counts = np.asarray(counts, dtype=float)
    cnt_r, sum_r, cnt_p, sum_p = (counts[..., k] for k in range(4))
    recall = cnt_r / (sum_r + (sum_r == 0))
    precision = cnt_p / (sum_p + (sum_p == 0))
    return precision, recall, f_measure(precision, recall)


def f_measure(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """``2PR / (P + R)``, 0 where ``P + R = 0`` (the benchmark's ``fmeasure``)."""
    precision, recall = np.asarray(precision, dtype=float), np.asarray(recall, dtype=float)
    total = precision + recall
    return 2 * precision * recall / (total + (total == 0))


def best_f(
    precision: np.ndarray, recall: np.ndarray, thresholds: np.ndarray, interpolate: bool = True
) -> dict[str, np.ndarray]:
    """The benchmark's ``maxF`` over the last axis of (..., thresholds) precision and recall curves: dict of
    ``f``, ``precision``, ``recall``, ``threshold`` (arrays of the leading shape). With ``interpolate`` the
    search includes 100 points along each segment between neighbouring thresholds (first strict best wins, the
    thresholds walked upwards); without, the thresholds only (first best)."""
    precision, recall = np.asarray(precision, dtype=float), np.asarray(recall, dtype=float)
    thresholds = np.asarray(thresholds, dtype=float)
    if interpolate and thresholds.size > 1:
        d = np.linspace(0.0, 1.0, INTERPOLATION_STEPS)

        def along(values: np.ndarray) -> np.ndarray:  # (..., T-1, steps) then the first point prepended
            # a + d (b - a) rather than maxF's b d + a (1 - d): equal neighbours stay exactly equal (no ulp noise
            # picking a point inside a flat stretch, e.g. for a binary map), otherwise the same to rounding.
            start, step = values[..., :-1, None], np.diff(values, axis=-1)[..., None]
            inner = start + d * step
            inner = inner.reshape(*values.shape[:-1], -1)
            return np.concatenate([values[..., :1], inner], axis=-1)

        precision, recall = along(precision), along(recall)
        thresholds = along(thresholds)
    f = f_measure(precision, recall)
    best = np.argmax(f, axis=-1)[..., None]
    thresholds = np.broadcast_to(thresholds, f.shape)
    return {
        name: np.take_along_axis(values, best, axis=-1)[..., 0]
        for name, values in (("f", f), ("precision", precision), ("recall", recall), ("threshold", thresholds))
    }


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """The benchmark's area under one PR curve (per-threshold precision and recall; see the module docstring)."""
    recall_unique, first = np.unique(np.asarray(recall, dtype=float), return_index=True)
    if recall_unique.size < 2:
        return 0.0
    interpolated = np.interp(AP_RECALLS, recall_unique, np.asarray(precision, dtype=float)[first], left=0, right=0)
    return float(interpolated.sum() * 0.01)


def ods_ois(
    counts: np.ndarray,
    weights: np.ndarray | None = None,
    thresholds: np.ndarray | None = None,
    interpolate: bool = True,
    chunk: int = 256,
) -> dict[str, np.ndarray]:
    """ODS, OIS and AP of per-image counts (images, thresholds, 4) under each row of ``weights`` (replicates x
    images; None: one row of ones, the plain benchmark). Weights multiply an image's counts, so an integer weight
    k is the image listed k times and a bootstrap replicate recomputes every score from its weighted sums.

    Returns arrays (replicates,): ``ods_f``, ``ods_precision``, ``ods_recall``, ``ods_threshold``, ``ois_f``,
    ``ois_precision``, ``ois_recall``, ``ap``. ``thresholds`` default to the benchmark's for the counts' number
    of thresholds (they only label ``ods_threshold``).
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 3 or counts.shape[2] != 4 or counts.shape[0] == 0:
        raise ValueError(f"counts must be (images, thresholds, 4), got {counts.shape}")
    n_images, n_thresholds, _ = counts.shape
    weights = np.ones((1, n_images)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    if weights.shape[1] != n_images:
        raise ValueError(f"weights have {weights.shape[1]} columns for {n_images} images")
    thresholds = benchmark_thresholds(n_thresholds) if thresholds is None else np.asarray(thresholds, dtype=float)
    if thresholds.shape != (n_thresholds,):
        raise ValueError(f"{thresholds.size} thresholds for counts over {n_thresholds}")

    totals = np.einsum("ri,itk->rtk", weights, counts)  # (replicates, thresholds, 4)
    precision, recall, _ = precision_recall_f(totals)
    ods = {key: np.empty(weights.shape[0]) for key in ("f", "precision", "recall", "threshold")}
    for start in range(0, weights.shape[0], chunk):  # bounded memory for thousands of replicates
        part = best_f(precision[start : start + chunk], recall[start : start + chunk], thresholds, interpolate)
        for key in ods:
            ods[key][start : start + chunk] = part[key]

    _, _, f_image = precision_recall_f(counts)
    best_index = np.argmax(f_image, axis=1)  # each image's own best threshold (first of equal Fs)
    best_counts = counts[np.arange(n_images), best_index]  # (images, 4)
    ois_precision, ois_recall, ois_f = precision_recall_f(weights @ best_counts)
    ap = np.array([average_precision(p, r) for p, r in zip(precision, recall, strict=True)])
    return {
        "ods_f": ods["f"],
        "ods_precision": ods["precision"],
        "ods_recall": ods["recall"],
        "ods_threshold": ods["threshold"],
        "ois_f": ois_f,
        "ois_precision": ois_precision,
        "ois_recall": ois_recall,
        "ap": ap,
    }


def image_best(counts: np.ndarray, thresholds: np.ndarray | None = None) -> dict[str, float]:
    """One image's OIS operating point from its (thresholds, 4) counts: ``f``, ``precision``, ``recall`` and
    ``threshold`` at its first best threshold (no interpolation, as OIS uses)."""
    counts = np.asarray(counts, dtype=float)
    thresholds = benchmark_thresholds(counts.shape[0]) if thresholds is None else np.asarray(thresholds, dtype=float)
    precision, recall, f = precision_recall_f(counts)
    best = int(np.argmax(f))
    return {
        "f": float(f[best]),
        "precision": float(precision[best]),
        "recall": float(recall[best]),
        "threshold": float(thresholds[best]),
    }


__all__ = [
    "COUNT_COLUMNS",
    "DEFAULT_MAX_DIST",
    "DEFAULT_THRESHOLDS",
    "average_precision",
    "benchmark_thresholds",
    "best_f",
    "boundary_counts",
    "correspond_pixels",
    "f_measure",
    "image_best",
    "ods_ois",
    "precision_recall_f",
    "thin_edges",
    "tolerance_px",
]
