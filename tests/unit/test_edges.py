"""Boundary benchmark (ODS/OIS/AP) on hand-checked maps and counts, and the edges task: Canny, automatic Canny,
HED through a stand-in Caffe network, ground truth from the uncompressed image, bootstrap resampling."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from codecbench.datasets.edges import write_edges
from codecbench.tasks import edge_metrics as em
from codecbench.tasks import get_task_class
from codecbench.tasks.edges import HED_PROTOTXT_URL, HED_WEIGHTS_URL, Edges, auto_canny_thresholds

# A 100 x 100 image has a diagonal of 141.42 px, so the default tolerance 0.0075 x diagonal is 1.061 px: the four
# direct neighbours (distance 1) match, diagonal neighbours (1.414) and anything 2 px away do not.
SIDE = 100


def line(row: int, first: int, last: int, shape=(SIDE, SIDE)) -> np.ndarray:
    """A one-pixel-wide horizontal boundary on ``row``, columns first..last inclusive."""
    out = np.zeros(shape, dtype=bool)
    out[row, first : last + 1] = True
    return out


def prf(counts) -> tuple[float, float, float]:
    p, r, f = em.precision_recall_f(np.asarray(counts))
    return float(p), float(r), float(f)


# --- the benchmark on single images -----------------------------------------------------------------------------


def test_thresholds_and_tolerance_are_the_benchmarks():
    t = em.benchmark_thresholds()
    assert t.size == 99 and t[0] == pytest.approx(0.01) and t[-1] == pytest.approx(0.99) and t[49] == 0.5
    assert em.tolerance_px((SIDE, SIDE)) == pytest.approx(0.0075 * 2**0.5 * SIDE)


def test_identical_maps_score_one():
    gt = line(50, 20, 79)  # 60 pixels
    counts = em.boundary_counts(gt.astype(float), gt)
    assert counts.shape == (99, 4)
    assert (counts == [60, 60, 60, 60]).all()  # every threshold cuts the same 0/1 map
    assert prf(counts[0]) == (1.0, 1.0, 1.0)


def test_a_one_pixel_shift_matches_and_a_two_pixel_shift_does_not():
    gt = line(50, 20, 79)
    # row 51: each predicted pixel is 1 px below its GT pixel, within 1.061 px -> all 60 matched
    assert em.boundary_counts(line(51, 20, 79).astype(float), gt, thresholds=1).tolist() == [[60, 60, 60, 60]]
    # row 52: 2 px away -> nothing matched: R = P = F = 0
    shifted = em.boundary_counts(line(52, 20, 79).astype(float), gt, thresholds=1)
    assert shifted.tolist() == [[0, 60, 0, 60]] and prf(shifted[0]) == (0.0, 0.0, 0.0)
    # "at most": a tolerance of exactly 2 px matches the 2-px shift, one a little under it does not
    exactly_two = 2 / np.hypot(SIDE, SIDE)
    assert em.boundary_counts(line(52, 20, 79), gt, 1, max_dist=exactly_two).tolist() == [[60, 60, 60, 60]]
    assert em.boundary_counts(line(52, 20, 79), gt, 1, max_dist=exactly_two * 0.99).tolist() == [[0, 60, 0, 60]]


def test_diagonal_neighbour_is_beyond_the_default_tolerance():
    gt = np.zeros((SIDE, SIDE), bool)
    gt[50, 50] = True
    pred = np.zeros_like(gt)
    pred[51, 51] = True  # sqrt(2) = 1.414 px > 1.061 px
    assert em.boundary_counts(pred, gt, 1).tolist() == [[0, 1, 0, 1]]


def test_matching_is_one_to_one():
    # one GT pixel at (50, 50); two predicted pixels (50, 49) and (50, 51), both 1 px away: only one may match it.
    # cntR = 1 of sumR = 1, cntP = 1 of sumP = 2: R = 1, P = 1/2, F = 2 * 1/2 * 1 / (3/2) = 2/3.
    gt = np.zeros((SIDE, SIDE), bool)
    gt[50, 50] = True
    pred = np.zeros_like(gt)
    pred[50, 49] = pred[50, 51] = True
    counts = em.boundary_counts(pred, gt, 1)
    assert counts.tolist() == [[1, 1, 1, 2]]
    assert prf(counts[0]) == pytest.approx((0.5, 1.0, 2 / 3))
    matched_pred, matched_gt = em.correspond_pixels(pred, gt)
    assert matched_pred.sum() == 1 and matched_gt.sum() == 1


def test_two_annotators():
    pred = line(50, 20, 79)  # 60 pixels
    # A draws the same line (60 px), B a 40-px line far away (row 30): cntR = 60 + 0, sumR = 60 + 40,
    # cntP = 60 (all matched to A), sumP = 60: R = 0.6, P = 1, F = 2 * 0.6 / 1.6 = 0.75.
    a, b = line(50, 20, 79), line(30, 20, 59)
    counts = em.boundary_counts(pred, np.stack([a, b]), 1)
    assert counts.tolist() == [[60, 100, 60, 60]]
    assert prf(counts[0]) == pytest.approx((1.0, 0.6, 0.75))
    # B draws 30 px on row 51, under the first 30 predicted pixels: cntR = 60 + 30 = 90 of sumR = 90, but a
    # predicted pixel matched by both annotators counts once: cntP = |union| = 60, sumP = 60 -> P = R = F = 1.
    counts = em.boundary_counts(pred, np.stack([a, line(51, 20, 49)]), 1)
    assert counts.tolist() == [[90, 90, 60, 60]]


def test_empty_maps_follow_the_benchmark_convention():
    # P = cntP / (sumP + (sumP == 0)): an empty prediction has P = 0, R = 0, F = 0 (not P = 1).
    gt = line(50, 20, 79)
    counts = em.boundary_counts(np.zeros((SIDE, SIDE)), gt, 3)
    assert counts.tolist() == [[0, 60, 0, 0]] * 3 and prf(counts[0]) == (0.0, 0.0, 0.0)
    # no ground truth at all: R = 0 / (0 + 1) = 0, so F = 0 however good the (empty) prediction
    assert em.boundary_counts(np.zeros((SIDE, SIDE)), np.zeros((SIDE, SIDE), bool), 1).tolist() == [[0, 0, 0, 0]]


def test_soft_map_is_cut_at_every_threshold():
    # strong line (0.805) on the GT row 50, weak spurious line (0.305) on row 20, both 60 px.
    # thresholds 0.01..0.30 (30 of them) keep both: (60, 60, 60, 120); 0.31..0.80 (50) keep the strong one only:
    # (60, 60, 60, 60); 0.81..0.99 (19) keep nothing: (0, 60, 0, 0).
    pb = 0.805 * line(50, 20, 79) + 0.305 * line(20, 20, 79)
    counts = em.boundary_counts(pb, line(50, 20, 79))
    expected = [[60, 60, 60, 120]] * 30 + [[60, 60, 60, 60]] * 50 + [[0, 60, 0, 0]] * 19
    assert counts.tolist() == expected
    assert em.image_best(counts) == {"f": 1.0, "precision": 1.0, "recall": 1.0, "threshold": pytest.approx(0.31)}


def test_thick_predictions_are_thinned():
    # a 3-px-wide band over the GT line thins to a one-pixel line on row 50: 60 px (ends may shrink by thinning),
    # all within the tolerance of the GT line.
    pb = np.zeros((SIDE, SIDE))
    pb[49:52, 20:80] = 1.0
    (cnt_r, sum_r, cnt_p, sum_p) = em.boundary_counts(pb, line(50, 20, 79), 1)[0]
    assert sum_p < 70 and cnt_p == sum_p and sum_r == 60 and cnt_r >= 56
    assert em.boundary_counts(pb, line(50, 20, 79), 1, thin=False)[0, 3] == 180


def test_thinning_is_scikit_images():
    from skimage.morphology import thin

    rng = np.random.default_rng(5)
    for k in range(12):
        height, width = rng.integers(1, 60, 2)
        bmap = rng.random((height, width)) < rng.random()
        if k % 2:
            bmap = cv2.dilate(bmap.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert np.array_equal(em.thin_edges(bmap), thin(bmap)), k


def test_bad_inputs():
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        em.boundary_counts(np.full((4, 4), 255.0), np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="annotators"):
        em.boundary_counts(np.zeros((4, 4)), np.zeros((1, 5, 4), bool))


# --- dataset scores --------------------------------------------------------------------------------------------

# Two images, two thresholds (t = 0.25, 0.75), sumR = 10 each; rows (cntR, sumR, cntP, sumP):
#   image A: t1 (8, 10, 8, 10): R 0.8, P 0.8, F 0.8;   t2 (4, 10, 4, 4): R 0.4, P 1, F 0.571  -> best t1
#   image B: t1 (10, 10, 10, 40): R 1, P 0.25, F 0.4;  t2 (6, 10, 6, 6): R 0.6, P 1, F 0.75   -> best t2
# ODS (thresholds only): t1 sums (18, 20, 18, 50): R 0.9, P 0.36, F 0.648/1.26 = 0.514;
#                        t2 sums (10, 20, 10, 10): R 0.5, P 1, F 2/3  -> ODS 2/3 at t2.
# OIS: A at t1 + B at t2 = (14, 20, 14, 16): R 0.7, P 0.875, F 1.225/1.575 = 7/9.
# AP: recalls 0.5 (P 1) and 0.9 (P 0.36); at recalls 0.50, 0.51, ..., 0.90 (41 points) P = 1 - 1.6 (r - 0.5),
#     elsewhere 0: sum = 41 - 0.016 * (0 + 1 + ... + 40) = 41 - 13.12 = 27.88, times 0.01 -> 0.2788.
# ODS interpolated (the benchmark's maxF): along t1 -> t2, r = 0.9 - 0.4 d, p = 0.36 + 0.64 d, d = k/99; the best
#     is k = 67: r = 0.62929, p = 0.79313, F = 0.70178 (> 2/3), at t = 0.25 + 0.5 * 67/99.
COUNTS = np.array([[[8, 10, 8, 10], [4, 10, 4, 4]], [[10, 10, 10, 40], [6, 10, 6, 6]]])
TWO_THRESHOLDS = np.array([0.25, 0.75])


def test_ods_and_ois_differ_when_images_prefer_different_thresholds():
    plain = em.ods_ois(COUNTS, thresholds=TWO_THRESHOLDS, interpolate=False)
    assert plain["ods_f"][0] == pytest.approx(2 / 3)
    assert (plain["ods_precision"][0], plain["ods_recall"][0], plain["ods_threshold"][0]) == pytest.approx(
        (1, 0.5, 0.75)
    )
    assert plain["ois_f"][0] == pytest.approx(7 / 9)
    assert (plain["ois_precision"][0], plain["ois_recall"][0]) == pytest.approx((0.875, 0.7))
    assert plain["ap"][0] == pytest.approx(0.2788)


def test_ods_interpolates_between_thresholds_like_maxF():
    d = 67 / 99
    r, p = 0.9 - 0.4 * d, 0.36 + 0.64 * d
    result = em.ods_ois(COUNTS, thresholds=TWO_THRESHOLDS)
    assert result["ods_f"][0] == pytest.approx(2 * p * r / (p + r)) and result["ods_f"][0] == pytest.approx(
        0.70178, abs=1e-5
    )
    assert (result["ods_recall"][0], result["ods_precision"][0]) == pytest.approx((r, p))
    assert result["ods_threshold"][0] == pytest.approx(0.25 + 0.5 * d)
    assert result["ois_f"][0] == pytest.approx(7 / 9)  # OIS never interpolates


def test_integer_weights_equal_duplicated_images():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 50, size=(4, 9, 4))
    counts[..., 0] = np.minimum(counts[..., 0], counts[..., 1])  # cntR <= sumR, cntP <= sumP
    counts[..., 2] = np.minimum(counts[..., 2], counts[..., 3])
    weights = np.array([[1, 1, 1, 1], [2, 0, 1, 3], [0, 0, 0, 5]])
    resampled = em.ods_ois(counts, weights)
    for row, w in enumerate(weights):
        duplicated = em.ods_ois(np.repeat(counts, w, axis=0))
        for name, values in duplicated.items():
            assert resampled[name][row] == pytest.approx(values[0]), name
    plain = em.ods_ois(counts)
    assert {k: v[0] for k, v in plain.items()} == pytest.approx({k: v[0] for k, v in resampled.items()})


# --- the task ---------------------------------------------------------------------------------------------------


def square_image(blur: float = 0.0, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A bright filled square (rows/columns 30..69) on a dark field, and the square's exact boundary (its outermost
    pixels)."""
    grey = np.full((SIDE, SIDE), 40.0)
    grey[30:70, 30:70] = 200.0
    if blur:
        grey = cv2.GaussianBlur(grey, (0, 0), blur)
    if noise:
        grey = grey + np.random.default_rng(seed).normal(0, noise, grey.shape)
    image = np.repeat(np.clip(grey, 0, 255).round().astype(np.uint8)[..., None], 3, axis=2)
    inside = np.zeros((SIDE, SIDE), bool)
    inside[30:70, 30:70] = True
    boundary = inside & ~cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return image, boundary


def test_canny_finds_the_square_and_degrades_with_blur_and_noise():
    clean, boundary = square_image()
    noisy, _ = square_image(blur=2.5, noise=30)
    task = get_task_class("edges")()
    task.load(None)
    predictions = task.predict([clean, noisy], ["clean", "noisy"])
    assert predictions.columns.tolist() == ["image_id", "edge_map"]
    assert set(np.unique(predictions.edge_map[0])) <= {0.0, 1.0}
    annotations = pd.DataFrame({"image_id": ["clean", "noisy"], "edge_maps": [boundary[None], boundary[None]]})
    per_sample, metrics = task.score(predictions, annotations)
    f = dict(zip(per_sample.image_id, per_sample.ois_f, strict=True))
    assert f["clean"] > 0.95  # Canny's edge sits on or next to the boundary pixels, within the 1.06 px tolerance
    assert f["noisy"] < f["clean"] - 0.1
    # binary maps: every threshold has the same counts, so the image's best is its first threshold
    counts = np.array(json.loads(per_sample.counts[0]))
    assert (counts == counts[0]).all() and per_sample.ois_threshold[0] == pytest.approx(0.01)
    # so ODS = OIS, at the first threshold, and AP is 0 (one recall value: no curve to integrate)
    assert (
        metrics["n"] == 2 and metrics["ods_f"] == pytest.approx(metrics["ois_f"]) and metrics["ods_threshold"] == 0.01
    )
    assert metrics["ap"] == 0.0
    assert Edges.describe_sample(per_sample.iloc[0]).startswith(f"F {f['clean']:.2f}")


def test_dataset_ground_truth_is_read_from_edges_files(tmp_path):
    image, boundary = square_image()
    path = write_edges(tmp_path, "sq", np.stack([boundary, boundary]))
    task = Edges()
    task.load(None)
    predictions = task.predict([image], ["sq"])
    per_sample, metrics = task.score(predictions, pd.DataFrame({"image_id": ["sq"], "edges_file": [str(path)]}))
    counts = np.array(json.loads(per_sample.counts[0]))
    assert counts[0, 1] == 2 * boundary.sum()  # sumR over both annotators
    assert metrics["ods_f"] == pytest.approx(per_sample.ois_f[0])  # one image: ODS = OIS
    with pytest.raises(ValueError, match="edges_file"):
        task.score(predictions, pd.DataFrame({"image_id": ["sq"]}))


def test_canny_auto_thresholds_follow_the_median_rule():
    # median 100: lower (1 - 0.33) 100 = 67, upper (1 + 0.33) 100 = 133
    assert auto_canny_thresholds(np.array([[50, 100, 180]], np.uint8)) == pytest.approx((67.0, 133.0))
    # median 200: upper capped at 255; median 0: both 0
    assert auto_canny_thresholds(np.array([[200, 200, 10]], np.uint8)) == pytest.approx((134.0, 255.0))
    assert auto_canny_thresholds(np.zeros((3, 3), np.uint8)) == (0.0, 0.0)
    assert auto_canny_thresholds(np.array([[100]]), sigma=0.5) == pytest.approx((50.0, 150.0))
    # the detector applies exactly those thresholds
    image, _ = square_image(blur=1.5, noise=5)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    low, high = auto_canny_thresholds(grey)
    expected = cv2.Canny(grey, low, high, apertureSize=3, L2gradient=True) > 0
    task = Edges({"detector": "canny_auto"})
    task.load(None)
    assert np.array_equal(task.predict([image], ["a"]).edge_map[0] > 0, expected)


def test_original_ground_truth_scores_the_uncompressed_image_one():
    image, _ = square_image(blur=1.0)
    degraded, _ = square_image(blur=2.5, noise=30)
    task = Edges({"ground_truth": "original"})
    assert task.reference_from_uncompressed and Edges.needed_annotation({"ground_truth": "original"}) is None
    assert Edges.needed_annotation({}) == "edges" and not Edges().reference_from_uncompressed
    task.load(None)
    annotations = pd.DataFrame({"image_id": ["a"], "label": [""]})
    with pytest.raises(ValueError, match="reference_annotations"):
        task.score(task.predict([image], ["a"]), annotations)
    uncompressed = task.predict([image], ["a"])
    reference = task.reference_annotations(uncompressed, annotations)
    assert reference.edge_maps[0].shape == (1, SIDE, SIDE) and reference.edge_maps[0].dtype == bool
    per_sample, metrics = task.score(uncompressed, reference)
    assert per_sample.ois_f[0] == 1.0 and metrics["ods_f"] == 1.0 and metrics["ap"] == 0.0  # one recall: no area
    per_sample, _ = task.score(task.predict([degraded], ["a"]), reference)
    assert per_sample.ois_f[0] < 0.9
    # ground_truth "dataset" leaves the annotations alone
    assert Edges().reference_annotations(uncompressed, annotations) is annotations


def test_missing_hed_files_name_both(tmp_path):
    prototxt, weights = tmp_path / "deploy.prototxt", tmp_path / "hed_pretrained_bsds.caffemodel"
    task = Edges({"detector": "hed", "hed_prototxt": str(prototxt), "hed_weights": str(weights)})
    with pytest.raises(FileNotFoundError) as error:
        task.load(None)
    message = str(error.value)
    for text in (str(prototxt), str(weights), HED_PROTOTXT_URL, HED_WEIGHTS_URL, "hed_prototxt", "hed_weights"):
        assert text in message
    with pytest.raises(FileNotFoundError, match="hed_prototxt.*hed_weights"):
        Edges({"detector": "hed"}).load(None)


STAND_IN_HED = """name: "stand-in"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 20
input_dim: 30
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" pooling_param { pool: MAX kernel_size: 3 stride: 1 pad: 2 } }
layer { name: "crop" type: "Crop" bottom: "pool" bottom: "data" top: "crop" }
layer { name: "scale" type: "Power" bottom: "crop" top: "scale" power_param { scale: 0.01 } }
layer { name: "sigmoid-fuse" type: "Sigmoid" bottom: "scale" top: "sigmoid-fuse" }
"""


def test_hed_path_runs_a_caffe_network_with_the_crop_layer(tmp_path):
    """A weightless stand-in for HED (3x3 max pooling padded by 2, so 2 px larger, cut back by the Crop layer, then
    a sigmoid): checks the input (BGR minus the HED mean, at the image's own size), the Crop layer and the output."""
    from scipy.ndimage import maximum_filter

    prototxt, weights = tmp_path / "deploy.prototxt", tmp_path / "empty.caffemodel"
    prototxt.write_text(STAND_IN_HED)
    weights.write_bytes(b"")
    task = Edges({"detector": "hed", "hed_prototxt": prototxt, "hed_weights": weights})
    task.load(None)
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3)).astype(np.uint8)
    edge_map = task.predict([image], ["a"]).edge_map[0]
    blue = maximum_filter(image[..., 2].astype(float), size=3, mode="nearest") - 104.00698793
    assert edge_map.shape == (37, 53) and edge_map.dtype == np.float32
    np.testing.assert_allclose(edge_map, 1 / (1 + np.exp(-0.01 * blue)), atol=1e-6)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="'detector'"):
        Edges({"detector": "sobel"})
    with pytest.raises(ValueError, match="unknown setting 'threshold'"):
        Edges({"threshold": 3})
    with pytest.raises(ValueError, match="'ground_truth'"):
        Edges({"ground_truth": "human"})
    with pytest.raises(ValueError, match="'low_threshold'"):
        Edges({"low_threshold": 300, "high_threshold": 200})
    with pytest.raises(ValueError, match="'hed_weights' is for the hed detector"):
        Edges({"hed_weights": "x.caffemodel"})
    with pytest.raises(ValueError, match="'thresholds'"):
        Edges({"thresholds": 0})
    assert Edges.is_pretrained({}) and Edges().settings["max_dist"] == 0.0075
    with pytest.raises(ValueError, match="not trained"):
        Edges().train([], pd.DataFrame(), None)
    with pytest.raises(ValueError, match="checkpoint"):
        Edges().load("model.pt")


def test_resampled_scores_recompute_from_the_rows(tmp_path):
    clean, boundary = square_image()
    images = [clean, square_image(blur=1.5, noise=20, seed=1)[0], square_image(blur=2.5, noise=30, seed=2)[0]]
    ids = ["a", "b", "c"]
    task = Edges({"thresholds": 9})
    task.load(None)
    predictions = task.predict(images, ids)
    maps = list(predictions.edge_map)
    predictions["edge_map"] = maps[:2] + [cv2.GaussianBlur(maps[2], (0, 0), 1.0)]  # a soft map too
    annotations = pd.DataFrame({"image_id": ids, "edge_maps": [boundary[None]] * 3})
    per_sample, metrics = task.score(predictions, annotations)
    # through the pipeline's CSV: counts come back as a text column
    per_sample.to_csv(tmp_path / "rows.csv", index=False)
    rows = pd.read_csv(tmp_path / "rows.csv", dtype={"image_id": str, "counts": str})
    plain = Edges.resampled_scores(rows, np.ones((1, 3)))
    assert set(plain) == set(Edges.scores)
    for name in Edges.scores:
        assert plain[name][0] == pytest.approx(metrics[name]), name
    weights = np.array([[1, 1, 1], [2, 0, 1], [0, 3, 1]])
    resampled = Edges.resampled_scores(rows, weights)
    for row, w in enumerate(weights):
        duplicated = Edges.resampled_scores(rows.loc[np.repeat(np.arange(3), w)], np.ones((1, int(w.sum()))))
        for name in Edges.scores:
            assert resampled[name][row] == pytest.approx(duplicated[name][0]), name
