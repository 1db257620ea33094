"""Dataset normalisation rules, local folders, built-in photos and verified downloads from a local server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.datasets import BUILTIN_DATASETS, DatasetError, prepare_dataset, read_manifest
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


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www over HTTP on 127.0.0.1; yield (base url, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
