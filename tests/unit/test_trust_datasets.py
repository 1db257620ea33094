"""Datasets trust only what they checked: a url dataset's subdir stays inside its download; archives unpack (or are
read member by member) within size, member-count and ratio limits and refuse unsafe members; decompression-bomb
headers and multi-frame files fail naming the file and the setting; links in dataset folders are followed
consistently, loops and broken links are errors, and what was followed is recorded."""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from dataset_builders import coco_cfg, make_bsds, make_coco, make_mot17, mot_cfg, sha256_of
from PIL import Image

from codecbench.config.validate import ConfigError, validate_config
from codecbench.datasets import DatasetError, prepare_dataset
from codecbench.datasets.download import DownloadError, fetch
from codecbench.datasets.normalize import ImageFileError

BOMB_BYTES = 8 << 20  # zeros: deflate and gzip pack them about 1000:1


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def prepare(name: str, cfg: dict, tmp_path: Path, out: str = "out"):
    return prepare_dataset(name, cfg, tmp_path / out, tmp_path / "dl")


def url_cfg(base: str, archive: Path, **extra) -> dict:
    return {"source": "url", "url": f"{base}/{archive.name}", "sha256": sha256_of(archive), **extra}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


# ---- item 5: a url dataset's subdir stays inside its download -------------------------------------------------


@pytest.mark.parametrize("outside", ["relative", "absolute"])
def test_url_subdir_outside_the_download_is_refused(server, tmp_path, photo, outside):
    base, www = server
    archive = write_zip(www / "set.zip", {"set/one.png": png_bytes(photo[:20, :30])})
    (tmp_path / "private").mkdir()
    Image.fromarray(photo[:10, :10]).save(tmp_path / "private" / "secret.png")
    # The download is unpacked into tmp_path/dl/<sha256>/, so ../../private is tmp_path/private.
    subdir = "../../private" if outside == "relative" else str(tmp_path / "private")
    with pytest.raises(DatasetError) as failure:
        prepare("remote", url_cfg(base, archive, subdir=subdir), tmp_path)
    message = str(failure.value)
    assert f"dataset 'remote': subdir {subdir!r} leads outside the download from {base}/set.zip" in message
    assert "set datasets.remote.subdir to a folder inside the archive" in message
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_url_subdir_and_files_reached_by_links_must_stay_in_the_download(server, tmp_path, photo):
    base, www = server
    archive = write_zip(www / "set.zip", {"set/one.png": png_bytes(photo[:20, :30])})
    assert prepare("remote", url_cfg(base, archive, subdir="set"), tmp_path).image_id.tolist() == ["one"]
    (tmp_path / "private").mkdir()
    Image.fromarray(photo[:10, :10]).save(tmp_path / "private" / "secret.png")
    root = tmp_path / "dl" / sha256_of(archive)
    # A subdir that is a link leading out of the download (as a tampered cache could hold) is refused...
    (root / "elsewhere").symlink_to(tmp_path / "private")
    with pytest.raises(DatasetError, match=r"subdir 'elsewhere' leads outside the download"):
        prepare("remote", url_cfg(base, archive, subdir="elsewhere"), tmp_path, "out2")
    # ...and so is a linked file inside the subdir that leads out.
    (root / "set" / "two.png").symlink_to(tmp_path / "private" / "secret.png")
    with pytest.raises(DatasetError, match=r"dataset 'remote': \S+set/two\.png links to \S+secret\.png, outside"):
        prepare("remote", url_cfg(base, archive, subdir="set"), tmp_path, "out3")


# ---- item 6: archives unpack within limits and refuse unsafe members -----------------------------------------


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_decompression_bomb_archive_is_refused_naming_it(server, tmp_path, photo, kind):
    base, www = server
    members = {"set/one.png": png_bytes(photo[:20, :30]), "set/padding.bin": bytes(BOMB_BYTES)}
    archive = (write_zip if kind == "zip" else write_tar)(www / f"bomb.{kind}", members)
    assert archive.stat().st_size < BOMB_BYTES / 200
    with pytest.raises(DownloadError) as failure:
        prepare("remote", url_cfg(base, archive), tmp_path)
    message = str(failure.value)
    assert message.startswith(f"archive bomb.{kind} from {base}/bomb.{kind}: ")
    assert "above max_ratio 100" in message and "raise datasets.remote.archive_limits.max_ratio" in message
    assert list((tmp_path / "dl").iterdir()) == []  # nothing cached, no partial folder left


@pytest.mark.parametrize(
    ("limits", "problem"), [({"max_bytes": 1000}, "max_bytes 1,000"), ({"max_members": 1}, "max_members 1")]
)
def test_archive_size_and_member_limits_are_settings(server, tmp_path, photo, limits, problem):
    base, www = server
    image = png_bytes(photo[:40, :60])
    assert len(image) > 1000
    archive = write_tar(www / "set.tar.gz", {"set/one.png": image, "set/two.png": image})
    with pytest.raises(
        DownloadError, match=rf"archive set\.tar\.gz from {re.escape(base)}/set\.tar\.gz: .*above {problem}"
    ):
        prepare("remote", url_cfg(base, archive, archive_limits=limits), tmp_path)
    # The same archive within generous limits unpacks.
    manifest = prepare(
        "remote", url_cfg(base, archive, archive_limits={"max_bytes": 10**6, "max_members": 2}), tmp_path
    )
    assert manifest.image_id.tolist() == ["set__one", "set__two"]


@pytest.mark.parametrize(
    ("kind", "name"), [("tar", "/abs/one.png"), ("zip", "/abs/one.png"), ("zip", "..\\..\\one.png")]
)
def test_absolute_and_escaping_member_paths_are_refused(server, tmp_path, photo, kind, name):
    base, www = server
    members = {name: png_bytes(photo[:20, :30])}
    archive = (write_zip if kind == "zip" else write_tar)(www / f"evil.{kind}", members)
    url = f"{base}/{archive.name}"
    with pytest.raises(
        DownloadError,
        match=rf"^archive evil\.{kind} from {re.escape(url)} holds an unsafe path {re.escape(repr(name))}",
    ):
        fetch(url, sha256_of(archive), tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []


def test_zip_symbolic_link_members_are_refused(server, tmp_path, photo):
    base, www = server
    with zipfile.ZipFile(www / "links.zip", "w") as archive:
        archive.writestr("set/one.png", png_bytes(photo[:20, :30]))
        link = zipfile.ZipInfo("set/two.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    url = f"{base}/links.zip"
    with pytest.raises(
        DownloadError, match=rf"^archive links\.zip from {re.escape(url)} holds a symbolic link 'set/two\.png'"
    ):
        fetch(url, sha256_of(www / "links.zip"), tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []


def test_members_are_counted_while_they_are_written():
    """Declared sizes can lie: a member giving more than it declared, or an archive more than max_bytes in all, stops
    before the excess is written."""
    from codecbench.datasets.download import ArchiveBudget, ArchiveLimits

    where = "archive x.zip from http://host/x.zip"
    budget = ArchiveBudget(ArchiveLimits(), where, archive_bytes=100)
    out = io.BytesIO()
    with pytest.raises(
        DownloadError,
        match=r"^archive x\.zip from http://host/x\.zip: member 'm\.bin' unpacks to more than the 1,000 bytes it declares",
    ):
        budget.copy(io.BytesIO(b"x" * 5000), out, "m.bin", 1000)
    assert out.getvalue() == b""
    budget = ArchiveBudget(ArchiveLimits(max_bytes=3000, setting="datasets.d.archive_limits"), where, 10**6)
    assert budget.copy(io.BytesIO(b"a" * 2000), None, "a.bin", 2000) == b"a" * 2000
    with pytest.raises(
        DownloadError,
        match=r"it unpacks to 4,000 bytes or more, above max_bytes 3,000.*datasets\.d\.archive_limits\.max_bytes",
    ):
        budget.copy(io.BytesIO(b"b" * 2000), out, "b.bin", 2000)
    assert out.getvalue() == b""


def test_coco_archives_are_read_within_the_limits(server, tmp_path):
    base, www = server
    images, annotations = make_coco(www)
    with zipfile.ZipFile(images, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("val2017/padding.bin", bytes(BOMB_BYTES))
    cfg = coco_cfg(base, images, annotations)
    with pytest.raises(DownloadError) as failure:
        prepare("coco", cfg, tmp_path)
    message = str(failure.value)
    assert f"the COCO images archive {tmp_path / 'dl'}" in message and f"val2017.zip from {base}/val2017.zip" in message
    assert (
        "member 'val2017/padding.bin' unpacks" in message and "raise datasets.coco.archive_limits.max_ratio" in message
    )
    assert not (tmp_path / "out" / "manifest.csv").exists()


# ---- item 9: decompression-bomb headers and the max_pixels setting --------------------------------------------


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height pixels."""
    data = bytearray(png_bytes(np.zeros((4, 4, 3), np.uint8)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_a_decompression_bomb_header_names_the_file_its_size_and_the_setting(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "huge.png").write_bytes(png_declaring(20000, 20000))
    with pytest.raises(ImageFileError) as failure:
        prepare("big", {"source": "local", "path": str(tmp_path / "photos")}, tmp_path)
    message = str(failure.value)
    assert (
        f"cannot use image {tmp_path / 'photos' / 'huge.png'}: it declares 20000x20000 = 400,000,000 pixels" in message
    )
    assert "above max_pixels 178,956,970" in message and "raise datasets.big.max_pixels" in message


def test_max_pixels_is_a_dataset_setting(tmp_path, photo):
    (tmp_path / "photos").mkdir()
    Image.fromarray(photo[:40, :60]).save(tmp_path / "photos" / "one.png")
    cfg = {"source": "local", "path": str(tmp_path / "photos"), "max_pixels": 2399}
    with pytest.raises(ImageFileError, match=r"one\.png: it declares 60x40 = 2,400 pixels, above max_pixels 2,399"):
        prepare("small", cfg, tmp_path)
    assert prepare("small", {**cfg, "max_pixels": 2400}, tmp_path).image_id.tolist() == ["one"]


# ---- item 10: links in dataset folders, multi-frame files -----------------------------------------------------


def test_links_to_files_and_folders_are_followed_and_recorded(tmp_path, photo):
    root, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    (elsewhere / "more").mkdir(parents=True)
    root.mkdir()
    Image.fromarray(photo[:20, :30]).save(root / "a.png")
    Image.fromarray(photo[:30, :30]).save(elsewhere / "b.png")
    Image.fromarray(photo[:40, :30]).save(elsewhere / "more" / "c.png")
    (root / "b.png").symlink_to(elsewhere / "b.png")
    (root / "sub").symlink_to(elsewhere / "more")
    manifest = prepare("linked", {"source": "local", "path": str(root)}, tmp_path)
    assert manifest.image_id.tolist() == ["a", "b", "sub__c"]
    assert manifest.height.tolist() == [20, 30, 40]
    assert manifest.source.tolist() == [
        str(root / "a.png"),
        f"{root / 'b.png'} (link to {(elsewhere / 'b.png').resolve()})",
        f"{root / 'sub' / 'c.png'} (link to {(elsewhere / 'more' / 'c.png').resolve()})",
    ]


def test_class_folders_follow_linked_sub_folders(tmp_path, photo):
    root, elsewhere = tmp_path / "classes", tmp_path / "elsewhere"
    for folder in (root / "cat", root / "dog", elsewhere):
        folder.mkdir(parents=True)
    for index in range(2):
        Image.fromarray(photo[: 20 + index, :30]).save(root / "cat" / f"c{index}.png")
        Image.fromarray(photo[: 20 + index, :30]).save(elsewhere / f"d{index}.png")
    (root / "dog" / "linked").symlink_to(elsewhere)
    manifest = prepare("pets", {"source": "folder", "path": str(root)}, tmp_path)
    assert sorted(manifest.image_id) == ["cat__c0", "cat__c1", "dog__linked__d0", "dog__linked__d1"]


def test_a_link_loop_is_refused_naming_the_link(tmp_path, photo):
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(photo[:20, :30]).save(root / "sub" / "a.png")
    (root / "sub" / "again").symlink_to(root)
    with pytest.raises(DatasetError) as failure:
        prepare("loopy", {"source": "local", "path": str(root)}, tmp_path)
    assert (
        f"dataset 'loopy': {root / 'sub' / 'again'} links to {os.path.realpath(root)}, a folder it is itself in"
        in str(failure.value)
    )


def test_a_broken_link_is_refused_naming_it(tmp_path, photo):
    root = tmp_path / "photos"
    root.mkdir()
    Image.fromarray(photo[:20, :30]).save(root / "a.png")
    (root / "gone.png").symlink_to(tmp_path / "deleted.png")
    with pytest.raises(
        DatasetError,
        match=rf"dataset 'broken': {re.escape(str(root / 'gone.png'))} is a link to \S+deleted\.png, which does not exist",
    ):
        prepare("broken", {"source": "local", "path": str(root)}, tmp_path)


def multi_frame_folder(root: Path, photo: np.ndarray, names=("anim.gif", "pages.tif")) -> dict[str, np.ndarray]:
    """Of ``names``, an animated GIF of 3 frames and a TIFF of 2 pages; return each image id's first frame as RGB."""
    root.mkdir()
    frames = [Image.fromarray(photo[i * 10 : i * 10 + 20, :30]) for i in range(3)]
    gif = [frame.quantize(64) for frame in frames]
    first = {}
    if "anim.gif" in names:
        gif[0].save(root / "anim.gif", save_all=True, append_images=gif[1:], duration=100, loop=0)
        first["anim"] = np.asarray(gif[0].convert("RGB"))
    if "pages.tif" in names:
        frames[0].save(root / "pages.tif", save_all=True, append_images=frames[1:2])
        first["pages"] = np.asarray(frames[0])
    return first


@pytest.mark.parametrize(("name", "frames"), [("anim.gif", 3), ("pages.tif", 2)])
def test_multi_frame_files_are_refused_by_default_naming_their_frames(tmp_path, photo, name, frames):
    multi_frame_folder(tmp_path / "photos", photo, [name])
    with pytest.raises(ImageFileError) as failure:
        prepare("anim", {"source": "local", "path": str(tmp_path / "photos")}, tmp_path)
    message = str(failure.value)
    assert f"cannot use image {tmp_path / 'photos' / name}: it has {frames} frames" in message
    assert "set datasets.anim.multi_frame: first to take its first frame" in message


def test_multi_frame_first_takes_the_first_frame_and_records_it(tmp_path, photo):
    first = multi_frame_folder(tmp_path / "photos", photo)
    cfg = {"source": "local", "path": str(tmp_path / "photos"), "multi_frame": "first"}
    manifest = prepare("anim", cfg, tmp_path)
    assert manifest.image_id.tolist() == ["anim", "pages"]
    assert manifest.source_mode.tolist() == ["P, frame 1 of 3", "RGB, frame 1 of 2"]
    for image_id, expected in first.items():
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "images" / f"{image_id}.png")), expected)


def test_an_mpo_camera_jpeg_gives_its_primary_picture_and_says_so(tmp_path, photo):
    (tmp_path / "photos").mkdir()
    primary, preview = Image.fromarray(photo[:40, :60]), Image.fromarray(photo[:20, :30])
    primary.save(tmp_path / "photos" / "camera.jpg", "MPO", save_all=True, append_images=[preview], quality=95)
    manifest = prepare("camera", {"source": "local", "path": str(tmp_path / "photos")}, tmp_path)
    assert manifest.source_mode.tolist() == ["RGB, MPO picture 1 of 2"]
    assert manifest[["width", "height"]].values.tolist() == [[60, 40]]


# ---- the settings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"multi_frame": "all"}, r"dataset 'photos': multi_frame must be one of refuse, first, not 'all'"),
        ({"max_pixels": 0}, r"dataset 'photos': max_pixels must be an integer from 1, not 0"),
    ],
)
def test_bad_image_settings_are_errors_naming_them(tmp_path, photo, extra, message):
    (tmp_path / "photos").mkdir()
    Image.fromarray(photo[:20, :30]).save(tmp_path / "photos" / "a.png")
    with pytest.raises(DatasetError, match=message):
        prepare("photos", {"source": "local", "path": str(tmp_path / "photos"), **extra}, tmp_path)


def test_bad_archive_limits_are_errors_naming_them(tmp_path):
    cfg = {"source": "url", "url": "http://127.0.0.1:9/x.zip", "sha256": "0" * 64, "archive_limits": {"max_bytes": 0}}
    with pytest.raises(
        DatasetError, match=r"dataset 'web': datasets\.web\.archive_limits\.max_bytes must be an integer above 0, not 0"
    ):
        prepare("web", cfg, tmp_path)


def test_the_schema_documents_the_settings_with_the_code_defaults(project):
    from codecbench.datasets.download import ArchiveLimits
    from codecbench.datasets.normalize import DEFAULT_MAX_PIXELS

    entry = yaml.safe_load((project / "schemas" / "config.schema.yaml").read_text())["properties"]["datasets"]
    properties = entry["additionalProperties"]["properties"]
    limits = properties["archive_limits"]["properties"]
    defaults = ArchiveLimits()
    assert {key: limits[key]["default"] for key in limits} == {
        "max_bytes": defaults.max_bytes,
        "max_members": defaults.max_members,
        "max_ratio": defaults.max_ratio,
    }
    assert properties["max_pixels"]["default"] == DEFAULT_MAX_PIXELS
    assert properties["multi_frame"]["default"] == "refuse"
    good = {
        "datasets": {
            "web": {"source": "url", "url": "https://example.org/x.zip", "sha256": "0" * 64, "subdir": "x"},
        },
        "codecs": {"jpeg": {"qualities": [50]}},
    }
    good["datasets"]["web"].update(archive_limits={"max_ratio": 500}, max_pixels=10**9, multi_frame="first")
    assert validate_config(good)["datasets"]["web"]["multi_frame"] == "first"
    good["datasets"]["web"]["archive_limits"] = {"max_size": 1}
    with pytest.raises(ConfigError, match=r"datasets\.web\.archive_limits: .*'max_size' was unexpected"):
        validate_config(good)


# ---- MOT17, BSDS500 and video_folder: the same archive limits and image options ----------------------------------


def bsds_archive(www: Path, extra: dict[str, bytes] | None = None) -> Path:
    """The tiny BSDS-layout tgz of dataset_builders.make_bsds, with ``extra`` members added."""
    make_bsds(www)
    archive = www / "BSR_bsds500.tgz"
    if extra:
        with tarfile.open(archive) as source:
            members = {member.name: source.extractfile(member).read() for member in source if member.isfile()}
        write_tar(archive, {**members, **extra})
    return archive


def bsds_cfg(base: str, archive: Path, **extra) -> dict:
    return {"source": "bsds500", "url": f"{base}/{archive.name}", "sha256": sha256_of(archive), **extra}


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"max_members": 5}, "it has 6 members or more, above max_members 5"),
        ({"max_bytes": 2000}, "above max_bytes 2,000"),
    ],
)
def test_the_mot17_archive_is_read_within_the_limits(server, tmp_path, limits, problem):
    base, www = server
    archive = make_mot17(www)
    (key,) = limits
    with pytest.raises(DownloadError) as failure:
        prepare("mot", mot_cfg(base, archive, archive_limits=limits), tmp_path)
    message = str(failure.value)
    assert message.startswith(f"dataset 'mot': the MOT17 archive {tmp_path / 'dl'}")
    assert f"MOT17.zip from {base}/MOT17.zip: " in message
    assert problem in message and f"raise datasets.mot.archive_limits.{key}" in message
    assert not (tmp_path / "out" / "manifest.csv").exists()
    # A local copy is named by its path; within generous limits the same archive is read.
    local = {"source": "mot17", "path": str(archive), "archive_limits": limits}
    with pytest.raises(
        DownloadError, match=rf"^dataset 'mot': the MOT17 archive {re.escape(str(archive))}: .*{re.escape(problem)}"
    ):
        prepare("mot", local, tmp_path)
    manifest = prepare("mot", {**local, "archive_limits": {"max_members": 16, "max_bytes": 10**6}}, tmp_path)
    assert len(manifest) == 5


def test_a_mot17_archive_with_a_bomb_member_is_refused_naming_it(server, tmp_path):
    base, www = server
    archive = make_mot17(www)
    with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as members:  # a member MOT17 itself never reads
        members.writestr("MOT17/train/MOT17-02-FRCNN/padding.bin", bytes(BOMB_BYTES))
    with pytest.raises(DownloadError) as failure:
        prepare("mot", mot_cfg(base, archive), tmp_path)
    message = str(failure.value)
    assert message.startswith(f"dataset 'mot': the MOT17 archive {tmp_path / 'dl'}")
    assert "member 'MOT17/train/MOT17-02-FRCNN/padding.bin' unpacks" in message
    assert "above max_ratio 100" in message and "raise datasets.mot.archive_limits.max_ratio" in message
    assert not (tmp_path / "out" / "manifest.csv").exists()


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"max_members": 3}, "it has 4 members or more, above max_members 3"),
        ({"max_bytes": 1000}, "above max_bytes 1,000"),
    ],
)
def test_the_bsds500_archive_is_read_within_the_limits(server, tmp_path, limits, problem):
    base, www = server
    archive = bsds_archive(www)
    (key,) = limits
    with pytest.raises(DownloadError) as failure:
        prepare("bsds", bsds_cfg(base, archive, archive_limits=limits), tmp_path)
    message = str(failure.value)
    assert message.startswith(f"dataset 'bsds': the BSDS500 archive {tmp_path / 'dl'}")
    assert f"BSR_bsds500.tgz from {base}/BSR_bsds500.tgz: " in message
    assert problem in message and f"raise datasets.bsds.archive_limits.{key}" in message
    assert not (tmp_path / "out" / "manifest.csv").exists()
    cfg = bsds_cfg(base, archive, archive_limits={"max_members": 100, "max_bytes": 10**6})
    assert len(prepare("bsds", cfg, tmp_path)) == 5


def test_a_bsds500_archive_with_a_bomb_member_is_refused_naming_it(server, tmp_path):
    base, www = server
    archive = bsds_archive(www, {"BSR/bench/padding.bin": bytes(BOMB_BYTES)})  # a member BSDS500 never reads
    assert archive.stat().st_size < BOMB_BYTES / 200
    with pytest.raises(DownloadError) as failure:
        prepare("bsds", bsds_cfg(base, archive), tmp_path)
    message = str(failure.value)
    assert message.startswith(f"dataset 'bsds': the BSDS500 archive {tmp_path / 'dl'}")
    assert "above max_ratio 100" in message and "raise datasets.bsds.archive_limits.max_ratio" in message
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_mot17_and_bsds500_images_are_read_within_max_pixels(server, tmp_path):
    base, www = server
    mot = mot_cfg(base, make_mot17(www), max_pixels=1199)
    with pytest.raises(ImageFileError) as failure:
        prepare("mot", mot, tmp_path)
    message = str(failure.value)
    assert "cannot use image MOT17/train/MOT17-02-FRCNN/img1/000001.jpg in MOT17.zip: it declares 40x30" in message
    assert "above max_pixels 1,199" in message and "raise datasets.mot.max_pixels" in message
    assert len(prepare("mot", {**mot, "max_pixels": 1200}, tmp_path)) == 5
    bsds = bsds_cfg(base, bsds_archive(www), max_pixels=95)
    with pytest.raises(
        ImageFileError,
        match=r"BSR/BSDS500/data/images/\w+/\d+\.jpg in BSR_bsds500\.tgz: it declares \d+x\d+ = 96 pixels, above "
        r"max_pixels 95 .*raise datasets\.bsds\.max_pixels",
    ):
        prepare("bsds", bsds, tmp_path)
    assert len(prepare("bsds", {**bsds, "max_pixels": 96}, tmp_path)) == 5


def test_video_folder_frame_folders_use_the_image_options(tmp_path, photo):
    root = tmp_path / "videos"
    root.mkdir()
    first = multi_frame_folder(root / "clip", photo, ["anim.gif"])["anim"]
    Image.fromarray(photo[:20, :30]).save(root / "clip" / "still.png")
    cfg = {"source": "video_folder", "path": str(root)}
    with pytest.raises(ImageFileError, match=r"anim\.gif: it has 3 frames.*set datasets\.vids\.multi_frame: first"):
        prepare("vids", cfg, tmp_path)
    manifest = prepare("vids", {**cfg, "multi_frame": "first"}, tmp_path)
    assert manifest.image_id.tolist() == ["clip__anim", "clip__still"]
    assert manifest.source_mode.tolist() == ["P, frame 1 of 3", "RGB"]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "images" / "clip__anim.png")), first)
    with pytest.raises(
        ImageFileError,
        match=r"clip/anim\.gif: it declares 30x20 = 600 pixels, above max_pixels 599 .*raise datasets\.vids\.max_pixels",
    ):
        prepare("vids", {**cfg, "multi_frame": "first", "max_pixels": 599}, tmp_path)
