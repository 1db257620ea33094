"""Datasets: resolve a config entry (source builtin | local | url | cifar10 | folder) to normalised images plus a
manifest.

A prepared dataset is ``<dir>/images/<image_id>.png`` (8-bit RGB, see :mod:`.normalize` for how other inputs are
converted) and ``<dir>/manifest.csv`` with one row per image: its id, file, size, ``split`` ("train" or "test";
datasets without splits are all "test"), ``label`` (class name, "" for unlabelled sets) and where it came from.
Image ids are unique across the whole dataset, splits included.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from ..io import write_csv_atomic, write_rgb_png
from .builtin import BUILTIN_DATASETS, BuiltinImage
from .download import fetch
from .normalize import ImageFileError, load_normalized

log = logging.getLogger(__name__)

SOURCES = ("builtin", "local", "url", "cifar10", "folder")
SPLITS = ("train", "test")
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".gif"}
)
MANIFEST_COLUMNS = ["image_id", "file", "width", "height", "split", "label", "source", "source_mode", "source_sha256"]

# (uint8 HxWx3 RGB array, source, source mode, source sha256)
ImageRead = tuple[np.ndarray, str, str, str]


class DatasetError(ValueError):
    """A dataset cannot be prepared; the message names the dataset, the culprit and the fix."""


@dataclass(frozen=True)
class SourceImage:
    """One image of a dataset, listed before it is read so that ``max_images`` skips images without decoding them."""

    image_id: str
    split: str  # "train" or "test"
    label: str  # class name; "" for unlabelled datasets
    read: Callable[[], ImageRead]


def in_memory(image: np.ndarray, source: str, sha256: str = "") -> Callable[[], ImageRead]:
    """A reader for an image that is already an RGB array (built-in sets, decoded archives)."""
    return lambda: (np.ascontiguousarray(image, dtype=np.uint8), source, "RGB", sha256)


def image_id_for(relative: Path) -> str:
    """A file's id: its path below the dataset folder without suffix, '/' as '__', odd characters as '_'."""
    stem = "__".join(relative.with_suffix("").parts)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)


def image_files(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursively, hidden files and folders skipped), sorted by path."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
    return found


def _read_file(path: Path) -> ImageRead:
    image, mode = load_normalized(path)
    return image, str(path), mode, hashlib.sha256(path.read_bytes()).hexdigest()


def file_images(dataset: str, entries: Iterable[tuple[Path, Path, str, str]]) -> list[SourceImage]:
    """Images of (relative name, path, split, label) entries; the id comes from the relative name and must be unique."""
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
        images.append(SourceImage(image_id, split, label, functools.partial(_read_file, path)))
    return images


def _unlabelled_folder(dataset: str, folder: Path) -> list[SourceImage]:
    files = image_files(folder)
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DatasetError(f"dataset {dataset!r}: no image files ({suffixes}) under {folder}")
    return file_images(dataset, [(path.relative_to(folder), path, "test", "") for path in files])


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
    for item in BUILTIN_DATASETS[name]():
        record = BuiltinImage(*item)  # plain (id, image, origin) tuples are unlabelled test images
        yield SourceImage(record.image_id, record.split, record.label, in_memory(record.image, record.origin))


def iter_source_images(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> Iterable[SourceImage]:
    """The images of a dataset config entry, in id order within each split, not yet read."""
    from .labelled import cifar10_images, folder_images  # imported here: they build on this module's helpers

    source = cfg["source"]
    if source == "builtin":
        name = cfg.get("name", dataset)
        if name not in BUILTIN_DATASETS:
            known = ", ".join(sorted(BUILTIN_DATASETS))
            raise DatasetError(f"dataset {dataset!r}: unknown builtin {name!r} (known: {known})")
        return _builtin_images(name)
    if source == "local":
        folder = Path(cfg["path"]).expanduser()
        if not folder.is_dir():
            raise DatasetError(f"dataset {dataset!r}: local path {folder} is not a folder; fix datasets.{dataset}.path")
        return _unlabelled_folder(dataset, folder)
    if source == "url" and "files" in cfg:
        return file_images(dataset, _downloaded_files(dataset, cfg, downloads_dir))
    if source == "url":
        root = fetch(cfg["url"], cfg["sha256"], downloads_dir)
        folder = root / cfg["subdir"] if cfg.get("subdir") else root
        if not folder.is_dir():
            raise DatasetError(
                f"dataset {dataset!r}: subdir {cfg['subdir']!r} is not in the download from {cfg['url']}"
            )
        return _unlabelled_folder(dataset, folder)
    if source == "cifar10":
        return cifar10_images(dataset, cfg, downloads_dir)
    if source == "folder":
        return folder_images(dataset, cfg)
    raise DatasetError(f"dataset {dataset!r}: unknown source {source!r} (known: {', '.join(SOURCES)})")


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


def prepare_dataset(dataset: str, cfg: dict[str, Any], out_dir: str | Path, downloads_dir: str | Path) -> pd.DataFrame:
    """Write normalised images and ``manifest.csv`` for one dataset; return the manifest.

    ``max_images`` keeps the first N images of each split (of the whole set when it has no splits).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    rows = []
    images = _first_per_split(dataset, iter_source_images(dataset, cfg, Path(downloads_dir)), cfg.get("max_images"))
    for item in tqdm(images, desc=f"prepare {dataset}", unit="img", mininterval=5):
        image, source, mode, sha = item.read()
        relative = Path("images") / f"{item.image_id}.png"
        write_rgb_png(out_dir / relative, image)
        height, width = image.shape[:2]
        rows.append([item.image_id, relative.as_posix(), width, height, item.split, item.label, source, mode, sha])
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


__all__ = [
    "BUILTIN_DATASETS",
    "DatasetError",
    "ImageFileError",
    "MANIFEST_COLUMNS",
    "SOURCES",
    "SPLITS",
    "SourceImage",
    "image_files",
    "prepare_dataset",
    "read_manifest",
    "read_split",
]
