"""Edge detection scored by the BSDS500 boundary benchmark (ODS, OIS, AP; :mod:`codecbench.tasks.edge_metrics`).

Detectors (``detector`` setting), none trained here (the task is always "pretrained": :meth:`Edges.load` with
no checkpoint prepares the detector, :meth:`Edges.train` raises):

* ``canny`` (default): OpenCV's ``cv2.Canny`` on the grey image (``cv2.COLOR_RGB2GRAY``), after a Gaussian blur
  of standard deviation ``blur_sigma`` pixels when it is above 0 (default 0: none), with hysteresis thresholds
  ``low_threshold`` / ``high_threshold`` (default 100 / 200) on the gradient magnitude of the 8-bit image,
  Sobel ``aperture_size`` 3 and the L2 gradient norm (``l2_gradient`` true). The map is binary (0 or 1).
* ``canny_auto``: the same with thresholds from the grey image's median ``m``: ``lower = max(0, (1 - sigma) m)``,
  ``upper = min(255, (1 + sigma) m)``, ``sigma = auto_sigma`` (0.33); the common "zero-parameter" rule
  (A. Rosebrock, "Zero-parameter, automatic Canny edge detection with Python and OpenCV", PyImageSearch, 2015).
* ``hed``: Holistically-Nested Edge Detection (Xie & Tu, ICCV 2015) with the authors' published Caffe model run by
  OpenCV's dnn module: ``hed_prototxt`` (the HED repository's ``examples/hed/deploy.prototxt``) and
  ``hed_weights`` (``hed_pretrained_bsds.caffemodel``); see :data:`HED_PROTOTXT_URL`, :data:`HED_WEIGHTS_URL`.
  The network's Caffe ``Crop`` layer is registered in Python as OpenCV's ``samples/dnn/edge_detection.py``
  does; the image goes in at its own size as BGR minus the HED mean (104.00699, 116.66877, 122.67891); the
  fused side output is a soft map in [0, 1]. Nothing is downloaded. (Papers usually add non-maximum suppression
  before the benchmark; here the benchmark's thinning alone is applied, as ``evaluation_bdry_image`` does.)

Ground truth (``ground_truth``):

* ``dataset`` (default): the dataset's human boundaries; annotations carry ``edges_file``, the path of the
  image's ``.npz`` (:func:`codecbench.datasets.edges.read_edges`: (annotators, height, width) booleans), or
  already-read maps in an ``edge_maps`` column.
* ``original``: no human ground truth; the detector's own map on the uncompressed image, cut at
  ``original_threshold`` (0.5: ``map >= 0.5``) and thinned as the benchmark thins predictions, is the one
  "annotator" for the compressed versions. :meth:`Edges.reference_annotations` builds those annotations from the
  uncompressed predictions; the uncompressed image then scores F = 1 against itself (unless it has no edges at
  all, where the benchmark's convention gives 0).

Scoring: per image, :func:`codecbench.tasks.edge_metrics.boundary_counts` at ``thresholds`` (99) evenly spaced
thresholds with tolerance ``max_dist`` (0.0075 of the diagonal); a soft map costs seconds per image (fewer
``thresholds`` are faster), a binary one a single threshold. The per-sample rows keep those counts as a JSON
string (``counts``: per threshold ``[cnt_r, sum_r, cnt_p, sum_p]``), so :meth:`Edges.resampled_scores`
recomputes ODS, OIS and AP from weighted sums per bootstrap replicate. A binary detector (Canny) has the same
counts at every threshold, so its ODS and OIS are both the F of its one map, and its AP is 0 (one recall value:
no curve; the benchmark's convention).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..datasets.edges import read_edges
from ..io import check_rgb
from . import Task, edge_metrics, register_task

DETECTORS = ("canny", "canny_auto", "hed")
GROUND_TRUTHS = ("dataset", "original")
APERTURE_SIZES = (3, 5, 7)
HED_REPOSITORY = "https://github.com/s9xie/hed"
HED_PROTOTXT_URL = "https://github.com/s9xie/hed/raw/master/examples/hed/deploy.prototxt"
HED_WEIGHTS_URL = "http://vcl.ucsd.edu/hed/hed_pretrained_bsds.caffemodel"
HED_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)
PREDICTION_COLUMNS = ["image_id", "edge_map"]
SCORE_COLUMNS = ["image_id", "ois_f", "ois_precision", "ois_recall", "ois_threshold", "edge_pixels", "counts"]


def auto_canny_thresholds(grey: np.ndarray, sigma: float = 0.33) -> tuple[float, float]:
    """``(max(0, (1 - sigma) m), min(255, (1 + sigma) m))`` for the median ``m`` of the grey image."""
    median = float(np.median(grey))
    return max(0.0, (1.0 - sigma) * median), min(255.0, (1.0 + sigma) * median)


class _CropLayer:
    """Caffe's ``Crop`` for OpenCV's dnn (as in OpenCV's samples/dnn/edge_detection.py): the first input cut,
    centred, to the height and width of the second, batch and channels kept."""

    def __init__(self, params, blobs):
        self.y0 = self.x0 = self.y1 = self.x1 = 0

    def getMemoryShapes(self, inputs):  # noqa: N802 (OpenCV's name)
        source, target = inputs[0], inputs[1]
        height, width = target[2], target[3]
        self.y0, self.x0 = (source[2] - height) // 2, (source[3] - width) // 2
        self.y1, self.x1 = self.y0 + height, self.x0 + width
        return [[source[0], source[1], height, width]]

    def forward(self, inputs):
        return [inputs[0][:, :, self.y0 : self.y1, self.x0 : self.x1]]


_crop_registered = False


def _register_crop_layer() -> None:
    global _crop_registered
    if not _crop_registered:
        import cv2

        cv2.dnn_registerLayer("Crop", _CropLayer)
        _crop_registered = True


@register_task
class Edges(Task):
    """A boundary map per image; see the module docstring for detectors, ground truth and scoring."""

    name = "edges"
    notes = """
        Always a ready detector (the variant `pretrained`).

        * `detector: canny` (OpenCV: `low_threshold`, `high_threshold`, `aperture_size`, `l2_gradient`, optional
          `blur_sigma`), `canny_auto` (thresholds (1 -/+ `auto_sigma`) x the image's median grey level) or `hed`
          (Holistically-Nested Edge Detection through OpenCV's DNN module with the authors' published
          `hed_prototxt` and `hed_weights`; missing files fail naming both and where to get them).
        * `ground_truth: dataset` (the dataset's boundary maps: BSDS500's annotators, the synthetic shapes' exact
          outlines) or `original` (the detector's own map of the uncompressed image, binarised at
          `original_threshold` and thinned: any dataset, it measures how much compression changes what the
          detector sees).
        * Scores: the BSDS boundary benchmark (Martin, Fowlkes & Malik 2004; Arbelaez et al. 2011): over
          `thresholds` thresholds the map is thinned and matched one-to-one to each annotator's boundaries within
          `max_dist` of the image diagonal (an exact maximum matching; the benchmark's min-cost assignment can pick
          other pixels among equally many matches, which changed one count in 11,134 in our check). ODS is the
          F-measure at the best threshold for the whole set, OIS with each image's best threshold, AP the area
          under the set's precision-recall curve; all recomputed per bootstrap draw. A binary map (Canny) gives the
          same counts at every threshold: ODS = OIS. Per image: the best F (its quality), precision, recall and the
          per-threshold counts. Soft maps are slow (about 20 s per 481x321 image with 5 annotators at 99
          thresholds): lower `thresholds`.
    """
    annotation_kind = "edges"
    scores = ("ods_f", "ois_f", "ap", "ods_precision", "ods_recall")
    score_labels = {
        "ods_f": "boundary F (ODS)",
        "ois_f": "boundary F (OIS)",
        "ap": "boundary AP",
        "ods_precision": "boundary precision (ODS)",
        "ods_recall": "boundary recall (ODS)",
    }
    sample_quality, sample_quality_label = "ois_f", "ois_f"  # the image's best F over thresholds
    text_columns = ("counts",)
    setting_schemas = {
        "detector": {
            "enum": list(DETECTORS),
            "default": "canny",
            "description": "canny (OpenCV, the thresholds below), canny_auto (thresholds from the image's median "
            "grey level) or hed (Holistically-Nested Edge Detection through OpenCV's DNN module: give hed_prototxt "
            "and hed_weights, the authors' published files)",
        },
        "low_threshold": {
            "type": "number",
            "minimum": 0,
            "default": 100.0,
            "description": "canny: lower hysteresis threshold (on the 8-bit gradient magnitude)",
        },
        "high_threshold": {
            "type": "number",
            "minimum": 0,
            "default": 200.0,
            "description": "canny: upper hysteresis threshold",
        },
        "aperture_size": {"enum": [3, 5, 7], "default": 3, "description": "canny: Sobel aperture"},
        "l2_gradient": {"type": "boolean", "default": True, "description": "canny: L2 gradient magnitude"},
        "blur_sigma": {
            "type": "number",
            "minimum": 0,
            "default": 0.0,
            "description": "canny: Gaussian blur first (0 = none)",
        },
        "auto_sigma": {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 1,
            "default": 0.33,
            "description": "canny_auto: thresholds (1 -/+ sigma) x the median grey level",
        },
        "hed_prototxt": {"type": ["string", "null"], "default": None, "description": "hed: deploy.prototxt"},
        "hed_weights": {
            "type": ["string", "null"],
            "default": None,
            "description": "hed: hed_pretrained_bsds.caffemodel",
        },
        "ground_truth": {
            "enum": ["dataset", "original"],
            "default": "dataset",
            "description": "dataset (the dataset's boundary maps: BSDS500 annotators, exact edges of synthetic "
            "shapes) or original (the detector's own output on the uncompressed image: any dataset)",
        },
        "original_threshold": {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 1,
            "default": 0.5,
            "description": "ground_truth original: the uncompressed map binarised at this value",
        },
        "thresholds": {
            "type": "integer",
            "minimum": 1,
            "default": edge_metrics.DEFAULT_THRESHOLDS,
            "description": "threshold sweep of the benchmark",
        },
        "max_dist": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": edge_metrics.DEFAULT_MAX_DIST,
            "description": "matching tolerance as a fraction of the image diagonal (the BSDS benchmark's)",
        },
    }

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self._net = None  # hed: the cv2.dnn network
        self._ready = False
        # The pipeline predicts the uncompressed images first and passes them to reference_annotations.
        self.reference_from_uncompressed = self.settings["ground_truth"] == "original"

    def check_settings(self) -> None:
        s = self.settings
        if s["detector"] not in DETECTORS:
            raise ValueError(f"edges: setting 'detector' is {s['detector']!r}; known detectors: {', '.join(DETECTORS)}")
        if s["ground_truth"] not in GROUND_TRUTHS:
            raise ValueError(
                f"edges: setting 'ground_truth' is {s['ground_truth']!r}; known: {', '.join(GROUND_TRUTHS)}"
            )
        for key in ("low_threshold", "high_threshold", "blur_sigma"):
            s[key] = _number(key, s[key], lambda v: v >= 0, "a number >= 0")
        if s["low_threshold"] > s["high_threshold"]:
            raise ValueError(
                f"edges: setting 'low_threshold' ({s['low_threshold']}) exceeds 'high_threshold' "
                f"({s['high_threshold']})"
            )
        s["auto_sigma"] = _number("auto_sigma", s["auto_sigma"], lambda v: 0 <= v <= 1, "a number in [0, 1]")
        s["original_threshold"] = _number(
            "original_threshold", s["original_threshold"], lambda v: 0 < v <= 1, "a number in (0, 1]"
        )
        s["max_dist"] = _number("max_dist", s["max_dist"], lambda v: 0 < v < 1, "a number in (0, 1)")
        if s["aperture_size"] not in APERTURE_SIZES or isinstance(s["aperture_size"], bool):
            raise ValueError(f"edges: setting 'aperture_size' must be 3, 5 or 7, got {s['aperture_size']!r}")
        s["aperture_size"] = int(s["aperture_size"])
        if not isinstance(s["l2_gradient"], bool):
            raise ValueError(f"edges: setting 'l2_gradient' must be true or false, got {s['l2_gradient']!r}")
        thresholds = s["thresholds"]
        if isinstance(thresholds, bool) or not isinstance(thresholds, int | np.integer) or thresholds < 1:
            raise ValueError(f"edges: setting 'thresholds' must be a positive integer (how many), got {thresholds!r}")
        s["thresholds"] = int(thresholds)
        for key in ("hed_prototxt", "hed_weights"):
            if s[key] is not None:
                if not isinstance(s[key], str | os.PathLike):
                    raise ValueError(f"edges: setting {key!r} must be a file path or null, got {s[key]!r}")
                if s["detector"] != "hed":
                    raise ValueError(f"edges: setting {key!r} is for the hed detector only; remove it or set detector")
                s[key] = os.fspath(s[key])

    @classmethod
    def is_pretrained(cls, settings: dict[str, Any]) -> bool:
        """Always: edge detectors are not trained here."""
        return True

    @classmethod
    def needed_annotation(cls, settings: dict[str, Any]) -> str | None:
        """``edges`` for human ground truth; None (any dataset) when the uncompressed image is the reference."""
        merged = {**cls.default_settings, **(settings or {})}
        return None if merged.get("ground_truth") == "original" else cls.annotation_kind

    @classmethod
    def describe_sample(cls, row: pd.Series) -> str:
        return f"F {float(row['ois_f']):.2f} (P {float(row['ois_precision']):.2f}, R {float(row['ois_recall']):.2f})"

    @classmethod
    def resampled_scores(cls, rows: pd.DataFrame, weights: np.ndarray) -> dict[str, np.ndarray]:
        """ODS F, OIS F, AP and the ODS precision and recall from the weighted sums of the rows' per-threshold
        counts, per row of ``weights`` (:func:`codecbench.tasks.edge_metrics.ods_ois`)."""
        results = edge_metrics.ods_ois(rows_counts(rows), weights)
        return {name: results[name] for name in cls.scores}

    def train(
        self,
        images: list[np.ndarray],
        annotations: pd.DataFrame,
        out_dir: Path,
        device: str = "auto",
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        raise ValueError(
            "edges: edge detectors are not trained here; evaluate the variant 'pretrained' with load(None) (remove "
            "train_on from the task)"
        )

    def load(self, checkpoint: Path | str | None = None, device: str = "auto") -> None:
        """Prepare the detector (for ``hed``, read the network; FileNotFoundError naming both files if either is
        missing). ``checkpoint`` must be None; everything runs on the CPU."""
        if checkpoint is not None:
            raise ValueError(
                f"edges: got checkpoint {checkpoint!r}, but edge detectors take none; for hed name the model files "
                "in the 'hed_prototxt' and 'hed_weights' settings"
            )
        self._net = None
        if self.settings["detector"] == "hed":
            self._net = self._load_hed()
        self._ready = True
        self.device = "cpu"

    def predict(self, images: list[np.ndarray], image_ids: list[str]) -> pd.DataFrame:
        """``image_id, edge_map``: per image a float32 (height, width) map in [0, 1] (kept in memory only)."""
        if not self._ready:
            raise RuntimeError("edges: no detector yet; call load() first")
        if len(images) != len(image_ids):
            raise ValueError(f"{len(images)} images but {len(image_ids)} image ids")
        maps = []
        for image_id, image in zip(image_ids, images, strict=True):
            try:
                check_rgb(image)
            except ValueError as error:
                raise ValueError(f"image {image_id}: {error}") from None
            maps.append(self.detect(image))
        return pd.DataFrame({"image_id": [str(i) for i in image_ids], "edge_map": maps}, columns=PREDICTION_COLUMNS)

    def detect(self, image: np.ndarray) -> np.ndarray:
        """One uint8 RGB image's edge map, float32 in [0, 1]."""
        import cv2

        s = self.settings
        if s["detector"] == "hed":
            return self._hed(image)
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        if s["blur_sigma"] > 0:
            grey = cv2.GaussianBlur(grey, (0, 0), s["blur_sigma"])
        if s["detector"] == "canny_auto":
            low, high = auto_canny_thresholds(grey, s["auto_sigma"])
        else:
            low, high = s["low_threshold"], s["high_threshold"]
        edges = cv2.Canny(grey, low, high, apertureSize=s["aperture_size"], L2gradient=s["l2_gradient"])
        return (edges > 0).astype(np.float32)

    def reference_annotations(self, uncompressed_predictions: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
        """For ``ground_truth: original``: ``annotations`` with an in-memory ``edge_maps`` column, per image the
        (1, height, width) map of its uncompressed prediction cut at ``original_threshold`` and thinned. For
        ``dataset``: ``annotations`` unchanged."""
        if self.settings["ground_truth"] != "original":
            return annotations
        for name, frame, column in (
            ("uncompressed predictions", uncompressed_predictions, "edge_map"),
            ("annotations", annotations, "image_id"),
        ):
            if column not in frame.columns or "image_id" not in frame.columns:
                raise ValueError(f"edges: {name} lack the column(s) image_id/{column}")
        ids = uncompressed_predictions["image_id"].astype(str)
        maps = dict(zip(ids, uncompressed_predictions["edge_map"], strict=True))
        missing = [i for i in annotations["image_id"].astype(str) if i not in maps]
        if missing:
            raise ValueError(f"edges: no uncompressed prediction for {len(missing)} image(s), e.g. {missing[:5]}")
        threshold = self.settings["original_threshold"]
        references = [
            edge_metrics.thin_edges(np.asarray(maps[i], dtype=float) >= threshold)[None]
            for i in annotations["image_id"].astype(str)
        ]
        return annotations.assign(edge_maps=references)

    def score(self, predictions: pd.DataFrame, annotations: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Per sample ``image_id, ois_f, ois_precision, ois_recall, ois_threshold`` (the image's best F over the
        thresholds and its operating point), ``edge_pixels`` (the prediction's pixels at that threshold, after
        thinning) and ``counts`` (JSON: per threshold ``[cnt_r, sum_r, cnt_p, sum_p]``), in prediction order; and
        ``ods_f``, ``ods_precision``, ``ods_recall``, ``ods_threshold``, ``ois_f``, ``ois_precision``,
        ``ois_recall``, ``ap``, ``n``.

        Ground truth per image: for ``ground_truth: original`` the annotations' ``edge_maps`` (arrays, as
        :meth:`reference_annotations` makes them); for ``dataset`` the ``edges_file`` each row names (or, without
        that column, in-memory ``edge_maps``).
        """
        if "image_id" not in predictions.columns or "edge_map" not in predictions.columns:
            raise ValueError("predictions lack the column(s) image_id, edge_map")
        if "image_id" not in annotations.columns:
            raise ValueError("annotations lack the column image_id")
        if self.settings["ground_truth"] == "original":
            if "edge_maps" not in annotations.columns:
                raise ValueError(
                    "edges: ground_truth 'original' scores against the uncompressed image's map: pass the "
                    "annotations through reference_annotations(uncompressed predictions, annotations) first"
                )
            column = "edge_maps"
        elif "edges_file" in annotations.columns:
            column = "edges_file"
        elif "edge_maps" in annotations.columns:
            column = "edge_maps"
        else:
            raise ValueError(
                "edges: annotations lack the column edges_file (or edge_maps): the prepared dataset has no edges/ "
                "folder. If it is annotated with edges (shapes, moving_shapes, bsds500) it was prepared before it had "
                "them: delete its results/datasets/<id> folder to prepare it again; otherwise use an edge-annotated "
                "dataset or set ground_truth: original"
            )
        truth = dict(zip(annotations["image_id"].astype(str), annotations[column], strict=True))
        if len(truth) != len(annotations):
            raise ValueError("annotations list some image more than once")
        if len(predictions) == 0:
            raise ValueError("no samples to score")
        thresholds = edge_metrics.benchmark_thresholds(self.settings["thresholds"])
        rows, all_counts = [], []
        for image_id, edge_map in zip(predictions["image_id"].astype(str), predictions["edge_map"], strict=True):
            if image_id not in truth:
                raise ValueError(f"predicted image {image_id} has no annotation")
            gt = truth[image_id]
            gt = read_edges(gt) if column == "edges_file" else np.asarray(gt, dtype=bool)
            try:
                counts = edge_metrics.boundary_counts(edge_map, gt, thresholds, self.settings["max_dist"])
            except ValueError as error:
                raise ValueError(f"image {image_id}: {error}") from None
            best = edge_metrics.image_best(counts, thresholds)
            index = int(np.argmax(edge_metrics.precision_recall_f(counts)[2]))
            rows.append(
                {
                    "image_id": image_id,
                    "ois_f": best["f"],
                    "ois_precision": best["precision"],
                    "ois_recall": best["recall"],
                    "ois_threshold": best["threshold"],
                    "edge_pixels": int(counts[index, 3]),
                    "counts": json.dumps(counts.tolist(), separators=(",", ":")),
                }
            )
            all_counts.append(counts)
        table = pd.DataFrame(rows, columns=SCORE_COLUMNS)
        results = edge_metrics.ods_ois(np.stack(all_counts), thresholds=thresholds)
        metrics: dict[str, Any] = {name: float(values[0]) for name, values in results.items()}
        metrics["n"] = int(len(table))
        return table, metrics

    def _load_hed(self):
        import cv2

        s = self.settings
        paths = {"hed_prototxt": s["hed_prototxt"], "hed_weights": s["hed_weights"]}
        missing = [key for key, path in paths.items() if path is None or not Path(path).is_file()]
        if missing:
            said = ", ".join(f"{key} = {paths[key]!r}" for key in paths)
            raise FileNotFoundError(
                f"edges: the hed detector needs the HED authors' Caffe model files, and {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing ({said}). Download deploy.prototxt from "
                f"{HED_PROTOTXT_URL} and hed_pretrained_bsds.caffemodel from {HED_WEIGHTS_URL} (see {HED_REPOSITORY}) "
                "and name them in the settings 'hed_prototxt' and 'hed_weights'"
            )
        _register_crop_layer()
        try:
            return cv2.dnn.readNetFromCaffe(os.fspath(paths["hed_prototxt"]), os.fspath(paths["hed_weights"]))
        except cv2.error as error:
            raise ValueError(
                f"edges: OpenCV cannot read the HED model {paths['hed_prototxt']} / {paths['hed_weights']}: {error}"
            ) from error

    def _hed(self, image: np.ndarray) -> np.ndarray:
        import cv2

        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[..., ::-1])
        blob = cv2.dnn.blobFromImage(
            bgr, scalefactor=1.0, size=(width, height), mean=HED_MEAN_BGR, swapRB=False, crop=False
        )
        self._net.setInput(blob)
        out = np.asarray(self._net.forward(), dtype=np.float32)[0, 0]
        if out.shape != (height, width):
            out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(out, 0.0, 1.0)


def rows_counts(rows: pd.DataFrame) -> np.ndarray:
    """The per-threshold counts of per-sample rows, (images, thresholds, 4), from their ``counts`` JSON column."""
    counts = [np.asarray(json.loads(v) if isinstance(v, str) else v, dtype=np.int64) for v in rows["counts"]]
    shapes = {c.shape for c in counts}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[1] != 4:
        raise ValueError(f"edges: the rows' counts must all be (thresholds, 4) lists, got shapes {sorted(shapes)}")
    return np.stack(counts)


def _number(key: str, value: Any, ok: Callable[[float], bool], what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or not ok(value):
        raise ValueError(f"edges: setting {key!r} must be {what}, got {value!r}")
    return float(value)
