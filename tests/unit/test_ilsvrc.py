"""The ilsvrc2012_val source on small archives laid out like ImageNet's official ones: labels from the devkit's
ground truth through its meta.mat, max_images, checksums and the errors that name the culprit."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
from dataset_builders import add_tar_member, make_ilsvrc_devkit, make_ilsvrc_images, sha256_of
from PIL import Image

from codecbench.datasets import DatasetError, prepare_dataset

GROUND_TRUTH = [3, 1, 2, 3]  # image k's class id on line k; ids 1-3 are leaves of make_ilsvrc_devkit's synsets


def make_devkit(path, ground_truth=GROUND_TRUTH):
    return make_ilsvrc_devkit(path, ground_truth)


def make_images(path, count=4):
    # out of order in the tar: the source sorts by number; image k is drawn with red 40 k
    images = [np.full((8, 12, 3), (40 * number, 90, 30), np.uint8) for number in range(1, count + 1)]
    return make_ilsvrc_images(path, images)


@pytest.fixture
def archives(tmp_path):
    images, devkit = make_images(tmp_path / "val.tar"), make_devkit(tmp_path / "devkit.tar.gz")
    return {
        "source": "ilsvrc2012_val",
        "path": str(images),
        "sha256": sha256_of(images),
        "devkit": str(devkit),
        "devkit_sha256": sha256_of(devkit),
    }


def test_images_are_labelled_with_the_wordnet_ids_of_their_ground_truth(tmp_path, archives):
    manifest = prepare_dataset("val", archives, tmp_path / "out", tmp_path / "dl")
    assert manifest.image_id.tolist() == [f"ILSVRC2012_val_{k:08d}" for k in (1, 2, 3, 4)]
    assert manifest.label.tolist() == ["n01484850", "n01440764", "n01443537", "n01484850"]
    assert set(manifest.split) == {"test"}
    decoded = np.asarray(Image.open(tmp_path / "out" / "images" / "ILSVRC2012_val_00000002.png"))
    assert abs(int(decoded[..., 0].mean()) - 80) <= 3  # image 2 is the one drawn with red 80


def test_max_images_keeps_the_first_ids(tmp_path, archives):
    manifest = prepare_dataset("val", {**archives, "max_images": 2}, tmp_path / "out", tmp_path / "dl")
    assert manifest.image_id.tolist() == ["ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002"]


def test_a_wrong_sha256_names_the_file_and_the_key(tmp_path, archives):
    with pytest.raises(DatasetError, match=r"devkit\.tar\.gz does not match datasets\.val\.devkit_sha256"):
        prepare_dataset("val", {**archives, "devkit_sha256": "0" * 64}, tmp_path / "out", tmp_path / "dl")


def test_without_a_sha256_the_published_md5_is_checked(tmp_path, archives):
    entry = {key: value for key, value in archives.items() if key != "sha256"}
    with pytest.raises(DatasetError, match=r"val\.tar does not match the official file's MD5 \(29b22e29"):
        prepare_dataset("val", entry, tmp_path / "out", tmp_path / "dl")


def test_archives_that_do_not_belong_together_are_refused(tmp_path, archives):
    devkit = make_devkit(tmp_path / "short.tar.gz", GROUND_TRUTH[:3])
    entry = {**archives, "devkit": str(devkit), "devkit_sha256": sha256_of(devkit)}
    with pytest.raises(DatasetError, match=r"ILSVRC2012_val_00000004\.JPEG .* has no ground truth.*3 lines"):
        prepare_dataset("val", entry, tmp_path / "out", tmp_path / "dl")


def test_a_ground_truth_id_outside_the_classes_names_its_line(tmp_path, archives):
    devkit = make_devkit(tmp_path / "bad.tar.gz", [3, 1, 1001, 3])
    entry = {**archives, "devkit": str(devkit), "devkit_sha256": sha256_of(devkit)}
    with pytest.raises(DatasetError, match=r"line 3: '1001' is not a class id"):
        prepare_dataset("val", entry, tmp_path / "out", tmp_path / "dl")


def test_an_archive_of_other_images_is_named(tmp_path, archives):
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        add_tar_member(tar, "cat.jpg", b"x")
    entry = {**archives, "path": str(other), "sha256": sha256_of(other)}
    with pytest.raises(DatasetError, match=r"other\.tar holds no ILSVRC2012_val_<8 digits>\.JPEG"):
        prepare_dataset("val", entry, tmp_path / "out", tmp_path / "dl")


def test_the_published_md5s_are_image_net_orgs():
    # As image-net.org lists them beside the downloads (ILSVRC2012: validation images, development kit).
    from codecbench.datasets.ilsvrc import published_md5

    assert published_md5("val") == "29b22e2961454d5413ddabcf34fc5622"
    assert published_md5("devkit") == "fa75699e90414af021442c21a62c3abf"
