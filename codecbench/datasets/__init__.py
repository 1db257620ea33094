"""Datasets: resolve a config entry (source builtin | local | url | cifar10 | folder | coco | yolo | mot17 |
video_folder | bsds500 | ilsvrc2012_val) to normalised images plus a manifest and, for detection sets, their boxes;
for edge sets their boundary maps; for video sets the clip and frame of each image.

A prepared dataset is ``<dir>/images/<image_id>.png`` (8-bit RGB, see :mod:`.normalize` for how other inputs are
converted) and ``<dir>/manifest.csv`` with one row per image: its id, file, size, ``split`` ("train" or "test";
datasets without splits are all "test"), ``label`` and where it came from. Image ids are unique across the whole
dataset, splits included. What ``label`` holds depends on the dataset's annotation kind (:func:`annotation_kind`):

* **classes** (cifar10, folder with class sub-folders, ilsvrc2012_val, builtin digits): the image's class name.
* **text** (builtin plates, folder with ``labels_file``): the text the image shows, exactly (OCR ground truth).
* **objects** (builtin shapes and moving_shapes, coco, yolo, mot17): "". The boxes are in ``<dir>/objects.csv``
  (:data:`OBJECT_COLUMNS`: one row per object, in the prepared image's pixels, ``x_max``/``y_max`` the exclusive
  far edges, so a box over pixel columns 10..19 has ``x_min`` 10 and ``x_max`` 20; images without objects have no
  rows; only images in the manifest are listed) and the class names, one a line in their index order, in
  ``<dir>/classes.txt`` (all of the dataset's classes, even those absent from the prepared images).
* **edges** (bsds500; also builtin shapes and moving_shapes beside their objects): the label is not used ("").
  Each image's boundary maps are ``<dir>/edges/<image_id>.npz`` (:mod:`.edges`: bool (annotators, height, width)).
* none (photos, science, local, url, video_folder): "" (unlabelled).

A dataset can have several kinds (:func:`annotation_kinds`): the shapes builtins have objects and edges.

**Video** datasets (builtin moving_shapes, mot17, video_folder) are prepared as their frames: every frame is an
ordinary image of the manifest, so every image stage works on them unchanged. Beside the manifest,
``<dir>/frames.csv`` (:data:`FRAME_COLUMNS`) gives each frame's ``clip``, ``frame`` (0-based display index within
its clip) and ``fps``. All frames of a clip have the same size, split and fps; a clip's frames are contiguous in the
manifest, in frame order, numbered 0, 1, 2, ... (the frames prepared, so after ``frame_step`` or ``max_frames`` they
are renumbered from 0). Options of video sources: ``clips`` (the names of the clips to keep, in the source's order)
and ``max_frames`` (the first N frames of each clip); ``max_images`` still keeps the first N frames of each split.

``manifest.csv`` is written last, so a dataset with a manifest is complete.

Each source is a :class:`~.sources.DatasetSource` in the registry of :mod:`.sources`, declared beside its reader:
what it reads and what its entries are annotated with, whether they are video or have a train split, and how an
entry is checked all come from there.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from ..io import write_csv_atomic, write_rgb_png, write_text_atomic
from . import synthetic  # noqa: F401  (registers the builtins shapes, moving_shapes and plates)
from .builtin import (
    ANNOTATION_KINDS,
    BUILTIN_CLASSES,
    BUILTIN_DATASETS,
    BUILTIN_EXTRA_KINDS,
    BUILTIN_KINDS,
    BUILTINS_WITH_TRAIN_SPLIT,
    VIDEO_BUILTINS,
    BuiltinImage,
    ObjectBox,
)
from .download import archive_limits, fetch
from .edges import EDGES_DIR, write_edges
from .normalize import ImageFileError, ImageOptions, image_options, load_normalized
from .sources import DatasetSource, check_path_is_folder, find_source, register_source, source_names

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".gif"}
)
MANIFEST_COLUMNS = ["image_id", "file", "width", "height", "split", "label", "source", "source_mode", "source_sha256"]
OBJECT_COLUMNS = ["image_id", "class", "x_min", "y_min", "x_max", "y_max"]
OBJECTS_FILE = "objects.csv"
CLASSES_FILE = "classes.txt"
FRAMES_FILE = "frames.csv"
FRAME_COLUMNS = ["image_id", "clip", "frame", "fps"]

# (uint8 HxWx3 RGB array, source, source mode, source sha256)
ImageRead = tuple[np.ndarray, str, str, str]


class DatasetError(ValueError):
    """A dataset cannot be prepared; the message names the dataset, the culprit and the fix."""


@dataclass(frozen=True)
class SourceImage:
    """One image of a dataset, listed before it is read so that ``max_images`` skips images without decoding them."""

    image_id: str
    split: str  # "train" or "test"
    label: str  # class name or text; "" for unlabelled datasets and those annotated with objects
    read: Callable[[], ImageRead]
    # Datasets with objects: the image's boxes in pixels, given the (width, height) it was read with.
    objects: Callable[[int, int], Sequence[ObjectBox]] | None = None
    # Datasets with edges: the image's bool boundary maps (annotators, height, width), given its (width, height).
    edges: Callable[[int, int], np.ndarray] | None = None
    # Video datasets: the clip the frame belongs to, its 0-based display index in the clip and the clip's frame rate.
    clip: str | None = None
    frame: int | None = None
    fps: float | None = None


@dataclass(frozen=True)
class SourceSet:
    """A dataset's images, not yet read, and for datasets annotated with objects their class names in index order
    (None for other datasets)."""

    images: Iterable[SourceImage]
    classes: list[str] | None = None


def in_memory(image: np.ndarray, source: str, sha256: str = "") -> Callable[[], ImageRead]:
    """A reader for an image that is already an RGB array (built-in sets, decoded archives)."""
    return lambda: (np.ascontiguousarray(image, dtype=np.uint8), source, "RGB", sha256)


def image_id_for(relative: Path) -> str:
    """A file's id: its path below the dataset folder without suffix, '/' as '__', odd characters as '_'."""
    stem = "__".join(relative.with_suffix("").parts)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)


def image_files(folder: Path, dataset: str | None = None) -> list[Path]:
    """Image files below ``folder`` (recursively, hidden files and folders skipped), sorted by path.

    Links are followed like what they point to, as a user assembling a dataset folder from links expects: a link to
    an image is an image of the folder, a link to a folder is searched like a sub-folder. A link to a folder it is
    itself in (a loop) or to nothing is an error naming it (and ``dataset`` when given).
    """
    culprit = f"dataset {dataset!r}: " if dataset else ""
    found = []
    pending = [(folder, (os.path.realpath(folder),))]  # each folder with the real paths of it and its parents
    while pending:
        directory, parents = pending.pop()
        for path in directory.iterdir():
            if path.name.startswith("."):
                continue
            if path.is_dir():
                real = os.path.realpath(path)
                if real in parents:
                    raise DatasetError(
                        f"{culprit}{path} links to {real}, a folder it is itself in: a loop; remove the link"
                    )
                pending.append((path, (*parents, real)))
            elif path.is_file():
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    found.append(path)
            elif path.is_symlink():
                raise DatasetError(
                    f"{culprit}{path} is a link to {os.readlink(path)}, which does not exist (or loops); remove the "
                    "link or restore what it points to"
                )
    return sorted(found)


def _read_file(path: Path, options: ImageOptions | None = None, linked: bool = False) -> ImageRead:
    """Read an image file; ``linked``: it was reached through a link, and its source names the real file too."""
    image, mode = load_normalized(path, options=options)
    source = f"{path} (link to {path.resolve()})" if linked else str(path)
    return image, source, mode, hashlib.sha256(path.read_bytes()).hexdigest()


def file_images(
    dataset: str, entries: Iterable[tuple[Path, Path, str, str]], options: ImageOptions | None = None
) -> list[SourceImage]:
    """Images of (relative name, path, split, label) entries, read with ``options`` (see :mod:`.normalize`); the id
    comes from the relative name and must be unique."""
    seen: dict[str, Path] = {}
    images = []
    for relative, path, split, label in entries:
        image_id = image_id_for(relative)
        if image_id in seen:
            raise DatasetError(
                f"dataset {dataset!r}: {seen[image_id]} and {path} both map to image id {image_id!r}; "
                "rename one of them"
            )
        seen[image_id] = path
        # Reached through a link (the file, or a folder between it and the dataset's folder): the source says so.
        linked = path.is_symlink() or any(p.is_symlink() for p in list(path.parents)[: len(relative.parts) - 1])
        read = functools.partial(_read_file, path, options, linked)
        images.append(SourceImage(image_id, split, label, read))
    return images


def _unlabelled_folder(
    dataset: str, folder: Path, cfg: dict[str, Any] | None = None, within: Path | None = None
) -> list[SourceImage]:
    """The images below ``folder``, read with the entry ``cfg``'s image options; with ``within``, every file (links
    followed) must lie inside that folder."""
    files = image_files(folder, dataset)
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DatasetError(f"dataset {dataset!r}: no image files ({suffixes}) under {folder}")
    if within is not None:
        outside = [path for path in files if not path.resolve().is_relative_to(within.resolve())]
        if outside:
            raise DatasetError(
                f"dataset {dataset!r}: {outside[0]} links to {outside[0].resolve()}, outside the download "
                f"{within}; only the download's own files are checked by its sha256"
            )
    entries = [(path.relative_to(folder), path, "test", "") for path in files]
    return file_images(dataset, entries, image_options(dataset, cfg or {}))


def _downloaded_files(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> list[tuple[Path, Path, str, str]]:
    """Fetch each of ``files`` (name -> sha256) from ``base_url``; each is checked and cached on its own."""
    base_url = cfg["base_url"].rstrip("/") + "/"
    entries = []
    for name, sha256 in cfg["files"].items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or relative.suffix.lower() not in IMAGE_SUFFIXES:
            raise DatasetError(
                f"dataset {dataset!r}: files entry {name!r} must be a relative image file name "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        folder = fetch(base_url + urllib.parse.quote(name), sha256, downloads_dir)
        (downloaded,) = folder.iterdir()  # an image is cached alone in its checksum's folder
        entries.append((Path(name), downloaded, "test", ""))
    return sorted(entries)


def _builtin_images(name: str) -> Iterator[SourceImage]:
    with_objects = BUILTIN_KINDS[name] == "objects"
    with_edges = "edges" in BUILTIN_EXTRA_KINDS.get(name, ()) or BUILTIN_KINDS[name] == "edges"
    for item in BUILTIN_DATASETS[name]():
        record = BuiltinImage(*item)  # plain (id, image, origin) tuples are unlabelled test images
        objects = (lambda _w, _h, boxes=record.objects: boxes) if with_objects else None
        edges = (lambda _w, _h, maps=record.edges: maps) if with_edges and record.edges is not None else None
        read = in_memory(record.image, record.origin)
        yield SourceImage(
            record.image_id, record.split, record.label, read, objects, edges, record.clip, record.frame, record.fps
        )


# ---- the sources read here: builtin, local and url (the others are declared beside their readers) ----------------


def _builtin_name(entry: dict[str, Any], dataset: str) -> str:
    return entry.get("name", dataset)


def _builtin_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    name = _builtin_name(cfg, dataset)
    if name not in BUILTIN_DATASETS:
        known = ", ".join(sorted(BUILTIN_DATASETS))
        raise DatasetError(f"dataset {dataset!r}: unknown builtin {name!r} (known: {known})")
    classes = list(BUILTIN_CLASSES[name]) if BUILTIN_KINDS[name] == "objects" else None
    return SourceSet(_builtin_images(name), classes)


def _builtin_annotations(entry: dict[str, Any], dataset: str) -> tuple[str, ...]:
    """A built-in set's kind and extra kinds, as it registered them (none for an unknown name: the config check
    reports it)."""
    name = _builtin_name(entry, dataset)
    primary = BUILTIN_KINDS.get(name)
    return ((primary,) if primary else ()) + tuple(BUILTIN_EXTRA_KINDS.get(name, ()))


def _builtin_offers() -> dict[str, str]:
    """Kind -> the built-in sets that have it, e.g. "builtin shapes and moving_shapes"."""
    offers = {}
    for kind in ANNOTATION_KINDS:
        names = [name for name in BUILTIN_DATASETS if kind in _builtin_annotations({}, name)]
        if names:
            listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
            offers[kind] = f"builtin {listed}"
    return offers


def _builtin_problems(dataset: str, entry: dict[str, Any]) -> list[str]:
    name = _builtin_name(entry, dataset)
    if name in BUILTIN_DATASETS:
        return []
    known = ", ".join(sorted(BUILTIN_DATASETS))
    return [f"datasets.{dataset}: unknown builtin dataset {name!r} (known: {known}); set 'name'"]


register_source(
    DatasetSource(
        name="builtin",
        description="a set shipped with the installed packages or drawn by codecbench (name: which one)",
        read=_builtin_set,
        annotations=_builtin_annotations,
        video=lambda entry, dataset: _builtin_name(entry, dataset) in VIDEO_BUILTINS,
        train_split=lambda entry, dataset: _builtin_name(entry, dataset) in BUILTINS_WITH_TRAIN_SPLIT,
        check=_builtin_problems,
        offers=_builtin_offers,
        notes="""
            Key: `name`, the set:

            * `photos`: 8 real RGB photographs shipped by scikit-image (astronaut, chelsea, coffee, rocket,
              motorcycle), scikit-learn (china, flower) and matplotlib (grace_hopper), 0.13-0.37 MP.
            * `science`: 3 scientific photographs (microscopy, astronomy, retina; disjoint from `photos`): training
              images for learned codecs.
            * `digits`: scikit-learn's 1,797 handwritten 8x8 digits as 32x32 RGB (levels x255/16, Pillow bilinear
              upsampling), labels `0`-`9`, a fixed stratified split of 1,437 train / 360 test images.
            * `shapes` (detection, edges): 200 synthetic 128x128 scenes (160 train / 40 test) of 1-4 circles,
              squares, triangles and stars, 12-48 px, rotated and coloured, pasted on crops of the photos, each box
              the exact extent of its drawn pixels (seed 0).
            * `moving_shapes` (video; detection, edges): 6 clips (4 train, 2 test) of 20 frames, 160x120 at 10 fps,
              2-4 of the `shapes` moving in straight lines (bouncing off the borders and each other, slightly
              spinning) over a slowly panning photo (sub-pixel Lanczos resampling), with exact per-frame boxes and
              edges (the outline of each drawn mask).
            * `plates` (OCR): 40 synthetic 100x32 licence plates in 5 formats (no I, O, Q), drawn with matplotlib's
              DejaVu fonts with mild perspective, blur and noise, labelled with their exact text (seed 0).
        """,
    )
)


def _local_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    folder = Path(cfg["path"]).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"dataset {dataset!r}: local path {folder} is not a folder; fix datasets.{dataset}.path")
    return SourceSet(_unlabelled_folder(dataset, folder, cfg))


register_source(
    DatasetSource(
        name="local",
        description="a folder of image files, searched recursively: unlabelled test images",
        read=_local_set,
        check=check_path_is_folder,
        notes="""
            Key: `path`. Every image file below the folder (recursive; hidden files skipped; links to files and
            folders followed like what they point to, here and in `folder` and `yolo` folders; the manifest's
            `source` then reads `<path> (link to <real path>)`; a link loop or a broken link fails naming it); ids
            are the relative paths without suffix, `/` as `__`.
        """,
    )
)


def _url_problems(dataset: str, entry: dict[str, Any]) -> list[str]:
    """A url dataset is one download (url + sha256 [+ subdir]) or per-file downloads (base_url + files)."""
    single, per_file = ("url", "sha256", "subdir"), ("base_url", "files")
    uses_single, uses_per_file = any(k in entry for k in single), any(k in entry for k in per_file)
    if uses_single and uses_per_file:
        return [
            f"datasets.{dataset}: give either url + sha256 (one archive or image) or base_url + files "
            "(per-file checksums), not keys of both"
        ]
    needed = ("url", "sha256") if uses_single or not uses_per_file else per_file
    missing = [key for key in needed if key not in entry]
    return [f"datasets.{dataset}: source url needs {key!r} (with {' + '.join(needed)})" for key in missing]


def _url_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    if "files" in cfg:
        entries = _downloaded_files(dataset, cfg, downloads_dir)
        return SourceSet(file_images(dataset, entries, image_options(dataset, cfg)))
    root = fetch(cfg["url"], cfg["sha256"], downloads_dir, limits=archive_limits(dataset, cfg))
    subdir = cfg.get("subdir") or ""
    # Resolved (links followed) and confined to the download: only what the sha256 checked may be read.
    folder = root / subdir
    if not folder.resolve().is_relative_to(root.resolve()):
        raise DatasetError(
            f"dataset {dataset!r}: subdir {subdir!r} leads outside the download from {cfg['url']} (to "
            f"{folder.resolve()}); set datasets.{dataset}.subdir to a folder inside the archive, as a relative "
            "path without '..'"
        )
    if not folder.is_dir():
        raise DatasetError(f"dataset {dataset!r}: subdir {subdir!r} is not in the download from {cfg['url']}")
    return SourceSet(_unlabelled_folder(dataset, folder, cfg, within=root))


register_source(
    DatasetSource(
        name="url",
        description="a download (an archive or image by url + sha256, or files by base_url + their sha256): "
        "unlabelled test images",
        read=_url_set,
        check=_url_problems,
        notes="""
            One download: keys `url`, `sha256`, optional `subdir`, `archive_limits`. Downloaded once into
            `resources/downloads/<sha256>/`, checked, unpacked (`.zip`, `.tar[.gz/.bz2/.xz]`, or a single image); a
            checksum mismatch or HTTP error fails naming the URL and leaves nothing cached; `subdir` and every file in
            it must stay inside the unpacked download (links resolved).

            Per file: keys `base_url`, `files` (file name -> sha256). Each `base_url/<name>` is downloaded and checked
            on its own, cached under its checksum; the image id is the file name without suffix.
        """,
    )
)


# ---- what the registry says about a config entry ----------------------------------------------------------------


def __getattr__(name: str) -> tuple[str, ...]:
    # SOURCES and VIDEO_SOURCES are read from the registry when asked for: a source registered after this package
    # was imported is among them.
    if name == "SOURCES":
        return source_names()
    if name == "VIDEO_SOURCES":  # the sources whose every entry is video
        return tuple(source for source in source_names() if find_source(source).video is True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _entry_source(dataset_cfg: dict[str, Any]) -> DatasetSource | None:
    return find_source(dataset_cfg["source"])


def annotation_kind(dataset_cfg: dict[str, Any], dataset_id: str) -> str | None:
    """What a dataset config entry's images are annotated with (their primary kind; see :func:`annotation_kinds`
    for all of them), from the entry alone (nothing is read or fetched), as its source declares it (see
    :mod:`.sources`): "classes" (cifar10, folder with class sub-folders, builtin digits), "objects" (builtin shapes
    and moving_shapes, coco, yolo, mot17), "text" (builtin plates, folder with ``labels_file``), "edges" (bsds500) or
    None (unlabelled: photos, science, local, url, video_folder, and unknown builtins or sources, which config
    validation reports on its own)."""
    kinds = _kinds_primary_first(dataset_cfg, dataset_id)
    return kinds[0] if kinds else None


def _kinds_primary_first(dataset_cfg: dict[str, Any], dataset_id: str) -> tuple[str, ...]:
    source = _entry_source(dataset_cfg)
    return source.annotation_kinds(dataset_cfg, dataset_id) if source is not None else ()


def annotation_kinds(dataset_cfg: dict[str, Any], dataset_id: str) -> frozenset[str]:
    """All the kinds a dataset config entry's images are annotated with, from the entry alone: its primary kind
    (:func:`annotation_kind`) and its extra ones (builtin shapes and moving_shapes: "objects" and "edges"); empty
    for unlabelled sets."""
    return frozenset(_kinds_primary_first(dataset_cfg, dataset_id))


def is_video_source(dataset_cfg: dict[str, Any], dataset_id: str) -> bool:
    """Whether a dataset config entry gives video (clips of frames, with frames.csv), from the entry alone."""
    source = _entry_source(dataset_cfg)
    return source is not None and source.is_video(dataset_cfg, dataset_id)


def has_train_split(dataset_cfg: dict[str, Any], dataset_id: str) -> bool:
    """Whether a dataset config entry has train images, from the entry alone: cifar10, class folders, YOLO folders
    (when they hold a train split, which only preparing them tells: assumed) and the built-in sets registered with
    one."""
    source = _entry_source(dataset_cfg)
    return source is not None and source.has_train_split(dataset_cfg, dataset_id)


def source_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    """The images of a dataset config entry, in id order within each split, not yet read, with their classes if
    they are annotated with objects: what its source reads."""
    source = _entry_source(cfg)
    if source is None:
        raise DatasetError(
            f"dataset {dataset!r}: unknown source {cfg['source']!r} (known: {', '.join(source_names())})"
        )
    return source.read(dataset, cfg, downloads_dir)


def iter_source_images(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> Iterable[SourceImage]:
    """The images of a dataset config entry, in id order within each split, not yet read."""
    return source_set(dataset, cfg, downloads_dir).images


def _first_per_split(dataset: str, images: Iterable[SourceImage], limit: int | None) -> Iterator[SourceImage]:
    """The first ``limit`` images of each split (all when None); checks splits and that ids are unique."""
    taken = dict.fromkeys(SPLITS, 0)
    seen: set[str] = set()
    for item in images:
        if item.split not in taken:
            raise DatasetError(
                f"dataset {dataset!r}: image {item.image_id!r} has split {item.split!r}, not one of {SPLITS}"
            )
        if item.image_id in seen:
            raise DatasetError(f"dataset {dataset!r}: image id {item.image_id!r} occurs more than once")
        seen.add(item.image_id)
        if limit is None or taken[item.split] < limit:
            taken[item.split] += 1
            yield item


def _selected_frames(dataset: str, cfg: dict[str, Any], images: Iterable[SourceImage]) -> Iterator[SourceImage]:
    """The images of the clips named in ``clips`` (all when absent), only the first ``max_frames`` of each clip
    (all when absent); both options are errors for a dataset without clips, and so is a clip ``clips`` names that
    the dataset lacks."""
    wanted, max_frames = cfg.get("clips"), cfg.get("max_frames")
    if wanted is None and max_frames is None:
        yield from images
        return
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise DatasetError(f"dataset {dataset!r}: max_frames must be an integer from 1, not {max_frames!r}")
    if isinstance(wanted, str):
        wanted = [wanted]
    wanted_set = None if wanted is None else {str(name) for name in wanted}
    seen_clips: set[str] = set()
    any_image = False
    for item in images:
        any_image = True
        if item.clip is None:
            option = "clips" if wanted is not None else "max_frames"
            raise DatasetError(
                f"dataset {dataset!r}: {option} is set but image {item.image_id!r} is not a frame of a clip; "
                f"{option} applies to video datasets only, remove datasets.{dataset}.{option}"
            )
        seen_clips.add(item.clip)
        if wanted_set is not None and item.clip not in wanted_set:
            continue
        if max_frames is not None and item.frame is not None and item.frame >= max_frames:
            continue
        yield item
    missing = sorted(wanted_set - seen_clips) if wanted_set is not None and any_image else []
    if missing:
        raise DatasetError(
            f"dataset {dataset!r}: clips {', '.join(missing)} are not in the dataset (its clips: "
            f"{', '.join(sorted(seen_clips))}); fix datasets.{dataset}.clips"
        )


class _FrameChecks:
    """Collects the frames.csv rows while checking that each clip is contiguous, in frame order from 0, and of one
    size, split and fps; an image set either has clips everywhere or nowhere."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.rows: list[list] = []
        self.without_clip: str | None = None
        self.clips: dict[str, tuple[int, int, str, float]] = {}  # clip -> (width, height, split, fps)
        self.current: str | None = None

    def add(self, item: SourceImage, width: int, height: int) -> None:
        name = f"dataset {self.dataset!r}"
        if item.clip is None:
            if self.rows:
                raise DatasetError(f"{name}: image {item.image_id!r} has no clip but earlier images are video frames")
            self.without_clip = item.image_id
            return
        if self.without_clip is not None:
            raise DatasetError(
                f"{name}: clip {item.clip!r} frame {item.frame} follows image {self.without_clip!r}, which has no "
                "clip: a dataset is either all video frames or all still images"
            )
        where = f"{name}: clip {item.clip!r} frame {item.frame} (image {item.image_id!r})"
        if item.frame is None or item.fps is None or not item.fps > 0:
            raise DatasetError(f"{where}: a frame needs a frame index and a frame rate above 0, got fps {item.fps}")
        expected_frame = 0
        if item.clip == self.current:
            expected_frame = self.rows[-1][2] + 1
        elif item.clip in self.clips:
            raise DatasetError(f"{where}: the clip's frames are not contiguous (other images come between them)")
        if item.frame != expected_frame:
            raise DatasetError(f"{where}: expected frame {expected_frame} (frames must be consecutive from 0)")
        properties = (width, height, item.split, float(item.fps))
        first = self.clips.setdefault(item.clip, properties)
        if first != properties:
            raise DatasetError(
                f"{where} is {width}x{height}, split {item.split}, {item.fps} fps but frame 0 is "
                f"{first[0]}x{first[1]}, split {first[2]}, {first[3]} fps: a clip's frames must agree"
            )
        self.current = item.clip
        self.rows.append([item.image_id, item.clip, item.frame, float(item.fps)])


def _checked_edges(dataset: str, item: SourceImage, width: int, height: int) -> np.ndarray:
    if item.edges is None:
        raise DatasetError(f"dataset {dataset!r}: image {item.image_id!r} has no edge ground truth")
    maps = np.asarray(item.edges(width, height))
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.shape[1:] != (height, width) or maps.shape[0] == 0:
        raise DatasetError(
            f"dataset {dataset!r}: image {item.image_id!r} ({width}x{height}) has boundary maps of shape "
            f"{maps.shape}; expected (annotators, {height}, {width})"
        )
    return maps.astype(bool)


def _checked_objects(dataset: str, item: SourceImage, width: int, height: int, classes: list[str]) -> list[list]:
    """The objects.csv rows of one image: classes known, boxes non-empty and inside the image."""
    rows = []
    for box in item.objects(width, height) if item.objects else ():
        if box.class_name not in classes:
            raise DatasetError(
                f"dataset {dataset!r}: image {item.image_id!r} has an object of class {box.class_name!r}, which is "
                f"not among the dataset's classes ({', '.join(classes)})"
            )
        if not (0 <= box.x_min < box.x_max <= width and 0 <= box.y_min < box.y_max <= height):
            raise DatasetError(
                f"dataset {dataset!r}: image {item.image_id!r} ({width}x{height}) has a {box.class_name} box "
                f"x {box.x_min}..{box.x_max}, y {box.y_min}..{box.y_max} that is empty or outside the image"
            )
        rows.append([item.image_id, box.class_name, box.x_min, box.y_min, box.x_max, box.y_max])
    return rows


def _text_label(dataset: str, item: SourceImage) -> str:
    if not item.label:
        raise DatasetError(f"dataset {dataset!r}: image {item.image_id!r} has an empty text label; give its text")
    return item.label


def prepare_dataset(dataset: str, cfg: dict[str, Any], out_dir: str | Path, downloads_dir: str | Path) -> pd.DataFrame:
    """Write normalised images and ``manifest.csv`` for one dataset, for datasets with objects ``objects.csv``
    and ``classes.txt``, for datasets with edges ``edges/<image_id>.npz``, for video datasets ``frames.csv`` (see the
    module docstring); return the manifest.

    ``max_images`` keeps the first N images of each split (of the whole set when it has no splits); for video
    datasets ``clips`` and ``max_frames`` select clips and their first frames (before ``max_images`` counts).
    """
    import shutil

    from tqdm import tqdm

    out_dir = Path(out_dir)
    source = source_set(dataset, cfg, Path(downloads_dir))
    is_text = annotation_kind(cfg, dataset) == "text"
    with_edges = "edges" in annotation_kinds(cfg, dataset)
    shutil.rmtree(out_dir / EDGES_DIR, ignore_errors=True)  # no stale maps of images no longer prepared
    rows, objects = [], []
    frames = _FrameChecks(dataset)
    images = _first_per_split(dataset, _selected_frames(dataset, cfg, source.images), cfg.get("max_images"))
    for item in tqdm(images, desc=f"prepare {dataset}", unit="img", mininterval=5):
        image, origin, mode, sha = item.read()
        relative = Path("images") / f"{item.image_id}.png"
        height, width = image.shape[:2]
        frames.add(item, width, height)
        write_rgb_png(out_dir / relative, image)
        label = _text_label(dataset, item) if is_text else item.label
        rows.append([item.image_id, relative.as_posix(), width, height, item.split, label, origin, mode, sha])
        if source.classes is not None:
            objects += _checked_objects(dataset, item, width, height, source.classes)
        if with_edges:
            write_edges(out_dir, item.image_id, _checked_edges(dataset, item, width, height))
    if frames.rows:
        write_csv_atomic(pd.DataFrame(frames.rows, columns=FRAME_COLUMNS), out_dir / FRAMES_FILE)
    else:  # a video dataset re-prepared as stills into the same folder keeps no stale frames.csv
        (out_dir / FRAMES_FILE).unlink(missing_ok=True)
    if source.classes is not None:
        write_csv_atomic(pd.DataFrame(objects, columns=OBJECT_COLUMNS), out_dir / OBJECTS_FILE)
        write_text_atomic(out_dir / CLASSES_FILE, "".join(f"{name}\n" for name in source.classes))
    else:  # a dataset re-prepared without objects into the same folder keeps no stale boxes
        (out_dir / OBJECTS_FILE).unlink(missing_ok=True)
        (out_dir / CLASSES_FILE).unlink(missing_ok=True)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_csv_atomic(manifest, out_dir / "manifest.csv")
    log.info("dataset %s: %d images written to %s", dataset, len(manifest), out_dir)
    return manifest


def read_manifest(path: str | Path, split: str | None = None) -> pd.DataFrame:
    """Read a dataset's ``manifest.csv``, all of it or only the rows of ``split`` ("train" or "test")."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, not {split!r}")
    text_columns = ("image_id", "split", "label", "source_sha256")
    manifest = pd.read_csv(path, dtype=dict.fromkeys(text_columns, str), keep_default_na=False)
    if split is not None:
        manifest = manifest[manifest["split"] == split].reset_index(drop=True)
    return manifest


def read_split(path: str | Path, split: str) -> pd.DataFrame:
    """The rows of ``split`` in a manifest, which must have some: the error names the file and its splits."""
    rows = read_manifest(path, split)
    if rows.empty:
        present = sorted(set(read_manifest(path).split))
        raise ValueError(f"{path} has no {split!r} images (splits present: {present})")
    return rows


def _read_table(path: Path, columns: list[str], dtypes: dict[str, type]) -> pd.DataFrame:
    """A CSV the dataset stage wrote beside the manifest, with exactly ``columns``; DatasetError naming the file
    (and saying to prepare the dataset again) when it cannot be read or has other columns."""
    try:
        table = pd.read_csv(path, dtype=dtypes, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}; prepare the dataset again") from exc
    if list(table.columns) != columns:
        raise DatasetError(f"{path} has columns {list(table.columns)}, expected {columns}; prepare the dataset again")
    return table


def read_frames(dataset_dir: str | Path) -> pd.DataFrame | None:
    """The ``frames.csv`` of a video dataset (:data:`FRAME_COLUMNS`: ``frame`` int, ``fps`` float), None for a
    dataset of still images (no frames.csv); DatasetError naming the file when it is corrupt."""
    path = Path(dataset_dir) / FRAMES_FILE
    if not path.is_file():
        return None
    frames = _read_table(path, FRAME_COLUMNS, {"image_id": str, "clip": str})
    frame = pd.to_numeric(frames["frame"], errors="coerce")
    fps = pd.to_numeric(frames["fps"], errors="coerce")
    bad = frame.isna() | (frame < 0) | (frame != frame.round()) | fps.isna() | ~(fps > 0) | (frames["clip"] == "")
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # the header is line 1
        raise DatasetError(
            f"{path} line {line}: needs a clip name, a frame index (an integer from 0) and an fps above 0; "
            "prepare the dataset again"
        )
    frames["frame"], frames["fps"] = frame.astype(int), fps.astype(float)
    return frames


def _object_annotation_file(dataset_dir: str | Path, name: str) -> Path:
    """``dataset_dir/name`` (classes.txt or objects.csv); DatasetError saying what to do when it is missing."""
    path = Path(dataset_dir) / name
    if not path.is_file():
        raise DatasetError(
            f"{path} is missing: {dataset_dir} is not a dataset annotated with objects (builtin shapes, coco, yolo), "
            "or it was prepared before it had objects; prepare it again"
        )
    return path


def read_classes(dataset_dir: str | Path) -> list[str]:
    """The class names of a dataset annotated with objects (``classes.txt``), in index order."""
    path = _object_annotation_file(dataset_dir, CLASSES_FILE)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}; prepare the dataset again") from exc
    blank = [number for number, line in enumerate(lines, 1) if not line.strip()]
    duplicates = sorted(name for name, count in collections.Counter(lines).items() if count > 1)
    problem = None
    if not lines:
        problem = "no class names"
    elif blank:
        problem = f"blank line {blank[0]}"
    elif duplicates:
        problem = f"duplicate class names {', '.join(duplicates)}"
    if problem:
        raise DatasetError(f"{path} is corrupt ({problem}): it needs one class name a line; prepare the dataset again")
    return lines


def read_objects(dataset_dir: str | Path) -> pd.DataFrame:
    """The boxes of a dataset annotated with objects (``objects.csv``: :data:`OBJECT_COLUMNS`, coordinates as floats
    in pixels, far edges exclusive); images without objects have no rows."""
    path = _object_annotation_file(dataset_dir, OBJECTS_FILE)
    objects = _read_table(path, OBJECT_COLUMNS, {"image_id": str, "class": str})
    coordinates = OBJECT_COLUMNS[2:]
    numbers = objects[coordinates].apply(pd.to_numeric, errors="coerce").astype(float)
    bad = numbers.isna().any(axis=1) | (numbers.x_min >= numbers.x_max) | (numbers.y_min >= numbers.y_max)
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # the header is line 1
        raise DatasetError(
            f"{path} line {line}: box {objects.loc[bad.idxmax(), coordinates].tolist()} is not four numbers with "
            "x_min < x_max and y_min < y_max; prepare the dataset again"
        )
    objects[coordinates] = numbers
    return objects


__all__ = [
    "ANNOTATION_KINDS",
    "BUILTIN_DATASETS",
    "CLASSES_FILE",
    "DatasetError",
    "FRAMES_FILE",
    "FRAME_COLUMNS",
    "ImageFileError",
    "MANIFEST_COLUMNS",
    "OBJECTS_FILE",
    "OBJECT_COLUMNS",
    "ObjectBox",
    "SOURCES",
    "DatasetSource",
    "SPLITS",
    "SourceImage",
    "SourceSet",
    "annotation_kind",
    "is_video_source",
    "annotation_kinds",
    "has_train_split",
    "register_source",
    "source_set",
    "image_files",
    "prepare_dataset",
    "read_classes",
    "read_manifest",
    "read_frames",
    "read_objects",
    "read_split",
]

# The reader modules declare the other sources; imported in this order, which is the registry's (and so the order
# the config schema lists the sources in). Last: they build on this module.
from . import labelled, annotated, video, bsds, ilsvrc  # noqa: E402, F401, I001
