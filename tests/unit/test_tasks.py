"""The task registry and the classification task: metrics against hand-computed values, settings checks,
reproducible training, checkpoints that load and predict, and torchvision models from cached weights or scratch.

Training runs are tiny (a few hundred 32x32 digit images, a few epochs) and shared through a module-scoped cache,
so the file runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from codecbench.tasks import TASKS, get_task_class
from codecbench.tasks.classification import (
    Classification,
    _augment,
    _batches,
    classification_metrics,
    imagenet_weights_file,
)

N_TRAIN = 200


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def digits() -> tuple[list[np.ndarray], pd.DataFrame]:
    """scikit-learn's 1,797 8x8 digits as 32x32 RGB uint8 images (each pixel repeated 4x4) and their annotations."""
    from sklearn.datasets import load_digits

    data = load_digits()
    gray = np.round(data.images / 16 * 255).astype(np.uint8)  # 0..16 ink levels -> 0..255
    big = np.repeat(np.repeat(gray, 4, axis=1), 4, axis=2)
    images = [np.ascontiguousarray(np.stack([image] * 3, axis=-1)) for image in big]
    annotations = pd.DataFrame({"image_id": [f"digit{i:04d}" for i in range(len(images))], "label": data.target})
    return images, annotations


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    """``trained(seed, epochs)``: (folder, training info) of small_cnn on the first N_TRAIN digits, run once."""
    images, annotations = digits
    cache = {}

    def run(seed: int = 0, epochs: int = 2, run: int = 0):
        key = (seed, epochs, run)
        if key not in cache:
            folder = tmp_path_factory.mktemp(f"seed{seed}-epochs{epochs}-run{run}")
            task = Classification({"epochs": epochs, "batch_size": 16, "seed": seed})
            info = task.train(images[:N_TRAIN], annotations.iloc[:N_TRAIN], folder, device="cpu", log=_quiet)
            cache[key] = folder, info
        return cache[key]

    return run


# --- metrics -------------------------------------------------------------------------------------------------------


def test_metrics_three_classes_by_hand():
    labels = list("aaaabbbccc")
    predicted = list("aabcbbbaac")
    # confusion (rows true a, b, c; columns predicted a, b, c):
    #   a: a a b c -> [2, 1, 1]    b: b b b -> [0, 3, 0]    c: a a c -> [2, 0, 1]
    # accuracy = (2 + 3 + 1) / 10 = 0.6
    # F1: a P=2/4 R=2/4 -> 1/2;  b P=3/4 R=3/3 -> 6/7;  c P=1/2 R=1/3 -> 2/5;  macro = (1/2 + 6/7 + 2/5) / 3 = 41/70
    # kappa: p_o = 0.6; true marginals (4, 3, 3)/10, predicted marginals (4, 4, 2)/10
    #   p_e = (4*4 + 3*4 + 3*2) / 100 = 0.34;  kappa = (0.6 - 0.34) / (1 - 0.34) = 0.26 / 0.66 = 13/33
    metrics = classification_metrics(labels, predicted, ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(0.6)
    assert metrics["macro_f1"] == pytest.approx(41 / 70)
    assert metrics["cohen_kappa"] == pytest.approx(13 / 33)
    assert metrics["per_class_accuracy"] == pytest.approx({"a": 0.5, "b": 1.0, "c": 1 / 3})
    assert metrics["confusion"] == [[2, 1, 1], [0, 3, 0], [2, 0, 1]]
    assert metrics["classes"] == ["a", "b", "c"] and metrics["n"] == 10


def test_metrics_default_classes_and_order():
    # classes default to the sorted union of labels and predictions; the given order is the matrix's order
    metrics = classification_metrics(["b", "a"], ["b", "c"])
    assert metrics["classes"] == ["a", "b", "c"]
    assert metrics["confusion"] == [[0, 0, 1], [0, 1, 0], [0, 0, 0]]
    reordered = classification_metrics(["b", "a"], ["b", "c"], ["c", "b", "a"])
    assert reordered["confusion"] == [[0, 0, 0], [0, 1, 0], [1, 0, 0]]


def test_metrics_degenerate_single_class():
    # all "a", all right: p_o = p_e = 1, so kappa = 0/0 is undefined (NaN); F1 over the one class present is 1
    perfect = classification_metrics(["a"] * 4, ["a"] * 4, ["a", "b"])
    assert perfect["accuracy"] == 1.0 and perfect["macro_f1"] == 1.0
    assert math.isnan(perfect["cohen_kappa"])
    assert perfect["confusion"] == [[4, 0], [0, 0]]
    assert perfect["per_class_accuracy"]["a"] == 1.0 and math.isnan(perfect["per_class_accuracy"]["b"])
    # all "a", one predicted "b": p_o = 3/4, p_e = 1 * 3/4 + 0 * 1/4 = 3/4, kappa = 0 / (1/4) = 0
    # F1: a P=3/3 R=3/4 -> 6/7; b P=0/1, R undefined -> 0; macro = 3/7
    one_wrong = classification_metrics(["a"] * 4, ["a", "a", "a", "b"])
    assert one_wrong["accuracy"] == 0.75
    assert one_wrong["cohen_kappa"] == pytest.approx(0.0)
    assert one_wrong["macro_f1"] == pytest.approx(3 / 7)


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="not among the classes"):
        classification_metrics(["a", "z"], ["a", "a"], ["a", "b"])
    with pytest.raises(ValueError, match="one length"):
        classification_metrics(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no samples"):
        classification_metrics([], [])


# --- registry and settings -----------------------------------------------------------------------------------------


def test_registry():
    assert get_task_class("classification") is Classification and TASKS["classification"] is Classification
    with pytest.raises(KeyError, match=r"unknown task 'segmentation' \(known: .*classification"):
        get_task_class("segmentation")


@pytest.mark.parametrize(
    ("score", "label"),
    [
        ("macro_f1", "macro-F1"),
        ("cohen_kappa", "Cohen's kappa"),
        ("map50_95", "mAP@0.5:0.95"),
        ("cer", "character error rate"),
        ("mean_confidence", "mean confidence"),  # an OCR aggregate, not one of its summary scores
        ("ods_recall", "boundary recall (ODS)"),
        ("ap50_95", "ap50 95"),  # no task labels it: its name, '_' shown as ' '
        ("f1", "f1"),
    ],
)
def test_figure_labels_of_scores(score, label):
    from codecbench.report.task_figures import score_label

    assert score_label(score) == label


def test_a_score_label_is_the_one_its_task_class_declares(monkeypatch):
    from codecbench.report.task_figures import score_label
    from codecbench.tasks.detection import Detection

    monkeypatch.setitem(Detection.score_labels, "f1", "F1 at IoU 0.5")
    assert score_label("f1") == "F1 at IoU 0.5"
    labels: dict[str, str] = {}
    for task in TASKS.values():  # one score name, one label: score_label does not know the task
        for score, label in task.score_labels.items():
            assert labels.setdefault(score, label) == label, f"{task.name} labels {score!r} differently"


def test_settings_defaults_and_merge():
    task = Classification({"augment": {"hflip": True}, "checkpoint": Path("m.pt")})
    assert task.settings["augment"] == {"hflip": True, "pad_crop": 2}  # nested settings merge key by key
    assert task.settings["checkpoint"] == "m.pt"  # stored as a string: settings go into checkpoints
    assert Classification({}).settings == {
        **Classification.default_settings,
        "augment": {"hflip": False, "pad_crop": 2},
    }
    assert Classification.default_settings["augment"]["hflip"] is False  # merging never edits the defaults


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"model": "vgg16"}, r"'model' is 'vgg16'; known models: small_cnn, resnet18"),
        ({"epochs": 0}, r"'epochs' must be an integer >= 1, got 0"),
        ({"epochs": 2.5}, r"'epochs' must be an integer"),
        ({"batch_size": True}, r"'batch_size' must be an integer"),
        ({"learning_rate": 0}, r"'learning_rate' must be a positive number"),
        ({"pretrained": "yes"}, r"'pretrained' must be true or false"),
        ({"augment": {"pad_crop": -1}}, r"'augment.pad_crop' must be an integer >= 0"),
        ({"augment": {"vflip": True}}, r"unknown setting 'augment.vflip'"),
        ({"augment": True}, r"setting 'augment' must be a mapping"),
        ({"epoch": 3}, r"unknown setting 'epoch' \(known: augment, batch_size, checkpoint, epochs"),
        ({"model": "resnet18", "image_px": 16}, r"'image_px' must be at least 32 for resnet18"),
    ],
)
def test_bad_settings_name_the_key(settings, message):
    with pytest.raises(ValueError, match=message):
        Classification(settings)


# --- training ---


def test_batches_never_leave_a_batch_of_one():
    assert [len(b) for b in _batches(np.arange(33), 16)] == [16, 17]  # batch norm cannot train on one image
    assert [len(b) for b in _batches(np.arange(34), 16)] == [16, 16, 2]
    assert np.concatenate(_batches(np.arange(33), 16)).tolist() == list(range(33))


def test_augmentation_flips_and_crops_from_the_generator():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4) + 1  # no zeros: padding shows
    flipped = _augment(x, np.random.default_rng(0), hflip=True, pad=0)
    for original, out in zip(x, flipped, strict=True):
        assert torch.equal(out, original) or torch.equal(out, original.flip(2))
    many = _augment(x.repeat(16, 1, 1, 1), np.random.default_rng(0), hflip=True, pad=0)
    assert {torch.equal(out, x[0]) for out in many[::2]} == {True, False}  # both happen

    cropped = _augment(x, np.random.default_rng(1), hflip=False, pad=1)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i, out in enumerate(cropped):  # every output is some 4x4 window of the zero-padded image
        windows = [padded[i, :, dy : dy + 4, dx : dx + 4] for dy in range(3) for dx in range(3)]
        assert any(torch.equal(out, w) for w in windows)
    assert torch.equal(
        cropped, _augment(x, np.random.default_rng(1), hflip=False, pad=1)
    )  # same seed, same crops---------------------------------------------------------------------------------------------------


def test_training_is_reproducible(trained):
    (first, info), (second, _) = trained(seed=0), trained(seed=0, run=1)
    assert (first / "checkpoint.pt").read_bytes() == (second / "checkpoint.pt").read_bytes()
    a, b = (torch.load(f / "checkpoint.pt", weights_only=True)["state_dict"] for f in (first, second))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    csv_a, csv_b = (pd.read_csv(f / "train.csv") for f in (first, second))
    assert list(csv_a.columns) == ["epoch", "loss", "train_accuracy", "images_per_s"]
    assert csv_a["epoch"].tolist() == [1, 2]  # one row per epoch
    # images_per_s is wall-clock; everything else repeats exactly
    pd.testing.assert_frame_equal(csv_a.drop(columns="images_per_s"), csv_b.drop(columns="images_per_s"))
    assert (csv_a["images_per_s"] > 0).all()
    assert info["device"] == "cpu" and info["pretrained_used"] is False and info["num_images"] == N_TRAIN


def test_another_seed_differs(trained):
    a, b = (torch.load(trained(seed=s)[0] / "checkpoint.pt", weights_only=True)["state_dict"] for s in (0, 1))
    assert not torch.equal(a["0.weight"], b["0.weight"])


def test_training_leaves_the_callers_random_state_alone(digits, tmp_path):
    images, annotations = digits
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    Classification({"epochs": 1, "seed": 7}).train(
        images[:40], annotations.iloc[:40], tmp_path, device="cpu", log=_quiet
    )
    Classification({}).load(tmp_path / "checkpoint.pt", device="cpu")  # building the network draws random weights
    assert torch.equal(torch.rand(3), expected)


def test_training_info(trained, digits):
    images, _ = digits
    folder, info = trained(seed=0)
    digest = hashlib.sha256()
    for image in images[:N_TRAIN]:
        digest.update(image.tobytes())
    assert info["images_sha256"] == digest.hexdigest()
    assert info["classes"] == [str(d) for d in range(10)]
    assert info["settings"]["epochs"] == 2 and info["model"] == "small_cnn"
    assert info["images_per_s"] > 0 and info["train_seconds"] > 0
    payload = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert payload["format"] == "codecbench-classifier/1"
    assert payload["model"] == "small_cnn" and payload["classes"] == info["classes"] and payload["image_px"] == 32
    assert payload["mean"] == [0.5] * 3 and payload["std"] == [0.5] * 3
    # batch-norm statistics were recomputed in one final pass over the 200 images (13 batches of 16, the last 8)
    assert payload["state_dict"]["1.num_batches_tracked"].item() == 13
    # the checkpoint keeps the info less wall-clock timings, so that its bytes repeat
    assert payload["training"] == {k: v for k, v in info.items() if k not in ("images_per_s", "train_seconds")}


def test_training_learns(trained, digits):
    # Verified here: 0.97 after 5 epochs of 16-image batches (chance: 0.1); 0.8 leaves room for other CPUs' maths.
    images, annotations = digits
    folder, _ = trained(seed=0, epochs=5)
    task = Classification({})
    task.load(folder / "checkpoint.pt", device="cpu")
    _, metrics = task.score(task.predict(images[:N_TRAIN], annotations["image_id"][:N_TRAIN].tolist()), annotations)
    assert metrics["accuracy"] > 0.8
    losses = pd.read_csv(folder / "train.csv")["loss"]
    assert losses.iloc[-1] < losses.iloc[0]


def test_training_refuses_to_overwrite(trained, digits):
    images, annotations = digits
    folder, _ = trained(seed=0)
    before = (folder / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="checkpoint.pt already exists"):
        Classification({"epochs": 1}).train(images[:20], annotations.iloc[:20], folder, device="cpu", log=_quiet)
    assert (folder / "checkpoint.pt").read_bytes() == before


def test_training_input_checks(digits, tmp_path):
    images, annotations = digits
    task = Classification({"epochs": 1})
    with pytest.raises(ValueError, match="20 training images but 19 annotation rows"):
        task.train(images[:20], annotations.iloc[:19], tmp_path, log=_quiet)
    with pytest.raises(ValueError, match="at least two classes"):
        task.train(images[:3], annotations.iloc[[0, 10, 20]], tmp_path, log=_quiet)  # all three are zeros
    with pytest.raises(ValueError, match=r"training image 1 \(digit0001\): expected a uint8 HxWx3"):
        task.train([images[0], images[1][..., 0]], annotations.iloc[:2], tmp_path, log=_quiet)
    with pytest.raises(ValueError, match="call load"):
        Classification({"checkpoint": "own.pt"}).train(images[:2], annotations.iloc[:2], tmp_path, log=_quiet)
    assert not (tmp_path / "checkpoint.pt").exists()


# --- load, predict, score ------------------------------------------------------------------------------------------


def test_load_predict_score_round_trip(trained, digits):
    images, annotations = digits
    folder, info = trained(seed=0)
    held_out = slice(N_TRAIN, N_TRAIN + 50)
    ids = annotations["image_id"][held_out].tolist()
    task = Classification({})
    assert task.device is None
    task.load(folder / "checkpoint.pt", device="cpu")
    assert task.device == "cpu"
    predictions = task.predict(images[held_out], ids)
    assert list(predictions.columns) == ["image_id", "predicted", "confidence"]
    assert predictions["image_id"].tolist() == ids
    assert set(predictions["predicted"]) <= set(info["classes"])  # a 10-class model answers among its classes
    assert predictions["confidence"].between(0.1, 1.0).all()  # a softmax maximum over 10 classes is >= 1/10

    # A larger image is resized to the model's 32 px; the same pixels in the same order predict the same.
    again = task.predict([np.repeat(np.repeat(images[N_TRAIN], 2, 0), 2, 1), images[N_TRAIN + 1]], ["big", "same"])
    assert again["predicted"].iloc[1] == predictions["predicted"].iloc[1]
    assert again["confidence"].iloc[1] == pytest.approx(predictions["confidence"].iloc[1], rel=1e-5)

    table, metrics = task.score(predictions, annotations)  # the whole manifest: unpredicted rows are ignored
    assert list(table.columns) == ["image_id", "label", "predicted", "confidence", "correct"]
    assert table["label"].tolist() == annotations["label"][held_out].astype(str).tolist()
    assert table["correct"].tolist() == (table["label"] == table["predicted"]).tolist()
    assert metrics["n"] == 50 and metrics["classes"] == info["classes"]
    assert metrics["accuracy"] == pytest.approx(table["correct"].mean())
    assert sum(map(sum, metrics["confusion"])) == 50


def test_predictions_of_the_trained_task_match_the_loaded_checkpoint(digits, tmp_path):
    images, annotations = digits
    trainer = Classification({"epochs": 1})
    trainer.train(images[:64], annotations.iloc[:64], tmp_path, device="cpu", log=_quiet)
    assert trainer.device == "cpu"
    loader = Classification({})
    loader.load(tmp_path / "checkpoint.pt", device="cpu")
    ids = annotations["image_id"][300:310].tolist()
    pd.testing.assert_frame_equal(trainer.predict(images[300:310], ids), loader.predict(images[300:310], ids))


def test_score_checks(trained, digits):
    _, annotations = digits
    task = Classification({})
    predictions = pd.DataFrame({"image_id": ["digit0000", "nope"], "predicted": ["0", "1"], "confidence": [1, 1]})
    with pytest.raises(ValueError, match=r"1 predicted image\(s\) have no annotation, e.g. \['nope'\]"):
        task.score(predictions, annotations)
    with pytest.raises(ValueError, match="lack the column"):
        task.score(predictions.drop(columns="predicted"), annotations)


def test_load_errors_name_the_file(tmp_path):
    task = Classification({})
    missing = tmp_path / "missing.pt"
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        task.load(missing)
    foreign = tmp_path / "foreign.pt"
    torch.save({"conv.weight": torch.zeros(1)}, foreign)
    with pytest.raises(ValueError, match=r"foreign\.pt is not a codecbench-classifier/1 file"):
        task.load(foreign)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"junk\.pt cannot be read"):
        task.load(junk)
    with pytest.raises(RuntimeError, match="call train"):
        task.predict([np.zeros((8, 8, 3), np.uint8)], ["x"])


def test_load_a_users_own_checkpoint(tmp_path, digits):
    # weights trained elsewhere, wrapped in the documented layout with only the required keys
    images, _ = digits
    from codecbench.tasks.classification import _build_network

    torch.manual_seed(0)
    network, _, _ = _build_network("small_cnn", 3, pretrained=False)
    own = tmp_path / "own.pt"
    payload = {"format": "codecbench-classifier/1", "model": "small_cnn", "classes": ["cat", "dog", "fox"]}
    torch.save({**payload, "state_dict": network.state_dict()}, own)
    task = Classification({"checkpoint": str(own)})
    task.load(task.settings["checkpoint"], device="cpu")
    assert set(task.predict(images[:5], list("abcde"))["predicted"]) <= {"cat", "dog", "fox"}
    torch.save({**payload, "classes": ["cat", "dog"], "state_dict": network.state_dict()}, own)
    with pytest.raises(ValueError, match=r"own\.pt: its weights do not fit small_cnn with 2 classes"):
        task.load(own)


# --- torchvision models --------------------------------------------------------------------------------------------


def test_resnet18_trains_from_scratch_without_cached_weights(digits, tmp_path, monkeypatch):
    # Only when asked: with pretrained (the default) missing weights are downloaded (tests/unit/test_trust_learned.py).
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    images, annotations = digits
    lines: list[str] = []
    task = Classification({"model": "resnet18", "pretrained": False, "epochs": 1, "batch_size": 8})
    info = task.train(images[:8], annotations.iloc[:8], tmp_path / "run", device="cpu", log=lines.append)  # one step
    assert info["pretrained_used"] is False
    assert any("resnet18 trains from scratch (pretrained is false)" in line for line in lines)
    assert not (tmp_path / "empty-torch-home").exists()  # nothing was fetched
    payload = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert payload["state_dict"]["fc.weight"].shape == (len(info["classes"]), 512)
    assert payload["mean"] == pytest.approx([0.485, 0.456, 0.406])


def test_resnet18_starts_from_weights_in_the_hub_cache(digits, tmp_path, monkeypatch):
    # Stand-in "ImageNet" weights (a seeded random 1000-class resnet18) put where torch hub caches the real file.
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    _, cached = imagenet_weights_file("resnet18")
    torch.manual_seed(123)
    stand_in = torchvision.models.resnet18(weights=None).state_dict()
    cached.parent.mkdir(parents=True)
    torch.save(stand_in, cached)
    images, annotations = digits
    lines: list[str] = []
    # Adam moves every weight by about the learning rate per step: 1e-7 keeps them recognisably the cached ones.
    task = Classification({"model": "resnet18", "epochs": 1, "batch_size": 8, "learning_rate": 1e-7})
    info = task.train(images[:8], annotations.iloc[:8], tmp_path / "run", device="cpu", log=lines.append)
    assert info["pretrained_used"] is True
    assert any(f"starts from ImageNet weights ({cached})" in line for line in lines)
    trained_weights = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["state_dict"]
    torch.testing.assert_close(trained_weights["conv1.weight"], stand_in["conv1.weight"], atol=1e-5, rtol=0)
    assert trained_weights["fc.weight"].shape[0] == len(info["classes"])  # the 1000-class head was replaced
