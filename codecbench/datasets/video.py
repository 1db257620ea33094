"""Video sources, prepared as their frames (see the frames.csv format in :mod:`codecbench.datasets`).

* **mot17**: MOTChallenge MOT17 (``MOT17.zip``, about 5.5 GB; every train sequence comes three times, once per public
  detector, FRCNN, DPM and SDP, with the same frames and ground truth, so pick one suffix). The archive is verified by
  sha256 (the challenge publishes none, so the config must give it: ``sha256``, or a local ``path``), cached packed and
  read member by member within ``archive_limits`` (:class:`~.download.BoundedZipFile`): ``train/<SEQ>/seqinfo.ini``
  (frameRate, imWidth, imHeight, seqLength), ``train/<SEQ>/img1/%06d.jpg`` (read with the dataset's ``max_pixels`` and
  ``multi_frame``, see :mod:`.normalize`) and ``train/<SEQ>/gt/gt.txt``. Each sequence in ``sequences`` is a clip (its
  name), all split "test"; ``frame_step`` k keeps frames 1, 1+k, 1+2k, ... at frameRate/k fps. Image ids are
  ``<SEQ>__<original frame number, 6 digits>``. Boxes are gt.txt's rows (frame, id, left, top, width, height, flag,
  class, visibility) of class 1 (pedestrian) with flag 1 (considered by the evaluation) and visibility at least
  ``min_visibility`` (default 0.25); MOT's 1-based left/top become ``x_min = left - 1`` and ``x_max = x_min + width``
  (likewise y), clipped to the image. One class, "person" (COCO's name: COCO detectors score as they are).
* **video_folder**: the video files (VIDEO_SUFFIXES) directly in ``path``, decoded to RGB frames by the ffmpeg of
  imageio-ffmpeg at the file's frame rate (a constant rate is assumed; ffmpeg applies rotation metadata), and the
  sub-folders of ``path`` holding frame images (all image files below the sub-folder, sorted by path, one clip; ``fps``
  from the config, default 25; the images are read with the dataset's ``max_pixels`` and ``multi_frame``, see
  :mod:`.normalize`). A clip's name comes from the file stem or sub-folder name; frame image ids are
  ``<clip>__<frame, 6 digits>`` for videos and ``<clip>__<file stem>`` for frame folders. Unlabelled, all split
  "test". Decoding stops after ``max_frames`` frames, and clips not in ``clips`` are not decoded.
"""

from __future__ import annotations

import configparser
import csv
import functools
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..io import file_digest
from . import DatasetError, ImageRead, ObjectBox, SourceImage, SourceSet, image_files, image_id_for, in_memory
from .download import ArchiveLimits, BoundedZipFile, archive_limits, fetch
from .normalize import ImageOptions, image_options, load_normalized
from .sources import DatasetSource, check_path_is_folder, check_sha256_or_path, register_source

MOT17_URL = "https://motchallenge.net/data/MOT17.zip"
MOT17_SEQUENCES = ("MOT17-02-FRCNN",)
MOT17_CLASSES = ["person"]  # COCO's name for it: a COCO-trained detector's person class scores as is
MOT17_MIN_VISIBILITY = 0.25
MOT17_PEDESTRIAN = 1  # gt.txt class of pedestrians

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".y4m"})
FOLDER_FPS = 25.0  # frame rate of a sub-folder of frame images unless the config gives ``fps``


# ---- archives given by url + sha256 or a local path -----------------------------------------------------------


def verified_archive(dataset: str, cfg: dict[str, Any], default_url: str, what: str, downloads_dir: Path) -> Path:
    """The archive of a source without a published checksum: the local file ``path`` (checked against ``sha256``
    when given), else ``url`` (default ``default_url``) downloaded and verified against ``sha256``, which must be
    given, and cached packed."""
    sha256 = cfg.get("sha256")
    if cfg.get("path"):
        path = Path(cfg["path"]).expanduser()
        if not path.is_file():
            raise DatasetError(f"dataset {dataset!r}: {what} archive {path} is not a file; fix datasets.{dataset}.path")
        if sha256:
            actual = file_digest(path)
            if actual != sha256.lower():
                raise DatasetError(
                    f"dataset {dataset!r}: sha256 mismatch for {path}: expected {sha256}, got {actual}; "
                    f"check the file and datasets.{dataset}.sha256"
                )
        return path
    url = cfg.get("url", default_url)
    if not sha256:
        raise DatasetError(
            f"dataset {dataset!r}: the {what} archive has no published checksum, so the download of {url} cannot be "
            f"verified: download it once yourself, check it, and set datasets.{dataset}.sha256 to its sha256 "
            f"(sha256sum {PurePosixPath(url).name}), or give datasets.{dataset}.path to the local archive"
        )
    folder = fetch(url, sha256, downloads_dir, unpack=False)
    (archive,) = folder.iterdir()  # a packed download is cached alone in its folder
    return archive


def archive_where(dataset: str, cfg: dict[str, Any], default_url: str, what: str, archive: Path) -> str:
    """The archive of :func:`verified_archive` as errors name it: the dataset, the file and, when downloaded, its
    URL."""
    origin = "" if cfg.get("path") else f" from {cfg.get('url', default_url)}"
    return f"dataset {dataset!r}: the {what} archive {archive}{origin}"


# ---- MOT17 ------------------------------------------------------------------------------------------------------


def _mot_sequences(dataset: str, archive: zipfile.ZipFile) -> dict[str, str]:
    """Train sequence name -> its folder in the archive (any prefix before ``train/<SEQ>/seqinfo.ini``)."""
    found = {}
    for name in archive.namelist():
        parts = PurePosixPath(name).parts
        if len(parts) >= 3 and parts[-1] == "seqinfo.ini" and parts[-3] == "train":
            found[parts[-2]] = str(PurePosixPath(*parts[:-1]))
    if not found:
        raise DatasetError(
            f"dataset {dataset!r}: {Path(archive.filename or '').name} holds no train/<sequence>/seqinfo.ini; "
            "it is not MOT17.zip (or an archive laid out like it)"
        )
    return found


def _mot_seqinfo(dataset: str, archive: zipfile.ZipFile, folder: str) -> dict[str, Any]:
    member = f"{folder}/seqinfo.ini"
    parser = configparser.ConfigParser()
    try:
        parser.read_string(archive.read(member).decode("utf-8"))
        section = parser["Sequence"]
        info = {
            "fps": float(section["frameRate"]),
            "length": int(section["seqLength"]),
            "size": (int(section["imWidth"]), int(section["imHeight"])),
            "dir": section.get("imDir", "img1"),
            "ext": section.get("imExt", ".jpg"),
        }
    except (KeyError, ValueError, UnicodeDecodeError, configparser.Error) as exc:
        raise DatasetError(
            f"dataset {dataset!r}: {member} lacks [Sequence] frameRate, seqLength, imWidth or imHeight "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if not info["fps"] > 0 or info["length"] < 1:
        raise DatasetError(f"dataset {dataset!r}: {member} has frameRate {info['fps']}, seqLength {info['length']}")
    return info


def _mot_boxes(
    dataset: str, archive: zipfile.ZipFile, folder: str, size: tuple[int, int], min_visibility: float
) -> dict[int, list[ObjectBox]]:
    """Frame number -> its pedestrian boxes (see the module docstring)."""
    member = f"{folder}/gt/gt.txt"
    try:
        text = archive.read(member).decode("utf-8")
    except KeyError as exc:
        raise DatasetError(
            f"dataset {dataset!r}: {member} is not in the archive; only train sequences have it"
        ) from exc
    width, height = size
    boxes: dict[int, list[ObjectBox]] = {}
    for number, fields in enumerate(csv.reader(io.StringIO(text)), 1):
        if not fields:
            continue
        try:
            frame, left, top, w, h = int(fields[0]), *(float(v) for v in fields[2:6])
            flag, kind, visibility = int(float(fields[6])), int(float(fields[7])), float(fields[8])
        except (IndexError, ValueError) as exc:
            raise DatasetError(
                f"dataset {dataset!r}: {member} line {number}: expected frame, id, left, top, width, height, flag, "
                f"class, visibility ({type(exc).__name__}: {exc})"
            ) from exc
        if kind != MOT17_PEDESTRIAN or flag != 1 or visibility < min_visibility:
            continue
        x_min, y_min = max(left - 1, 0.0), max(top - 1, 0.0)
        x_max, y_max = min(left - 1 + w, float(width)), min(top - 1 + h, float(height))
        if x_min < x_max and y_min < y_max:
            boxes.setdefault(frame, []).append(ObjectBox("person", x_min, y_min, x_max, y_max))
    return boxes


def _mot_read(
    dataset: str, archive: zipfile.ZipFile, member: str, size: tuple[int, int], options: ImageOptions
) -> ImageRead:
    try:
        data = archive.read(member)
    except KeyError as exc:
        raise DatasetError(f"dataset {dataset!r}: frame {member} is missing from the archive") from exc
    where = f"{member} in {Path(archive.filename or '').name}"
    image, mode = load_normalized(where, data, upright=False, options=options)  # boxes refer to the stored pixels
    if (image.shape[1], image.shape[0]) != size:
        raise DatasetError(
            f"dataset {dataset!r}: {where} is {image.shape[1]}x{image.shape[0]} but seqinfo.ini says "
            f"{size[0]}x{size[1]}"
        )
    return image, where, mode, hashlib.sha256(data).hexdigest()


def _positive_int(dataset: str, cfg: dict[str, Any], key: str, default: int) -> int:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DatasetError(f"dataset {dataset!r}: {key} must be an integer from 1, not {value!r}")
    return value


def _mot_images(
    dataset: str,
    cfg: dict[str, Any],
    archive_path: Path,
    limits: ArchiveLimits,
    where: str,
    options: ImageOptions,
) -> Iterator[SourceImage]:
    """The frames of the wanted sequences; the archive (read within ``limits``, ``where`` naming it in errors) stays
    open while they are listed (and read)."""
    step = _positive_int(dataset, cfg, "frame_step", 1)
    min_visibility = float(cfg.get("min_visibility", MOT17_MIN_VISIBILITY))
    sequences_cfg = cfg.get("sequences", MOT17_SEQUENCES)
    wanted = [sequences_cfg] if isinstance(sequences_cfg, str) else [str(name) for name in sequences_cfg]
    with BoundedZipFile(archive_path, limits, where) as archive:
        sequences = _mot_sequences(dataset, archive)
        missing = [name for name in wanted if name not in sequences]
        if missing:
            raise DatasetError(
                f"dataset {dataset!r}: sequences {', '.join(missing)} are not train sequences of "
                f"{archive_path.name} (it has {', '.join(sorted(sequences))}); fix datasets.{dataset}.sequences"
            )
        for name in wanted:
            folder = sequences[name]
            info = _mot_seqinfo(dataset, archive, folder)
            boxes = _mot_boxes(dataset, archive, folder, info["size"], min_visibility)
            for index, number in enumerate(range(1, info["length"] + 1, step)):
                member = f"{folder}/{info['dir']}/{number:06d}{info['ext']}"
                read = functools.partial(_mot_read, dataset, archive, member, info["size"], options)
                found = tuple(boxes.get(number, ()))
                objects = lambda _w, _h, found=found: found  # noqa: E731
                yield SourceImage(
                    f"{name}__{number:06d}", "test", "", read, objects, None, name, index, info["fps"] / step
                )


def mot17_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    """MOT17 train sequences as clips with their pedestrian boxes (see the module docstring)."""
    limits, options = archive_limits(dataset, cfg), image_options(dataset, cfg)  # checked before the download
    archive = verified_archive(dataset, cfg, MOT17_URL, "MOT17", downloads_dir)
    if not zipfile.is_zipfile(archive):
        raise DatasetError(f"dataset {dataset!r}: the MOT17 archive {archive.name} is not a zip archive")
    where = archive_where(dataset, cfg, MOT17_URL, "MOT17", archive)
    return SourceSet(_mot_images(dataset, cfg, archive, limits, where, options), list(MOT17_CLASSES))


# ---- folders of videos and frame folders ------------------------------------------------------------------------


def _video_frames(dataset: str, path: Path, clip: str, max_frames: int | None) -> Iterator[SourceImage]:
    """The frames of one video file, decoded as they are listed (only the first ``max_frames``)."""
    import imageio_ffmpeg

    sha = file_digest(path)
    frames = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        try:
            meta = next(frames)
        except (RuntimeError, OSError, StopIteration) as exc:
            raise DatasetError(f"dataset {dataset!r}: ffmpeg cannot read video {path}: {exc}") from exc
        width, height = meta["size"]
        fps = float(meta.get("fps") or 0)
        if not fps > 0:
            raise DatasetError(f"dataset {dataset!r}: video {path} has no frame rate ffmpeg can read")
        index = 0
        while max_frames is None or index < max_frames:
            try:
                data = next(frames)
            except StopIteration:
                break
            except (RuntimeError, OSError) as exc:
                raise DatasetError(
                    f"dataset {dataset!r}: ffmpeg failed decoding {path} at frame {index}: {exc}"
                ) from exc
            image = np.frombuffer(data, np.uint8).reshape(height, width, 3)
            read = in_memory(image, f"{path} frame {index}", sha)
            yield SourceImage(f"{clip}__{index:06d}", "test", "", read, clip=clip, frame=index, fps=fps)
            index += 1
        if index == 0:
            raise DatasetError(f"dataset {dataset!r}: video {path} has no frames ffmpeg can decode")
    finally:
        frames.close()  # stops ffmpeg when decoding ended early


def frame_order(path: Path) -> list:
    """Sort key of a frame file: its name with runs of digits compared as numbers, so that unpadded names (ffmpeg's
    %d.png: 1, 2, ..., 10) play in frame order, not 1, 10, 11, 2."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def _folder_frames(dataset: str, folder: Path, clip: str, fps: float, options: ImageOptions) -> Iterator[SourceImage]:
    from . import _read_file

    for index, path in enumerate(sorted(image_files(folder, dataset), key=frame_order)):
        image_id = f"{clip}__{image_id_for(path.relative_to(folder))}"
        read = functools.partial(_read_file, path, options)
        yield SourceImage(image_id, "test", "", read, clip=clip, frame=index, fps=fps)


def video_folder_images(dataset: str, cfg: dict[str, Any]) -> Iterator[SourceImage]:
    """The frames of the videos and frame folders in ``path`` (see the module docstring), clip by clip in name
    order."""
    from . import IMAGE_SUFFIXES

    root = Path(cfg["path"]).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"dataset {dataset!r}: video_folder path {root} is not a folder; fix datasets.{dataset}.path"
        )
    fps = float(cfg.get("fps", FOLDER_FPS))
    if not fps > 0:
        raise DatasetError(f"dataset {dataset!r}: fps must be above 0, not {cfg.get('fps')!r}")
    max_frames = cfg.get("max_frames")
    options = image_options(dataset, cfg)  # for the frame folders; checked before any clip is read
    clips_cfg = cfg.get("clips")
    wanted = None if clips_cfg is None else {clips_cfg} if isinstance(clips_cfg, str) else set(map(str, clips_cfg))
    clips: dict[str, Path] = {}
    stray = []
    for path in sorted(root.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir() and image_files(path, dataset):
            kind = "folder"
        elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            kind = "video"
        else:
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                stray.append(path.name)
            continue
        clip = image_id_for(Path(path.name if kind == "folder" else path.stem))
        if clip in clips:
            raise DatasetError(f"dataset {dataset!r}: {clips[clip]} and {path} are both clip {clip!r}; rename one")
        clips[clip] = path
    if stray:
        raise DatasetError(
            f"dataset {dataset!r}: image files directly in {root} ({', '.join(stray[:3])}): put each clip's frames "
            "in a sub-folder of their own"
        )
    if not clips:
        raise DatasetError(
            f"dataset {dataset!r}: no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) or sub-folders of frame "
            f"images in {root}"
        )
    missing = sorted(wanted - set(clips)) if wanted is not None else []
    if missing:
        raise DatasetError(
            f"dataset {dataset!r}: clips {', '.join(missing)} are not in {root} (its clips: {', '.join(clips)}); "
            f"fix datasets.{dataset}.clips"
        )
    return _clip_frames(dataset, clips, wanted, max_frames, fps, options)


def _clip_frames(
    dataset: str,
    clips: dict[str, Path],
    wanted: set[str] | None,
    max_frames: int | None,
    fps: float,
    options: ImageOptions,
) -> Iterator[SourceImage]:
    for clip, path in clips.items():
        if wanted is not None and clip not in wanted:
            continue  # not decoded
        if path.is_dir():
            yield from _folder_frames(dataset, path, clip, fps, options)
        else:
            yield from _video_frames(dataset, path, clip, max_frames)


# ---- the sources --------------------------------------------------------------------------------------------------


register_source(
    DatasetSource(
        name="mot17",
        description="MOTChallenge MOT17 train sequences: clips of frames with pedestrian boxes, test split",
        read=mot17_set,
        annotations=("objects",),
        video=True,
        check=check_sha256_or_path,
        notes="""
            Keys: `sha256` (or `path` to a local copy), optional `url`, `sequences`, `frame_step`, `min_visibility`.
            Read from `MOT17.zip` (about 5.5 GB; MOTChallenge publishes no checksum, so give the sha256 of the archive
            you trust); only the needed zip members are read (`seqinfo.ini`, `img1/*.jpg`, `gt/gt.txt`); boxes of
            pedestrians (class 1, flag 1) at least `min_visibility` visible, clipped to the frame; one clip per
            sequence at its frame rate (divided by `frame_step`); all test.
        """,
    )
)


def _video_folder_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    return SourceSet(video_folder_images(dataset, cfg))


register_source(
    DatasetSource(
        name="video_folder",
        description="video files and/or sub-folders of frame images, one clip each: unlabelled test frames",
        read=_video_folder_set,
        video=True,
        check=check_path_is_folder,
        notes="""
            Keys: `path`, optional `fps` (of the frame folders). Video files are decoded with imageio-ffmpeg's ffmpeg
            at their own frame rate.
        """,
    )
)
