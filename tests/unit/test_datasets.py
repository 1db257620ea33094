"""Dataset normalisation rules, local folders, built-in sets, verified downloads from a local server and labelled
datasets with train/test splits (digits, CIFAR-10, class folders)."""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from dataset_builders import sha256_of
from PIL import Image

from codecbench.datasets import (
    BUILTIN_DATASETS,
    MANIFEST_COLUMNS,
    DatasetError,
    prepare_dataset,
    read_manifest,
    read_split,
)
from codecbench.datasets.download import DownloadError, fetch
from codecbench.datasets.normalize import ImageFileError, load_normalized


def save(path: Path, image: Image.Image, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


# ---- normalisation rules -----------------------------------------------------------------------------------


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    array, mode = load_normalized(save(tmp_path / "g.png", Image.fromarray(gray, "L")))
    assert mode == "L" and array.shape == (6, 8, 3)
    assert all(np.array_equal(array[..., c], gray) for c in range(3))


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red ...
    rgba[..., 3] = 102  # ... at alpha 0.4: 0.4*255 + 0.6*255 = 255 red, 0.6*255 = 153 green and blue
    array, mode = load_normalized(save(tmp_path / "a.png", Image.fromarray(rgba, "RGBA")))
    assert mode == "RGBA"
    assert np.array_equal(array[0, 0], [255, 153, 153])


def test_palette_with_transparency_uses_its_colours_and_white(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 255, 10, 20, 30] + [0] * 762)
    im.putpixel((0, 0), 0)
    im.putpixel((1, 0), 1)
    array, mode = load_normalized(save(tmp_path / "p.png", im, transparency=0))
    assert mode == "P"
    assert array[0, 0].tolist() == [255, 255, 255] and array[0, 1].tolist() == [10, 20, 30]


def test_cmyk_without_profile_uses_the_naive_conversion(tmp_path):
    im = Image.new("CMYK", (3, 2), (0, 255, 255, 0))  # full magenta + yellow = red
    array, mode = load_normalized(save(tmp_path / "c.jpg", im, quality=100))
    assert mode == "CMYK"
    assert np.abs(array.astype(int) - [255, 0, 0]).max() <= 2


def test_16bit_grayscale_keeps_the_high_byte(tmp_path):
    values = np.array([[0x1234, 0xFFFF], [0x00FF, 0x8000]], dtype=np.uint16)
    array, mode = load_normalized(save(tmp_path / "g16.png", Image.fromarray(values)))
    assert mode.startswith("I")
    assert array[..., 0].tolist() == [[0x12, 0xFF], [0x00, 0x80]]


def test_16bit_rgb_keeps_the_high_byte(tmp_path):
    imagecodecs = pytest.importorskip("imagecodecs")
    values = np.array([[[0x1234, 0xABCD, 0x00FF]]], dtype=np.uint16)
    (tmp_path / "rgb16.png").write_bytes(imagecodecs.png_encode(values))
    array, _ = load_normalized(tmp_path / "rgb16.png")
    assert array[0, 0].tolist() == [0x12, 0xAB, 0x00]


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((2, 3, 3), np.uint8)
    pixels[0, 0] = 255  # white top-left corner in the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    array, _ = load_normalized(save(tmp_path / "r.png", Image.fromarray(pixels), exif=exif))
    assert array.shape == (3, 2, 3)
    assert array[0, 1].tolist() == [255, 255, 255]


def test_truncated_file_is_rejected_with_its_name(tmp_path, photo):
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=90)
    path = tmp_path / "broken.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageFileError, match=r"broken\.jpg.*truncated"):
        load_normalized(path)


def test_not_an_image_is_rejected_with_its_name(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ImageFileError, match=r"notes\.png"):
        load_normalized(path)


def test_float_images_are_rejected(tmp_path):
    path = save(tmp_path / "f.tif", Image.fromarray(np.ones((3, 3), np.float32), "F"))
    with pytest.raises(ImageFileError, match=r"f\.tif.*unsupported image mode F"):
        load_normalized(path)


# ---- local folders and built-in sets ------------------------------------------------------------------------


def make_folder(root: Path, photo: np.ndarray) -> Path:
    (root / "sub dir").mkdir(parents=True)
    (root / ".hidden").mkdir()
    Image.fromarray(photo[:64, :80]).save(root / "a.png")
    Image.fromarray(photo[:50, :70]).convert("L").save(root / "sub dir" / "b.jpg", quality=95)
    Image.fromarray(photo[:10, :10]).save(root / ".hidden" / "c.png")
    (root / "README.txt").write_text("ignored")
    return root


def test_local_folder_is_normalised_with_a_manifest(tmp_path, photo):
    folder = make_folder(tmp_path / "in", photo)
    manifest = prepare_dataset("mine", {"source": "local", "path": str(folder)}, tmp_path / "out", tmp_path / "dl")
    assert manifest.image_id.tolist() == ["a", "sub_dir__b"]
    assert manifest[["width", "height"]].values.tolist() == [[80, 64], [70, 50]]
    assert manifest.source_mode.tolist() == ["RGB", "L"]
    assert manifest.source_sha256[0] == hashlib.sha256((folder / "a.png").read_bytes()).hexdigest()
    stored = np.asarray(Image.open(tmp_path / "out" / "images" / "a.png"))
    assert np.array_equal(stored, photo[:64, :80])
    assert read_manifest(tmp_path / "out" / "manifest.csv").equals(manifest)


def test_max_images_takes_the_first_ids(tmp_path, photo):
    folder = make_folder(tmp_path / "in", photo)
    cfg = {"source": "local", "path": str(folder), "max_images": 1}
    assert prepare_dataset("mine", cfg, tmp_path / "out", tmp_path / "dl").image_id.tolist() == ["a"]


def test_colliding_ids_are_an_error(tmp_path, photo):
    Image.fromarray(photo[:8, :8]).save(tmp_path / "x.png")
    Image.fromarray(photo[:8, :8]).save(tmp_path / "x.jpg")
    with pytest.raises(DatasetError, match=r"x\.jpg.*x\.png|x\.png.*x\.jpg"):
        prepare_dataset("d", {"source": "local", "path": str(tmp_path)}, tmp_path / "out", tmp_path / "dl")


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        prepare_dataset("d", {"source": "local", "path": str(tmp_path / "empty")}, tmp_path / "out", tmp_path / "dl")


def test_builtin_photos_are_at_least_eight_real_rgb_photographs():
    images = list(BUILTIN_DATASETS["photos"]())
    assert len(images) >= 8
    assert len({image_id for image_id, _, _ in images}) == len(images)
    for _, image, _ in images:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= 256 and image.std() > 20  # real content, big enough for MS-SSIM


# ---- downloads from a server on 127.0.0.1 -------------------------------------------------------------------


def make_archives(www: Path, photo: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(photo[:40, :60]).save(buffer, "PNG")
    with zipfile.ZipFile(www / "set.zip", "w") as archive:
        archive.writestr("set/one.png", buffer.getvalue())
        archive.writestr("set/two.png", buffer.getvalue())
    with tarfile.open(www / "set.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("images/one.png")
        info.size = len(buffer.getvalue())
        archive.addfile(info, io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize(
    ("name", "subdir", "expected"), [("set.zip", "set", ["one", "two"]), ("set.tar.gz", None, ["images__one"])]
)
def test_url_dataset_downloads_verifies_and_unpacks(server, tmp_path, photo, name, subdir, expected):
    base, www = server
    make_archives(www, photo)
    cfg = {"source": "url", "url": f"{base}/{name}", "sha256": sha256_of(www / name)}
    if subdir:
        cfg["subdir"] = subdir
    manifest = prepare_dataset("remote", cfg, tmp_path / "out", tmp_path / "dl")
    assert manifest.image_id.tolist() == expected
    # A second preparation uses the cache: the server may be gone.
    (www / name).unlink()
    assert prepare_dataset("remote", cfg, tmp_path / "out2", tmp_path / "dl").image_id.tolist() == expected


def test_per_file_downloads_check_each_file(server, tmp_path, photo):
    base, www = server
    (www / "set").mkdir()
    Image.fromarray(photo[:30, :40]).save(www / "set" / "b one.png")
    Image.fromarray(photo[10:50, :40]).save(www / "set" / "a.png")
    files = {name: sha256_of(www / "set" / name) for name in ("b one.png", "a.png")}
    cfg = {"source": "url", "base_url": f"{base}/set", "files": files}
    manifest = prepare_dataset("kodakish", cfg, tmp_path / "out", tmp_path / "dl")
    assert manifest.image_id.tolist() == ["a", "b_one"]
    assert manifest.source_sha256.tolist() == [files["a.png"], files["b one.png"]]
    assert manifest[["width", "height"]].values.tolist() == [[40, 40], [40, 30]]
    # Each file is cached under its own checksum: a rerun needs no server.
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(files.values())
    shutil.rmtree(www / "set")
    assert prepare_dataset("kodakish", cfg, tmp_path / "out2", tmp_path / "dl").image_id.tolist() == ["a", "b_one"]


def test_per_file_checksum_mismatch_names_the_file_and_keeps_the_good_ones(server, tmp_path, photo):
    base, www = server
    Image.fromarray(photo[:30, :40]).save(www / "good.png")
    Image.fromarray(photo[:20, :40]).save(www / "bad.png")
    cfg = {"source": "url", "base_url": base, "files": {"good.png": sha256_of(www / "good.png"), "bad.png": "0" * 64}}
    with pytest.raises(DownloadError, match=r"sha256 mismatch for http://127\.0\.0\.1:\d+/bad\.png"):
        prepare_dataset("web", cfg, tmp_path / "out", tmp_path / "dl")
    assert not (tmp_path / "out" / "manifest.csv").exists()
    assert [p.name for p in (tmp_path / "dl").iterdir()] == [sha256_of(www / "good.png")]


@pytest.mark.parametrize("name", ["../escape.png", "notes.txt"])
def test_per_file_names_must_be_relative_images(tmp_path, name):
    cfg = {"source": "url", "base_url": "http://127.0.0.1:9/", "files": {name: "0" * 64}}
    with pytest.raises(DatasetError, match=rf"files entry '{re.escape(name)}' must be a relative image file name"):
        prepare_dataset("web", cfg, tmp_path / "out", tmp_path / "dl")


def test_single_image_url(server, tmp_path, photo):
    base, www = server
    Image.fromarray(photo).save(www / "pic.png")
    folder = fetch(f"{base}/pic.png", sha256_of(www / "pic.png"), tmp_path / "dl")
    assert [p.name for p in folder.iterdir()] == ["pic.png"]


def test_checksum_mismatch_fails_and_caches_nothing(server, tmp_path, photo):
    base, www = server
    make_archives(www, photo)
    with pytest.raises(DownloadError, match=r"sha256 mismatch for .*set\.zip.*discarded"):
        fetch(f"{base}/set.zip", "0" * 64, tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []


def test_http_error_fails_and_caches_nothing(server, tmp_path):
    base, _ = server
    with pytest.raises(DownloadError, match=r"missing\.zip failed: HTTP 404"):
        fetch(f"{base}/missing.zip", "0" * 64, tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []


def test_unreachable_server_names_the_url(tmp_path):
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1:9/x\.zip failed"):
        fetch("http://127.0.0.1:9/x.zip", "0" * 64, tmp_path / "dl", timeout_s=5)


def test_archive_escaping_its_folder_is_refused(server, tmp_path):
    base, www = server
    with zipfile.ZipFile(www / "evil.zip", "w") as archive:
        archive.writestr("../escape.png", b"x")
    with pytest.raises(DownloadError, match="unsafe path"):
        fetch(f"{base}/evil.zip", sha256_of(www / "evil.zip"), tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == [] and not (tmp_path / "escape.png").exists()


# ---- manifests: split and label columns --------------------------------------------------------------------


def test_manifest_label_is_empty_and_split_test_for_unlabelled_photos(tmp_path):
    manifest = prepare_dataset("photos", {"source": "builtin", "max_images": 2}, tmp_path / "out", tmp_path / "dl")
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest.columns[4:6]) == ["split", "label"]
    stored = read_manifest(tmp_path / "out" / "manifest.csv")
    assert stored.label.tolist() == ["", ""] and stored.split.tolist() == ["test", "test"]
    assert stored.equals(manifest)
    assert len(read_manifest(tmp_path / "out" / "manifest.csv", split="train")) == 0
    with pytest.raises(ValueError, match="split must be one of"):
        read_manifest(tmp_path / "out" / "manifest.csv", split="val")
    # Jobs that need a split (compression, task training) read it with read_split, which refuses an empty one.
    assert read_split(tmp_path / "out" / "manifest.csv", "test").image_id.tolist() == stored.image_id.tolist()
    with pytest.raises(ValueError, match=r"manifest\.csv has no 'train' images \(splits present: \['test'\]\)"):
        read_split(tmp_path / "out" / "manifest.csv", "train")


# ---- built-in digits ----------------------------------------------------------------------------------------


def sklearn_digits_split() -> tuple[np.ndarray, np.ndarray, set[int]]:
    """load_digits' images and targets, and its test indices, computed with scikit-learn directly."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    _, test = train_test_split(np.arange(len(data.target)), test_size=0.2, random_state=0, stratify=data.target)
    return data.images, data.target, set(test.tolist())


def bilinear_with_clamped_edges(gray: np.ndarray, side: int) -> np.ndarray:
    """Half-pixel-centred bilinear enlargement with edge pixels repeated, in floating point."""
    n = gray.shape[0]
    position = np.clip((np.arange(side) + 0.5) * n / side - 0.5, 0, n - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, n - 1)
    weight = position - low
    rows = gray[low] * (1 - weight)[:, None] + gray[high] * weight[:, None]
    return rows[:, low] * (1 - weight)[None, :] + rows[:, high] * weight[None, :]


def test_builtin_digits_are_labelled_32px_rgb_with_a_fixed_stratified_split():
    images, targets, test = sklearn_digits_split()
    records = list(BUILTIN_DATASETS["digits"]())
    assert len(records) == 1797
    assert [r.image_id for r in records] == [f"d{i:04d}" for i in range(1797)]
    assert [r.label for r in records] == [str(t) for t in targets]
    assert {r.image_id for r in records if r.split == "test"} == {f"d{i:04d}" for i in test}
    assert sum(r.split == "test" for r in records) == 360 and sum(r.split == "train" for r in records) == 1437
    # Pinned as well, so a scikit-learn that drew another split would be noticed.
    assert sorted(test)[:8] == [21, 24, 28, 34, 35, 37, 39, 42]
    assert [r.split for r in BUILTIN_DATASETS["digits"]()] == [r.split for r in records]
    for record in records[:50]:
        assert record.image.dtype == np.uint8 and record.image.shape == (32, 32, 3)
        assert np.array_equal(record.image[..., 0], record.image[..., 1])
        assert np.array_equal(record.image[..., 0], record.image[..., 2])
    for index in (0, 7, 1796):
        gray = np.floor(images[index] * 255 / 16 + 0.5)
        assert np.abs(records[index].image[..., 0] - bilinear_with_clamped_edges(gray, 32)).max() <= 1


def test_digit_conversion_scales_rounds_and_enlarges_bilinearly():
    from codecbench.datasets.builtin import digit_image

    # Flat images stay flat: 16 -> 255, 8 -> 127.5 rounded to 128, 1 -> 15.9375 rounded to 16.
    for value, expected in [(16, 255), (8, 128), (1, 16), (0, 0)]:
        assert np.all(digit_image(np.full((8, 8), float(value))) == expected)
    dot = np.zeros((8, 8))
    dot[3, 3] = 16
    image = digit_image(dot)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    # Output pixel 13 samples input position 13.5 / 4 - 0.5 = 2.875: 0.875 of pixel 3; pixel 11 samples 2.375.
    assert image[13, 13].tolist() == [195] * 3  # 255 x 0.875 x 0.875 = 195.2
    assert image[11, 13].tolist() == [84] * 3  # 255 x 0.375 x 0.875 = 83.7
    assert image[8, 13].tolist() == [0] * 3 and image[13, 18].tolist() == [0] * 3  # beyond the filter's reach


def test_digits_max_images_takes_the_first_of_each_split(tmp_path):
    _, targets, test = sklearn_digits_split()
    manifest = prepare_dataset("digits", {"source": "builtin", "max_images": 3}, tmp_path / "out", tmp_path / "dl")
    first_train = [i for i in range(len(targets)) if i not in test][:3]
    first_test = sorted(test)[:3]
    assert manifest.image_id.tolist() == sorted(f"d{i:04d}" for i in first_train + first_test)
    assert manifest.label.tolist() == [str(targets[int(i[1:])]) for i in manifest.image_id]
    assert sorted(manifest.split) == ["test"] * 3 + ["train"] * 3
    assert read_manifest(tmp_path / "out" / "manifest.csv", split="test").image_id.tolist() == [
        f"d{i:04d}" for i in first_test
    ]


# ---- CIFAR-10 (an archive in the official format, served on 127.0.0.1) --------------------------------------

CIFAR_CLASSES = [b"cat", b"dog", b"frog"]


def cifar_row(k: int) -> np.ndarray:
    """Image k as CIFAR stores it: R, G and B 32x32 planes one after another; pixel (2, 5) is (7, 8, 9)."""
    planes = np.empty((3, 32, 32), np.uint8)
    planes[0], planes[1], planes[2] = 10 + k, 100 + k, 200 + k
    planes[:, 2, 5] = [7, 8, 9]
    return planes.reshape(-1)


def cifar_pickle(path: Path, content: dict) -> None:
    path.write_bytes(pickle.dumps(content, protocol=2))  # the protocol of the official Python 2 pickles


def make_cifar_archive(www: Path, batches: dict[str, list[int]], name: str = "cifar.tar.gz", extra=None) -> Path:
    """A cifar-10-python.tar.gz look-alike: batches.meta plus a batch file per entry (its images' labels)."""
    folder = www / "build" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    cifar_pickle(folder / "batches.meta", {b"label_names": CIFAR_CLASSES, b"num_vis": 3072})
    k = 0
    for batch, labels in batches.items():
        rows = [cifar_row(k + i) for i in range(len(labels))]
        filenames = [f"{batch}_{k + i}.png".encode() for i in range(len(labels))]
        content = {b"batch_label": batch.encode(), b"data": np.stack(rows), b"labels": labels, b"filenames": filenames}
        cifar_pickle(folder / batch, {**content, **(extra or {})})
        k += len(labels)
    with tarfile.open(www / name, "w:gz") as archive:
        archive.add(folder, arcname="cifar-10-batches-py")
    shutil.rmtree(www / "build")
    return www / name


SMALL_CIFAR = {"data_batch_1": [0, 1, 2, 0, 1, 2], "data_batch_2": [2, 2, 1, 1, 0, 0], "test_batch": [1, 0, 2, 1]}


def test_cifar10_archive_gives_labelled_train_and_test_images(server, tmp_path):
    base, www = server
    archive = make_cifar_archive(www, SMALL_CIFAR)
    cfg = {"source": "cifar10", "url": f"{base}/{archive.name}", "sha256": sha256_of(archive)}
    manifest = prepare_dataset("cifar", cfg, tmp_path / "out", tmp_path / "dl")
    assert manifest.image_id.tolist() == [f"train__{i:05d}" for i in range(12)] + [f"test__{i:05d}" for i in range(4)]
    assert manifest.split.tolist() == ["train"] * 12 + ["test"] * 4
    names = ["cat", "dog", "frog"]
    labels = SMALL_CIFAR["data_batch_1"] + SMALL_CIFAR["data_batch_2"] + SMALL_CIFAR["test_batch"]
    assert manifest.label.tolist() == [names[i] for i in labels]
    assert manifest[["width", "height"]].drop_duplicates().values.tolist() == [[32, 32]]
    assert manifest.source[6] == "cifar-10-batches-py/data_batch_2 image 0 (data_batch_2_6.png)"
    for k, image_id in [(0, "train__00000"), (7, "train__00007"), (13, "test__00001")]:
        stored = np.asarray(Image.open(tmp_path / "out" / "images" / f"{image_id}.png"))
        assert stored.shape == (32, 32, 3)
        assert stored[0, 0].tolist() == [10 + k, 100 + k, 200 + k]
        assert stored[2, 5].tolist() == [7, 8, 9] and stored[5, 2].tolist() == [10 + k, 100 + k, 200 + k]
    test = read_manifest(tmp_path / "out" / "manifest.csv", split="test")
    assert test.image_id.tolist() == [f"test__{i:05d}" for i in range(4)] and test.label.tolist() == [
        "dog",
        "cat",
        "frog",
        "dog",
    ]
    # The verified archive is cached: a rerun needs no server.
    archive.unlink()
    assert prepare_dataset("cifar", cfg, tmp_path / "out2", tmp_path / "dl").equals(manifest)


def test_cifar10_max_images_takes_the_first_of_each_split(server, tmp_path):
    base, www = server
    archive = make_cifar_archive(www, SMALL_CIFAR)
    cfg = {"source": "cifar10", "url": f"{base}/{archive.name}", "sha256": sha256_of(archive), "max_images": 2}
    manifest = prepare_dataset("cifar", cfg, tmp_path / "out", tmp_path / "dl")
    assert manifest.image_id.tolist() == ["train__00000", "train__00001", "test__00000", "test__00001"]
    assert manifest.label.tolist() == ["cat", "dog", "dog", "cat"]
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == sorted(
        f"{i}.png" for i in manifest.image_id
    )


def test_cifar10_wrong_checksum_fails_and_caches_nothing(server, tmp_path):
    base, www = server
    archive = make_cifar_archive(www, SMALL_CIFAR)
    cfg = {"source": "cifar10", "url": f"{base}/{archive.name}", "sha256": "0" * 64}
    with pytest.raises(DownloadError, match=r"sha256 mismatch for .*cifar\.tar\.gz"):
        prepare_dataset("cifar", cfg, tmp_path / "out", tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_cifar10_missing_batch_names_the_dataset_and_file(server, tmp_path):
    base, www = server
    archive = make_cifar_archive(www, {"data_batch_1": [0, 1]})
    cfg = {"source": "cifar10", "url": f"{base}/{archive.name}", "sha256": sha256_of(archive)}
    with pytest.raises(DatasetError, match=r"dataset 'cifar': test_batch is missing from the CIFAR-10 download"):
        prepare_dataset("cifar", cfg, tmp_path / "out", tmp_path / "dl")


def test_cifar10_pickles_naming_other_classes_are_refused(server, tmp_path):
    import collections

    base, www = server
    archive = make_cifar_archive(www, SMALL_CIFAR, extra={b"extra": collections.OrderedDict()})
    cfg = {"source": "cifar10", "url": f"{base}/{archive.name}", "sha256": sha256_of(archive)}
    with pytest.raises(DatasetError, match=r"data_batch_1: refusing to load collections\.OrderedDict"):
        prepare_dataset("cifar", cfg, tmp_path / "out", tmp_path / "dl")


# ---- class folders ------------------------------------------------------------------------------------------


def make_class_folder(root: Path, counts: dict[str, int]) -> Path:
    """One sub-folder per class with ``counts[class]`` small distinct images; the last one of each is nested."""
    for c, (label, count) in enumerate(counts.items()):
        for i in range(count):
            folder = root / label / ("nested" if i == count - 1 else "")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((4, 6, 3), (c * 40, i * 10, 7), np.uint8)).save(folder / f"{label}{i:02d}.png")
    return root


def test_folder_with_train_and_test_uses_them(tmp_path):
    make_class_folder(tmp_path / "in" / "train", {"cat": 3, "dog": 2})
    make_class_folder(tmp_path / "in" / "test", {"cat": 1, "dog": 2})
    manifest = prepare_dataset("pets", {"source": "folder", "path": str(tmp_path / "in")}, tmp_path / "out", tmp_path)
    assert manifest.image_id.tolist() == [
        "test__cat__nested__cat00",
        "test__dog__dog00",
        "test__dog__nested__dog01",
        "train__cat__cat00",
        "train__cat__cat01",
        "train__cat__nested__cat02",
        "train__dog__dog00",
        "train__dog__nested__dog01",
    ]
    assert manifest.split.tolist() == ["test"] * 3 + ["train"] * 5
    assert manifest.label.tolist() == ["cat", "dog", "dog", "cat", "cat", "cat", "dog", "dog"]
    stored = np.asarray(Image.open(tmp_path / "out" / "images" / "train__cat__cat01.png"))
    assert stored.shape == (4, 6, 3) and stored[0, 0].tolist() == [0, 10, 7]


def seeded_split(tmp_path: Path, name: str, **options) -> dict[str, list[str]]:
    cfg = {"source": "folder", "path": str(tmp_path / "in"), **options}
    manifest = prepare_dataset("pets", cfg, tmp_path / name, tmp_path / "dl")
    assert (manifest.label == manifest.image_id.str.split("__").str[0]).all()
    return {split: sorted(rows.image_id) for split, rows in manifest.groupby("split")}


def test_folder_without_splits_is_split_per_class_by_seed(tmp_path):
    make_class_folder(tmp_path / "in", {"cat": 10, "dog": 5, "frog": 2})
    split = seeded_split(tmp_path, "a")
    # round(n x 0.2) per class, at least one: 2 of 10 cats, 1 of 5 dogs, 1 of 2 frogs.
    assert [sum(i.startswith(label) for i in split["test"]) for label in ("cat", "dog", "frog")] == [2, 1, 1]
    assert len(split["train"]) == 13
    assert seeded_split(tmp_path, "b") == split  # reproducible
    assert seeded_split(tmp_path, "c", seed=0, test_fraction=0.2) == split  # the defaults
    assert seeded_split(tmp_path, "d", seed=1) != split
    half = seeded_split(tmp_path, "e", test_fraction=0.5)
    assert [sum(i.startswith(label) for i in half["test"]) for label in ("cat", "dog", "frog")] == [5, 3, 1]


def test_folder_class_with_one_image_is_an_error(tmp_path):
    make_class_folder(tmp_path / "in", {"cat": 3, "dog": 1})
    with pytest.raises(DatasetError, match=r"class 'dog' in .*in/dog has only 1 image"):
        prepare_dataset("pets", {"source": "folder", "path": str(tmp_path / "in")}, tmp_path / "out", tmp_path)


def test_folder_empty_class_is_an_error(tmp_path):
    make_class_folder(tmp_path / "in", {"cat": 3})
    (tmp_path / "in" / "dog").mkdir()
    with pytest.raises(DatasetError, match=r"class 'dog' has no images in .*in/dog"):
        prepare_dataset("pets", {"source": "folder", "path": str(tmp_path / "in")}, tmp_path / "out", tmp_path)


def test_folder_train_and_test_classes_must_match(tmp_path):
    make_class_folder(tmp_path / "in" / "train", {"cat": 2, "dog": 2})
    make_class_folder(tmp_path / "in" / "test", {"cat": 2, "bird": 1})
    with pytest.raises(DatasetError, match=r"same classes \(only in .*in/train: dog; only in .*in/test: bird\)"):
        prepare_dataset("pets", {"source": "folder", "path": str(tmp_path / "in")}, tmp_path / "out", tmp_path)


def test_folder_corrupt_image_names_the_file(tmp_path):
    make_class_folder(tmp_path / "in", {"cat": 2, "dog": 2})
    (tmp_path / "in" / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ImageFileError, match=r"in/dog/broken\.png"):
        prepare_dataset("pets", {"source": "folder", "path": str(tmp_path / "in")}, tmp_path / "out", tmp_path)


def test_not_an_image_is_named_even_after_ultralytics_wraps_pillow(tmp_path):
    # ultralytics replaces Image.open with a wrapper that imports an optional HEIF plug-in on unknown files.
    pytest.importorskip("ultralytics.utils.patches")
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ImageFileError, match=r"notes\.png: cannot identify image file"):
        load_normalized(path)
