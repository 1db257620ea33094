"""Detection: the COCO-style metrics against hand-computed values and pycocotools' COCOeval, their weighted
(bootstrap) form, and the YOLO detection task (a tiny training on synthetic squares, checkpoint, prediction in
pixel coordinates and RGB/BGR order, errors, nothing written to $HOME or ./runs).

The training is tiny (16 64x64 images, 2 epochs at 64 px) and shared through a module-scoped fixture.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from codecbench.tasks.detection_metrics import (
    IOU_THRESHOLDS,
    average_precision,
    box_iou,
    detection_summary,
    image_counts,
    match_image,
    match_images,
)

# --- metrics -------------------------------------------------------------------------------------------------------


def test_box_iou_uses_exclusive_far_edges():
    # (0,0)-(10,10) has area 100 (no +1); it shares a 5x10 strip with (5,0)-(15,10): 50 / (100 + 100 - 50) = 1/3
    assert box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [10, 0, 20, 10], [0, 0, 10, 10]]) == pytest.approx(
        np.array([[1 / 3, 0.0, 1.0]])
    )
    assert box_iou([[3, 3, 3, 3]], [[3, 3, 3, 3]]).tolist() == [[0.0]]  # empty union: 0, not NaN


def test_match_image_greedy_by_confidence():
    objects = [("cat", 0, 0, 10, 10), ("cat", 20, 20, 30, 30)]
    detections = [
        ("cat", 0.5, 0, 0, 10, 10),  # the best box but lower confidence: gets the object where d1 does not
        ("cat", 0.9, 0, 0, 10, 8),  # IoU 0.8 with the first object: a TP up to threshold 0.8
        ("dog", 0.95, 20, 20, 30, 30),  # no dog in the image: FP
        ("cat", 0.1, 21, 20, 30, 30),  # IoU 0.9 with the second object
    ]
    tp = match_image(detections, objects)
    assert tp.shape == (4, 10)
    assert tp[1].tolist() == [t <= 0.8 + 1e-12 for t in IOU_THRESHOLDS]
    assert tp[0].tolist() == (~tp[1]).tolist()  # above 0.8 the first object is still free for d0
    assert not tp[2].any()
    assert tp[3].tolist() == [t <= 0.9 + 1e-12 for t in IOU_THRESHOLDS]


def _hand_case():
    objects = [
        [("cat", 0, 0, 10, 10), ("cat", 20, 20, 30, 30)],  # image 0: objects A and B
        [("cat", 0, 0, 10, 10)],  # image 1: object C
    ]
    detections = [
        [("cat", 0.9, 0, 0, 10, 10), ("cat", 0.7, 0, 0, 10, 10)],  # d1 on A (IoU 1); d3 duplicates d1
        [("cat", 0.8, 50, 50, 60, 60), ("cat", 0.6, 0, 0, 10, 5), ("dog", 0.3, 0, 0, 10, 10)],  # d2, d4, a dog
    ]
    return detections, objects


def test_average_precision_by_hand():
    detections, objects = _hand_case()
    matches = match_images(detections, objects, ["cat", "dog"])
    # cat, ranked by confidence: d1 0.9 TP (A), d2 0.8 FP (nothing there), d3 0.7 FP (A taken), d4 0.6: IoU with C
    # = 50/100 = 0.5, a TP at threshold 0.5 only. Three objects.
    # At 0.5: cumulative TP 1 1 1 2, FP 0 1 2 2 -> recall 1/3 1/3 1/3 2/3, precision 1 1/2 1/3 1/2;
    #   envelope 1 1/2 1/2 1/2. Recall levels 0.00-0.33 (34 levels) read precision 1, 0.34-0.66 (33) read 1/2,
    #   0.67-1.00 (34) find no recall that high: 0. AP50 = (34 + 33/2) / 101 = 0.5.
    # At 0.55-0.95 d4 is a FP: recall reaches 1/3 only, AP = 34/101.
    # dog: no ground truth -> no AP (NaN), left out of the means.
    ap = average_precision(matches)
    assert ap.shape == (2, 10)
    assert ap[0, 0] == pytest.approx(0.5)
    assert ap[0, 1:] == pytest.approx(np.full(9, 34 / 101))
    assert np.isnan(ap[1]).all()
    summary = detection_summary(matches)
    assert summary["map50"] == pytest.approx(0.5)
    assert summary["map50_95"] == pytest.approx((0.5 + 9 * 34 / 101) / 10)
    assert summary["per_class_ap50"]["cat"] == pytest.approx(0.5)
    assert np.isnan(summary["per_class_ap50"]["dog"])
    # At confidence >= 0.25 and IoU 0.5 all five detections count: TP d1, d4; FP d2, d3, the dog; C is found,
    # B is missed. Precision 2/5, recall 2/3.
    assert summary["precision"] == pytest.approx(2 / 5)
    assert summary["recall"] == pytest.approx(2 / 3)
    counts = image_counts(matches, confidence=0.25)
    assert counts["tp"].tolist() == [1, 1] and counts["fp"].tolist() == [1, 2] and counts["fn"].tolist() == [1, 0]
    # Above confidence 0.65 only d1, d2 and d3 are left: image 1 has one FP and misses C.
    counts = image_counts(matches, confidence=0.65)
    assert counts["tp"].tolist() == [1, 0] and counts["fp"].tolist() == [1, 1] and counts["fn"].tolist() == [1, 1]


def test_unknown_class_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"image 1: class\(es\) \['horse'\]"):
        match_images([[], [("horse", 0.5, 0, 0, 1, 1)]], [[], []], ["cat"])


def _random_case(seed: int, n_images: int = 12, classes=("a", "b", "c", "d")):
    """Random ground truth, jittered and displaced detections with random scores; some classes stay empty."""
    rng = np.random.default_rng(seed)
    detections, objects = [], []
    present = list(classes[:-1])  # the last class never has ground truth, only false detections
    for _ in range(n_images):
        image_objects, image_detections = [], []
        for _ in range(rng.integers(0, 6)):
            name = str(rng.choice(present))
            x, y = rng.uniform(0, 200, size=2)
            w, h = rng.uniform(4, 60, size=2)
            image_objects.append((name, x, y, x + w, y + h))
            for _ in range(rng.integers(0, 3)):  # 0-2 detections per object, jittered by up to ~30%
                jitter = rng.normal(0, 0.12, size=4) * [w, h, w, h]
                box = np.array([x, y, x + w, y + h]) + jitter
                box[2:] = np.maximum(box[2:], box[:2] + 1)
                other = str(rng.choice(classes)) if rng.random() < 0.15 else name
                image_detections.append((other, float(rng.random()), *map(float, box)))
        for _ in range(rng.integers(0, 4)):  # detections of nothing
            x, y = rng.uniform(0, 200, size=2)
            w, h = rng.uniform(4, 60, size=2)
            image_detections.append((str(rng.choice(classes)), float(rng.random()), x, y, x + w, y + h))
        rng.shuffle(image_detections)
        objects.append(image_objects)
        detections.append(image_detections)
    return detections, objects, list(classes)


def _cocoeval(detections, objects, classes):
    """pycocotools' COCOeval on the same case: (stats[0] mAP50-95, stats[1] mAP50, per-class AP per threshold)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    category = {name: k + 1 for k, name in enumerate(classes)}
    annotations, results = [], []
    for i, (image_objects, image_detections) in enumerate(zip(objects, detections, strict=True)):
        for name, x0, y0, x1, y1 in image_objects:
            w, h = x1 - x0, y1 - y0
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": category[name],
                    "bbox": [x0, y0, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for name, score, x0, y0, x1, y1 in image_detections:
            results.append(
                {"image_id": i + 1, "category_id": category[name], "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score}
            )
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {
            "images": [{"id": i + 1, "width": 300, "height": 300} for i in range(len(objects))],
            "categories": [{"id": k, "name": name} for name, k in category.items()],
            "annotations": annotations,
        }
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = evaluation.eval["precision"][:, :, :, 0, 2]  # thresholds x recall levels x classes, area all, 100
    per_class = np.where((precision > -1).all(axis=1), precision.mean(axis=1), np.nan).T  # classes x thresholds
    return evaluation.stats[0], evaluation.stats[1], per_class


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_pycocotools(seed):
    detections, objects, classes = _random_case(seed)
    map50_95, map50, per_class = _cocoeval(detections, objects, classes)
    matches = match_images(detections, objects, classes)
    summary = detection_summary(matches)
    assert summary["map50_95"] == pytest.approx(map50_95, abs=1e-6)
    assert summary["map50"] == pytest.approx(map50, abs=1e-6)
    np.testing.assert_allclose(average_precision(matches), per_class, atol=1e-6)
    assert np.isnan(per_class[-1]).all()  # the class without ground truth


def test_weights_of_one_equal_the_plain_evaluation():
    matches = match_images(*_random_case(10)[:2], _random_case(10)[2])
    plain = average_precision(matches)
    weighted = average_precision(matches, np.ones((3, matches.n_images)))
    assert weighted.shape == (3, *plain.shape)
    for replicate in weighted:
        np.testing.assert_array_equal(replicate, plain)


@pytest.mark.parametrize("seed", range(3))
def test_integer_weights_equal_duplicated_images(seed):
    detections, objects, classes = _random_case(20 + seed)
    matches = match_images(detections, objects, classes)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(objects), np.full(len(objects), 1 / len(objects)), size=4)  # bootstrap draws
    weighted = average_precision(matches, counts)
    summaries = detection_summary(matches, counts)
    for r, row in enumerate(counts):
        drawn = np.repeat(np.arange(len(objects)), row)
        resampled = match_images([detections[i] for i in drawn], [objects[i] for i in drawn], classes)
        np.testing.assert_allclose(weighted[r], average_precision(resampled), atol=1e-12)
        plain = detection_summary(resampled)
        for key in ("map50", "map50_95", "precision", "recall", "f1"):
            assert summaries[key][r] == pytest.approx(plain[key], nan_ok=True)


def test_chunked_replicates_equal_one_pass(monkeypatch):
    import codecbench.tasks.detection_metrics as dm

    matches = match_images(*_random_case(30)[:2], _random_case(30)[2])
    weights = np.random.default_rng(0).poisson(1.0, size=(7, matches.n_images)).astype(float)
    whole = average_precision(matches, weights)
    monkeypatch.setattr(dm, "_MAX_CELLS", 5)
    np.testing.assert_array_equal(average_precision(matches, weights), whole)


# --- the detection task --------------------------------------------------------------------------------------------

COLOURS = {"red": (230, 30, 30), "green": (30, 230, 30)}


def _quiet(_line: str) -> None:
    pass


def _squares(n: int, side: int = 64, seed: int = 0) -> tuple[list[np.ndarray], pd.DataFrame]:
    """``n`` noisy side x side images, each with a red and a green square, and their annotations."""
    rng = np.random.default_rng(seed)
    images, objects = [], []
    for _ in range(n):
        image = rng.integers(0, 80, size=(side, side, 3), dtype=np.uint8)
        boxes = []
        for name, colour in COLOURS.items():
            s = int(rng.integers(side // 5, side // 3))
            x, y = (int(v) for v in rng.integers(0, side - s, size=2))
            image[y : y + s, x : x + s] = colour
            boxes.append((name, x, y, x + s, y + s))
        images.append(image)
        objects.append(boxes)
    annotations = pd.DataFrame({"image_id": [f"sq{i:03d}" for i in range(n)], "objects": objects})
    annotations.attrs["classes"] = list(COLOURS)
    return images, annotations


TINY = {"epochs": 2, "image_px": 64, "batch_size": 8, "confidence": 1e-6}  # 2 epochs: scores are tiny


class _NetworkAttempts(list):
    """Records every attempt to resolve a host name or open a connection (and refuses it)."""

    def refuse(self, *args, **kwargs):
        self.append(args[:2])
        raise OSError("network disabled by the test")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, project):
    """(folder, info, task, cwd, network attempts, state before) of yolov8n.yaml trained on 16 squares images
    (2 epochs at 64 px), run once from a temporary working directory with the network switched off."""
    import socket
    from unittest import mock

    from codecbench.tasks.detection import Detection

    images, annotations = _squares(16)
    folder = tmp_path_factory.mktemp("detector")
    work = tmp_path_factory.mktemp("cwd")
    before = {
        "home_ultralytics": (Path.home() / ".config" / "Ultralytics").exists(),
        "project_runs": (project / "runs").exists(),
    }
    attempts = _NetworkAttempts()
    previous = os.getcwd()
    os.chdir(work)
    try:
        with (
            mock.patch.object(socket, "getaddrinfo", attempts.refuse),
            mock.patch.object(socket.socket, "connect", attempts.refuse),
        ):
            task = Detection(TINY)
            info = task.train(images, annotations, folder, device="cpu", log=_quiet)
    finally:
        os.chdir(previous)
    return folder, info, task, work, attempts, before


def test_registered():
    from codecbench.tasks import get_task_class
    from codecbench.tasks.detection import Detection

    assert get_task_class("detection") is Detection
    assert Detection.is_pretrained({"model": "yolov8n.pt"}) and not Detection.is_pretrained({})


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"model": "yolov8n.onnx"}, "setting 'model' must name a YOLO model .yaml"),
        ({"image_px": 100}, "'image_px' must be a multiple of 32"),
        ({"confidence": 1.0}, "'confidence' must be a number in \\[0, 1\\)"),
        ({"iou": 0}, "'iou' must be a number in \\(0, 1\\]"),
        ({"optimizer": "auto"}, "setting 'optimizer' is 'auto'"),
        ({"epochs": 0}, "'epochs' must be an integer >= 1"),
        ({"lr": 0.1}, "unknown setting 'lr'"),
    ],
)
def test_settings_errors_name_the_key(settings, message):
    from codecbench.tasks.detection import Detection

    with pytest.raises(ValueError, match=message):
        Detection(settings)


def test_train_refuses_before_work(tmp_path):
    from codecbench.tasks.detection import Detection

    images, annotations = _squares(2)
    (tmp_path / "checkpoint.pt").write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="checkpoint.pt already exists"):
        Detection(TINY).train(images, annotations, tmp_path, device="cpu", log=_quiet)
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"keep me"
    with pytest.raises(ValueError, match="'yolov8n.pt' is pretrained weights, evaluated as they are"):
        Detection({"model": "yolov8n.pt"}).train(images, annotations, tmp_path / "new", device="cpu")
    unlisted = annotations.copy()
    unlisted.attrs = {}
    with pytest.raises(ValueError, match="annotations.attrs\\['classes'\\]"):
        Detection(TINY).train(images, unlisted, tmp_path / "new", device="cpu")


def test_missing_weights_name_the_file(tmp_path):
    from codecbench.tasks.detection import Detection

    with pytest.raises(
        FileNotFoundError, match="YOLO weights 'yolov8n.pt' not found .* downloading it failed"
    ) as error:
        Detection().load("yolov8n.pt", device="cpu")
    assert "https://github.com/ultralytics/assets/releases/download/v8.4.0/yolov8n.pt" in str(error.value)
    missing = tmp_path / "mine.pt"
    with pytest.raises(FileNotFoundError, match=f"YOLO weights '{missing}' not found"):
        Detection().load(missing, device="cpu")
    with pytest.raises(FileNotFoundError, match="YOLO weights 'yolov8s.pt' not found"):  # load(None): the setting's
        Detection({"model": "yolov8s.pt"}).load(None, device="cpu")
    with pytest.raises(ValueError, match="'yolov8n.yaml' is a model definition to train, not weights"):
        Detection().load(None, device="cpu")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt cannot be loaded"):
        Detection().load(tmp_path / "junk.pt", device="cpu")


def test_training_writes_checkpoint_and_csv_and_nothing_else(trained, project):
    import torch
    from ultralytics.utils import USER_CONFIG_DIR

    folder, info, _, work, attempts, before = trained
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.pt", "train.csv"]
    table = pd.read_csv(folder / "train.csv")
    assert list(table.columns) == ["epoch", "box_loss", "cls_loss", "dfl_loss", "learning_rate", "images_per_s"]
    assert table.epoch.tolist() == [1, 2] and np.isfinite(table[["box_loss", "cls_loss", "dfl_loss"]].to_numpy()).all()
    assert info["classes"] == ["red", "green"] and info["num_images"] == 16 and info["num_objects"] == 32
    assert info["device"] == "cpu" and info["epochs_done"] == 2 and info["train_seconds"] > 0
    json.dumps(info)  # JSON-able
    payload = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert payload["codecbench"]["format"] == "codecbench-detector/1"
    assert payload["codecbench"]["classes"] == ["red", "green"] and payload["date"] is None
    assert payload["train_args"]["data"] is None and payload["model"].names == {0: "red", 1: "green"}
    # no downloads or online checks, no ./runs, nothing under $HOME
    assert attempts == []
    assert not (work / "runs").exists() and list(work.iterdir()) == []
    assert (project / "runs").exists() == before["project_runs"]
    assert (Path.home() / ".config" / "Ultralytics").exists() == before["home_ultralytics"]
    assert Path.home() not in Path(USER_CONFIG_DIR).resolve().parents


def test_training_is_repeatable_and_keeps_the_callers_random_state(trained, tmp_path):
    import random

    import torch

    from codecbench.tasks.detection import Detection

    folder, *_ = trained
    images, annotations = _squares(16)
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    deterministic = torch.are_deterministic_algorithms_enabled()
    Detection(TINY).train(images, annotations, tmp_path, device="cpu", log=_quiet)
    assert (tmp_path / "checkpoint.pt").read_bytes() == (folder / "checkpoint.pt").read_bytes()
    losses = ["epoch", "box_loss", "cls_loss", "dfl_loss"]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "train.csv")[losses], pd.read_csv(folder / "train.csv")[losses]
    )
    drawn = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    assert drawn == (random.random(), np.random.rand(), torch.rand(1).item())
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_load_and_predict_in_pixels(trained):
    from codecbench.tasks.detection import Detection

    folder, *_ = trained
    task = Detection({**TINY, "max_detections": 5})
    task.load(folder / "checkpoint.pt", device="cpu")
    assert task.classes == ["red", "green"] and task.device == "cpu"
    images, _ = _squares(3, side=64)
    images.append(np.ascontiguousarray(np.concatenate([images[0], images[1][:, :16]], axis=1)))  # 64 x 80
    predictions = task.predict(images, ["a", "b", "c", "wide"])
    assert list(predictions.columns) == ["image_id", "detections"]
    assert predictions.image_id.tolist() == ["a", "b", "c", "wide"]
    for image, cell in zip(images, predictions.detections, strict=True):
        detections = json.loads(cell)
        assert 0 < len(detections) <= 5
        height, width = image.shape[:2]
        for name, confidence, x0, y0, x1, y1 in detections:
            assert name in ("red", "green") and 0 < confidence <= 1
            assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
        assert [d[1] for d in detections] == sorted((d[1] for d in detections), reverse=True)
    with pytest.raises(ValueError, match="image bad: expected a uint8 HxWx3 RGB array"):
        task.predict([images[0].astype(float)], ["bad"])


def test_predict_passes_bgr_to_ultralytics(trained, tmp_path, monkeypatch):
    """Ultralytics takes in-memory arrays as BGR (as cv2 reads files): our prediction on an RGB array hands it the
    reversed channels and equals Ultralytics' own prediction on the PNG file exactly; the RGB array would not.

    (The tiny model barely looks at its input, but its raw outputs still differ at 1e-10 when the channels swap.)
    """
    import torch
    from PIL import Image
    from ultralytics import YOLO

    from codecbench.tasks.detection import Detection, _result_detections

    folder, *_ = trained
    task = Detection(TINY)
    task.load(folder / "checkpoint.pt", device="cpu")
    image = _squares(1, seed=7)[0][0]
    Image.fromarray(image).save(tmp_path / "image.png")
    seen, raw = [], []
    original = task._model.predict

    def spy(source, **kwargs):
        seen.extend(np.array(a) for a in source)
        raw.extend(original(source, **kwargs))
        return raw[-len(source) :]

    monkeypatch.setattr(task._model, "predict", spy)
    ours = json.loads(task.predict([image], ["x"]).detections[0])
    np.testing.assert_array_equal(seen[0], image[:, :, ::-1])
    settings = {"imgsz": 64, "conf": TINY["confidence"], "iou": 0.7, "max_det": 100, "device": "cpu", "verbose": False}
    reference = YOLO(str(folder / "checkpoint.pt")).predict(str(tmp_path / "image.png"), **settings)[0]
    assert torch.equal(raw[0].boxes.data, reference.boxes.data)
    assert ours == _result_detections(reference, ["red", "green"])
    as_rgb = YOLO(str(folder / "checkpoint.pt")).predict(image, **settings)[0]
    assert not torch.equal(as_rgb.boxes.data, reference.boxes.data)


def _objects_json(rows):
    return [json.dumps([list(o) for o in image]) for image in rows]


def test_score_table_and_metrics():
    from codecbench.tasks.detection import Detection

    detections, objects = _hand_case()
    detections[1].append(("person", 0.99, 0, 0, 5, 5))  # a class the dataset lacks: dropped
    annotations = pd.DataFrame({"image_id": ["i0", "i1"], "objects": objects})
    annotations.attrs["classes"] = ["cat", "dog"]
    predictions = pd.DataFrame({"image_id": ["i1", "i0"], "detections": _objects_json(detections[::-1])})
    table, metrics = Detection().score(predictions, annotations)
    assert table.image_id.tolist() == ["i1", "i0"]
    assert table.n_objects.tolist() == [1, 2] and table.n_detections.tolist() == [3, 2]
    # at confidence >= 0.25 (see test_average_precision_by_hand): i1 d4 TP, d2 and the dog FP; i0 d1 TP, d3 FP, B missed
    assert table.tp50.tolist() == [1, 1] and table.fp50.tolist() == [2, 1] and table.fn50.tolist() == [0, 1]
    assert table.errors.tolist() == [2, 2] and table.f1_50.tolist() == pytest.approx([2 / 4, 2 / 4])
    assert "person" not in table.detections[0]
    assert metrics["map50"] == pytest.approx(0.5) and metrics["per_class_ap50"]["cat"] == pytest.approx(0.5)
    assert metrics["precision"] == pytest.approx(2 / 5) and metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["n"] == 2 and metrics["n_objects"] == 3 and metrics["classes"] == ["cat", "dog"]
    with pytest.raises(ValueError, match="1 predicted image\\(s\\) have no annotation"):
        Detection().score(predictions.assign(image_id=["i1", "other"]), annotations)


def test_resampled_scores_and_per_class_from_the_rows():
    from codecbench.tasks.detection import Detection

    detections, objects, classes = _random_case(3, n_images=20)
    annotations = pd.DataFrame({"image_id": [f"im{i}" for i in range(20)], "objects": objects})
    annotations.attrs["classes"] = classes
    predictions = pd.DataFrame({"image_id": annotations.image_id, "detections": _objects_json(detections)})
    table, metrics = Detection().score(predictions, annotations)
    rows = pd.read_csv(
        io.StringIO(table.to_csv(index=False)), dtype={"image_id": str, "detections": str, "objects": str}
    )
    weights = np.vstack([np.ones(20), np.random.default_rng(0).poisson(1.0, size=(5, 20))])
    scores = Detection.resampled_scores(rows, weights)
    assert set(scores) == set(Detection.scores)
    for name in Detection.scores:
        assert scores[name].shape == (6,)
        assert scores[name][0] == pytest.approx(metrics[name])
    per_class = Detection.per_class(rows)
    assert list(per_class.columns) == ["class", "score", "value", "n_objects"]
    ap50 = per_class[per_class.score == "ap50"].set_index("class")
    assert sorted(ap50.index) == ["a", "b", "c"]  # d has no objects
    for name in ap50.index:
        assert ap50.value[name] == pytest.approx(metrics["per_class_ap50"][name])


def test_a_detector_mask_is_the_union_of_its_boxes_above_the_confidence(trained, tmp_path):
    """The mask source ``detector`` runs the task's model once on each uncompressed image: its mask is the union of
    the boxes it predicts (grown by dilate_px), recomputed here from the model's own predictions."""
    from codecbench.datasets import prepare_dataset
    from codecbench.io import read_rgb
    from codecbench.masks import make_masks

    folder, _, task, _, _, _ = trained
    prepare_dataset("shapes", {"source": "builtin", "max_images": 2}, tmp_path / "shapes", tmp_path / "downloads")
    manifest = tmp_path / "shapes" / "manifest.csv"
    settings = {"task": "detection", "settings": dict(task.settings)}
    table = make_masks(
        manifest, "found", {"source": "detector", "task": "boxes", "min_confidence": 0.0, "dilate_px": 1},
        tmp_path / "found", task_checkpoint=folder / "checkpoint.pt", task_settings=settings,
    )  # fmt: skip
    assert set(table.mask_kind) == {"model"}
    rows = pd.read_csv(manifest, dtype={"image_id": str})
    for row in rows[rows.split == "test"].itertuples(index=False):
        image = read_rgb(tmp_path / "shapes" / row.file)
        predicted = json.loads(task.predict([image], [row.image_id]).detections.iloc[0])
        expected = np.zeros(image.shape[:2], dtype=bool)
        for _, _, x_min, y_min, x_max, y_max in predicted:
            expected[max(0, int(np.floor(y_min)) - 1) : int(np.ceil(y_max)) + 1,
                     max(0, int(np.floor(x_min)) - 1) : int(np.ceil(x_max)) + 1] = True  # fmt: skip
        coverage = table.set_index("image_id").coverage[row.image_id]
        assert coverage == pytest.approx(expected.mean())
    assert table.coverage.max() > 0  # the 2-epoch model finds some boxes at confidence 1e-6
    none = make_masks(
        manifest, "none", {"source": "detector", "task": "boxes", "min_confidence": 1.0, "dilate_px": 1},
        tmp_path / "none", task_checkpoint=folder / "checkpoint.pt", task_settings=settings,
    )  # fmt: skip
    assert (none.coverage == 0).all()
