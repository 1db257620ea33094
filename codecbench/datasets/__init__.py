"""Datasets: resolve a config entry (source builtin | local | url) to normalised images plus a manifest.

A prepared dataset is ``<dir>/images/<image_id>.png`` (8-bit RGB, see :mod:`.normalize` for how other inputs are
converted) and ``<dir>/manifest.csv`` with one row per image.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from ..io import write_csv_atomic, write_rgb_png
from .builtin import BUILTIN_DATASETS
from .download import fetch
from .normalize import ImageFileError, load_normalized

log = logging.getLogger(__name__)

SOURCES = ("builtin", "local", "url")
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".gif"}
)
MANIFEST_COLUMNS = ["image_id", "file", "width", "height", "split", "source", "source_mode", "source_sha256"]


class DatasetError(ValueError):
    """A dataset cannot be prepared; the message names the dataset, the culprit and the fix."""


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


def _file_images(dataset: str, folder: Path) -> Iterator[tuple[str, np.ndarray, str, str, str]]:
    files = image_files(folder)
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DatasetError(f"dataset {dataset!r}: no image files ({suffixes}) under {folder}")
    return _load_files(dataset, [(path.relative_to(folder), path) for path in files])


def _load_files(dataset: str, files: list[tuple[Path, Path]]) -> Iterator[tuple[str, np.ndarray, str, str, str]]:
    """Images of (relative name, path) pairs; the id comes from the relative name and must be unique."""
    seen: dict[str, Path] = {}
    for relative, path in files:
        image_id = image_id_for(relative)
        if image_id in seen:
            raise DatasetError(
                f"dataset {dataset!r}: {seen[image_id]} and {path} both map to image id {image_id!r}; "
                "rename one of them"
            )
        seen[image_id] = path
    for image_id, path in seen.items():
        image, mode = load_normalized(path)
        yield image_id, image, str(path), mode, hashlib.sha256(path.read_bytes()).hexdigest()


def _downloaded_files(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> list[tuple[Path, Path]]:
    """Fetch each of ``files`` (name -> sha256) from ``base_url``; each is checked and cached on its own."""
    base_url = cfg["base_url"].rstrip("/") + "/"
    pairs = []
    for name, sha256 in cfg["files"].items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or relative.suffix.lower() not in IMAGE_SUFFIXES:
            raise DatasetError(
                f"dataset {dataset!r}: files entry {name!r} must be a relative image file name "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        folder = fetch(base_url + urllib.parse.quote(name), sha256, downloads_dir)
        (downloaded,) = folder.iterdir()  # an image is cached alone in its checksum's folder
        pairs.append((Path(name), downloaded))
    return sorted(pairs)


def _builtin_images(name: str) -> Iterator[tuple[str, np.ndarray, str, str, str]]:
    for image_id, image, origin in BUILTIN_DATASETS[name]():
        yield image_id, np.ascontiguousarray(image, dtype=np.uint8), origin, "RGB", ""


def iter_source_images(dataset: str, cfg: dict[str, Any], downloads_dir: Path):
    """Yield (image_id, uint8 RGB array, source, source mode, source sha256) for a dataset config entry."""
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
        return _file_images(dataset, folder)
    if source == "url" and "files" in cfg:
        return _load_files(dataset, _downloaded_files(dataset, cfg, downloads_dir))
    if source == "url":
        root = fetch(cfg["url"], cfg["sha256"], downloads_dir)
        folder = root / cfg["subdir"] if cfg.get("subdir") else root
        if not folder.is_dir():
            raise DatasetError(
                f"dataset {dataset!r}: subdir {cfg['subdir']!r} is not in the download from {cfg['url']}"
            )
        return _file_images(dataset, folder)
    raise DatasetError(f"dataset {dataset!r}: unknown source {source!r} (known: {', '.join(SOURCES)})")


def prepare_dataset(dataset: str, cfg: dict[str, Any], out_dir: str | Path, downloads_dir: str | Path) -> pd.DataFrame:
    """Write normalised images and ``manifest.csv`` for one dataset; return the manifest."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    rows = []
    images = itertools.islice(iter_source_images(dataset, cfg, Path(downloads_dir)), cfg.get("max_images"))
    for image_id, image, source, mode, sha in tqdm(images, desc=f"prepare {dataset}", unit="img", mininterval=5):
        relative = Path("images") / f"{image_id}.png"
        write_rgb_png(out_dir / relative, image)
        height, width = image.shape[:2]
        rows.append([image_id, relative.as_posix(), width, height, "test", source, mode, sha])
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_csv_atomic(manifest, out_dir / "manifest.csv")
    log.info("dataset %s: %d images written to %s", dataset, len(manifest), out_dir)
    return manifest


def read_manifest(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"image_id": str, "source_sha256": str}, keep_default_na=False)


__all__ = [
    "BUILTIN_DATASETS",
    "DatasetError",
    "ImageFileError",
    "SOURCES",
    "image_files",
    "prepare_dataset",
    "read_manifest",
]
