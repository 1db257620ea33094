"""COCO-style object detection metrics in plain numpy, laid out so that a bootstrap recomputes them cheaply.

Boxes are pixel boxes ``(x_min, y_min, x_max, y_max)`` whose far edges are exclusive: a box's area is
``(x_max - x_min) * (y_max - y_min)`` and IoU is intersection over union of those areas (COCO's convention, no +1).
A detection is ``(class_name, confidence, x_min, y_min, x_max, y_max)``, a ground-truth object
``(class_name, x_min, y_min, x_max, y_max)``.

The evaluation has two steps:

1. :func:`match_image`, once per image: COCO's greedy matching. For every IoU threshold (COCO's 0.50:0.05:0.95)
   the image's detections are taken in descending confidence, each matched to the still unmatched ground-truth
   box of its class with the highest IoU at or above the threshold (a true positive), else a false positive.
   Matching never looks at other images, so :func:`match_images` gathers every image's result once into a
   :class:`MatchedDetections`.
2. :func:`average_precision` ranks all images' detections of a class by confidence and computes COCO's
   101-point interpolated AP per class and threshold (precision made non-increasing from the right, read at the
   recall levels 0, 0.01, ..., 1). With a matrix of image weights (replicates x images: how often a bootstrap
   replicate draws each image) the cumulative true and false positive counts and the ground-truth counts become
   weighted sums, so one call gives the AP of every replicate without matching again. Integer weights equal
   evaluating the images that many times; weights of one equal the plain evaluation.

mAP50 is the mean over classes of AP at IoU 0.5, mAP50-95 the mean over classes and the ten thresholds. Classes
without ground truth (in a replicate: without ground-truth weight) have no AP (NaN) and are left out of the means,
as COCOeval leaves out its -1 entries. The tests check agreement with pycocotools' COCOeval (area "all",
maxDets 100) to 1e-6. Unlike COCOeval there are no crowd boxes and no area ranges, and every given detection
counts (COCOeval keeps at most ``maxDets`` per image and class; the detection task caps detections per image).

Counts at one operating point (:func:`image_counts`): true positives, false positives and missed objects per
image at IoU 0.5 among the detections with confidence at or above a threshold. Matching in descending confidence
means the detections above a threshold are matched exactly as if the others did not exist, so these counts come
from the same matches.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # as COCOeval: np.linspace(.5, .95, round((.95 - .5) / .05) + 1)
RECALL_LEVELS = np.linspace(0.0, 1.0, 101)  # as COCOeval's recThrs
_MAX_CELLS = 4_000_000  # replicates x detections of one class handled at once (a few 32 MB arrays)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``boxes_a`` (n x 4) with every box in ``boxes_b`` (m x 4), shape (n, m).

    Pixel boxes with exclusive far edges (see the module docstring); a pair whose union is empty has IoU 0.
    """
    a = np.asarray(boxes_a, dtype=float).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=float).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    intersection = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def _split_detections(detections: Sequence[Sequence[Any]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    classes, confidence, boxes = [], [], []
    for detection in detections:
        if len(detection) != 6:
            raise ValueError(f"a detection is (class, confidence, x_min, y_min, x_max, y_max), got {detection!r}")
        classes.append(str(detection[0]))
        confidence.append(float(detection[1]))
        boxes.append([float(v) for v in detection[2:6]])
    return classes, np.asarray(confidence, dtype=float), np.asarray(boxes, dtype=float).reshape(-1, 4)


def _split_objects(objects: Sequence[Sequence[Any]]) -> tuple[list[str], np.ndarray]:
    classes, boxes = [], []
    for obj in objects:
        if len(obj) != 5:
            raise ValueError(f"an object is (class, x_min, y_min, x_max, y_max), got {obj!r}")
        classes.append(str(obj[0]))
        boxes.append([float(v) for v in obj[1:5]])
    return classes, np.asarray(boxes, dtype=float).reshape(-1, 4)


def match_image(
    detections: Sequence[Sequence[Any]],
    objects: Sequence[Sequence[Any]],
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> np.ndarray:
    """Whether each detection is a true positive at each IoU threshold: bool (n_detections, n_thresholds).

    Rows follow the order of ``detections``; matching takes them in descending confidence (ties in the given
    order), per class, each to the unmatched object with the highest IoU >= the threshold (of equal IoUs the last
    object, as COCOeval). A detection of a class the image has no object of is a false positive everywhere.
    """
    det_classes, confidence, det_boxes = _split_detections(detections)
    obj_classes, obj_boxes = _split_objects(objects)
    return _match(det_classes, confidence, det_boxes, obj_classes, obj_boxes, np.asarray(iou_thresholds, dtype=float))


def _match(
    det_classes: list[str],
    confidence: np.ndarray,
    det_boxes: np.ndarray,
    obj_classes: list[str],
    obj_boxes: np.ndarray,
    iou_thresholds: np.ndarray,
) -> np.ndarray:
    """:func:`match_image` on parsed detections and objects."""
    thresholds = np.minimum(iou_thresholds, 1 - 1e-10)  # COCOeval's cap
    tp = np.zeros((len(det_classes), len(thresholds)), dtype=bool)
    if not len(det_classes) or not len(obj_classes):
        return tp
    order = np.argsort(-confidence, kind="stable")
    det_classes_arr, obj_classes_arr = np.asarray(det_classes), np.asarray(obj_classes)
    lowest = thresholds.min()
    for name in np.unique(obj_classes_arr):
        dets = order[det_classes_arr[order] == name]
        if not len(dets):
            continue
        objs = np.flatnonzero(obj_classes_arr == name)
        ious = box_iou(det_boxes[dets], obj_boxes[objs])  # (detections of the class by confidence, objects)
        matched = np.zeros((len(thresholds), len(objs)), dtype=bool)
        reversed_columns = np.arange(len(objs))[::-1]
        rows = np.arange(len(thresholds))
        # most detections (all low-confidence ones) overlap nothing enough at any threshold: false positives
        for row in np.flatnonzero(ious.max(axis=1) >= lowest):
            eligible = ~matched & (ious[row][None, :] >= thresholds[:, None])
            candidates = np.where(eligible, ious[row][None, :], -1.0)[:, ::-1]  # reversed: ties go to the last
            best = reversed_columns[np.argmax(candidates, axis=1)]
            hit = eligible[rows, best]
            tp[dets[row]] = hit
            matched[rows[hit], best[hit]] = True
    return tp


@dataclass(frozen=True)
class MatchedDetections:
    """Every image's matched detections, flattened (images in order, each image's by descending confidence).

    ``image``, ``class_index`` and ``confidence`` have one entry per detection, ``tp`` is (detections,
    thresholds); ``object_counts`` is (images, classes): ground-truth objects of each class in each image.
    """

    classes: tuple[str, ...]
    iou_thresholds: np.ndarray
    image: np.ndarray
    class_index: np.ndarray
    confidence: np.ndarray
    tp: np.ndarray
    object_counts: np.ndarray

    @property
    def n_images(self) -> int:
        return self.object_counts.shape[0]


def match_images(
    detections: Sequence[Sequence[Sequence[Any]]],
    objects: Sequence[Sequence[Sequence[Any]]],
    classes: Sequence[str],
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> MatchedDetections:
    """:func:`match_image` for every image (``detections[i]`` and ``objects[i]`` belong to image i).

    ``classes`` fixes the class order of the results; a detection or object of another class is a ValueError
    naming the image (by position) and the class.
    """
    if len(detections) != len(objects):
        raise ValueError(f"{len(detections)} images' detections but {len(objects)} images' objects")
    classes = tuple(str(c) for c in classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"class names repeat: {list(classes)}")
    index = {name: k for k, name in enumerate(classes)}
    thresholds = np.asarray(iou_thresholds, dtype=float)
    counts = np.zeros((len(objects), len(classes)), dtype=np.int64)
    images, class_indices, confidences, tps = [], [], [], []
    for i, (image_detections, image_objects) in enumerate(zip(detections, objects, strict=True)):
        det_classes, confidence, det_boxes = _split_detections(image_detections)
        obj_classes, obj_boxes = _split_objects(image_objects)
        unknown = sorted((set(det_classes) | set(obj_classes)) - set(index))
        if unknown:
            raise ValueError(f"image {i}: class(es) {unknown} are not among the classes {list(classes)}")
        for name in obj_classes:
            counts[i, index[name]] += 1
        order = np.argsort(-confidence, kind="stable")
        tps.append(_match(det_classes, confidence, det_boxes, obj_classes, obj_boxes, thresholds)[order])
        images.append(np.full(len(order), i, dtype=np.int64))
        class_indices.append(np.asarray([index[det_classes[j]] for j in order], dtype=np.int64))
        confidences.append(confidence[order])
    return MatchedDetections(
        classes=classes,
        iou_thresholds=thresholds,
        image=np.concatenate(images) if images else np.zeros(0, dtype=np.int64),
        class_index=np.concatenate(class_indices) if class_indices else np.zeros(0, dtype=np.int64),
        confidence=np.concatenate(confidences) if confidences else np.zeros(0),
        tp=np.concatenate(tps) if tps else np.zeros((0, len(thresholds)), dtype=bool),
        object_counts=counts,
    )


def _weights_matrix(weights: np.ndarray | None, n_images: int) -> np.ndarray:
    if weights is None:
        return np.ones((1, n_images))
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[1] != n_images:
        raise ValueError(f"weights must be a (replicates, {n_images}) matrix, got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    return w


def _interpolated_ap(tp_sum: np.ndarray, all_sum: np.ndarray, n_objects: np.ndarray) -> np.ndarray:
    """COCO's 101-point AP per replicate from the cumulative (weighted) true positives and detections at each true
    positive (replicates x true positives of one class and threshold, in ranking order).

    Only true positives are needed: recall rises only at them, and a false positive never raises precision, so
    the precision envelope read at the first detection reaching a recall level is the largest precision at a
    true positive from there on (0 where no true positive reaches the level), exactly as over all detections.
    """
    n_rep, n_tp = tp_sum.shape
    if n_tp == 0:
        return np.zeros(n_rep)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp_sum / n_objects[:, None]
    precision = tp_sum / (all_sum + np.spacing(1))  # COCOeval's tp / (fp + tp + eps)
    precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]  # the precision envelope
    # np.searchsorted(recall[r], RECALL_LEVELS, side="left") for every row r at once: how many recalls lie below
    # each level. Bucket every recall by how many levels are <= it; a recall lies below level k iff its bucket <= k.
    buckets = np.searchsorted(RECALL_LEVELS, recall, side="right")  # 0 .. 101
    n_levels = len(RECALL_LEVELS) + 1
    flat = (buckets + n_levels * np.arange(n_rep)[:, None]).ravel()
    below = np.bincount(flat, minlength=n_rep * n_levels).reshape(n_rep, n_levels).cumsum(axis=1)[:, :-1]
    read = np.take_along_axis(precision, np.minimum(below, n_tp - 1), axis=1)
    return np.where(below < n_tp, read, 0.0).mean(axis=1)


def average_precision(matches: MatchedDetections, weights: np.ndarray | None = None) -> np.ndarray:
    """COCO's interpolated AP per class and IoU threshold: (classes, thresholds), or with ``weights``
    (replicates x images) (replicates, classes, thresholds). NaN for a class without ground truth (weight).
    """
    w = _weights_matrix(weights, matches.n_images)
    n_rep, n_classes, n_thr = w.shape[0], len(matches.classes), len(matches.iou_thresholds)
    ap = np.full((n_rep, n_classes, n_thr), np.nan)
    n_objects = w @ matches.object_counts  # (replicates, classes)
    for k in range(n_classes):
        selected = np.flatnonzero(matches.class_index == k)
        # stable: equal confidences keep image order, then the image's own order (COCOeval's mergesort)
        ranked = selected[np.argsort(-matches.confidence[selected], kind="stable")]
        tp = matches.tp[ranked]
        step = max(1, _MAX_CELLS // max(1, len(ranked)))
        for start in range(0, n_rep, step):
            rows = slice(start, start + step)
            has_objects = n_objects[rows, k] > 0
            if not has_objects.any():
                continue
            det_weights = w[rows][:, matches.image[ranked]]  # (replicates, detections)
            all_sum = np.cumsum(det_weights, axis=1)
            for t in range(n_thr):
                hits = np.flatnonzero(tp[:, t])
                tp_sum = np.cumsum(det_weights[:, hits], axis=1)
                values = _interpolated_ap(tp_sum, all_sum[:, hits], n_objects[rows, k])
                ap[rows, k, t] = np.where(has_objects, values, np.nan)
    return ap[0] if weights is None else ap


def image_counts(matches: MatchedDetections, confidence: float = 0.25, iou_index: int = 0) -> dict[str, np.ndarray]:
    """Per image ``tp``, ``fp`` and ``fn`` (missed objects) at IoU threshold ``iou_index`` (0: IoU 0.5) among the
    detections with confidence >= ``confidence``."""
    kept = matches.confidence >= confidence
    hits = matches.tp[:, iou_index] & kept
    tp = np.bincount(matches.image[hits], minlength=matches.n_images)
    fp = np.bincount(matches.image[kept & ~hits], minlength=matches.n_images)
    return {"tp": tp, "fp": fp, "fn": matches.object_counts.sum(axis=1) - tp}


def detection_summary(
    matches: MatchedDetections, weights: np.ndarray | None = None, count_confidence: float = 0.25
) -> dict[str, Any]:
    """``map50``, ``map50_95``, ``precision``, ``recall``, ``f1`` and ``per_class_ap50`` (class -> AP50).

    Precision, recall and F1 are pooled over all classes (micro) at IoU 0.5 among the detections with confidence
    >= ``count_confidence``: sums of :func:`image_counts`. Without ``weights`` the values are floats (NaN where
    undefined), with ``weights`` (replicates x images) arrays with one value per replicate (``per_class_ap50``:
    class -> array).
    """
    ap = average_precision(matches, weights)
    ap = ap[None] if weights is None else ap  # (replicates, classes, thresholds)
    w = _weights_matrix(weights, matches.n_images)
    counts = image_counts(matches, count_confidence)
    tp, fp, fn = (w @ counts[key] for key in ("tp", "fp", "fn"))
    thresholds = matches.iou_thresholds
    at50 = np.flatnonzero(np.isclose(thresholds, 0.5))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN means (no ground truth) are NaN
        ap50 = ap[:, :, at50[0]] if len(at50) else np.full(ap.shape[:2], np.nan)
        result = {
            "map50": np.nanmean(ap50, axis=1),
            "map50_95": np.nanmean(ap.reshape(ap.shape[0], -1), axis=1),
            "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "recall": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
        }
    per_class = {name: ap50[:, k] for k, name in enumerate(matches.classes)}
    if weights is None:
        return {
            **{key: float(v[0]) for key, v in result.items()},
            "per_class_ap50": {name: float(v[0]) for name, v in per_class.items()},
        }
    return {**result, "per_class_ap50": per_class}
