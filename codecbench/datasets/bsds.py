"""BSDS500 (the Berkeley Segmentation Data Set and Benchmarks 500, ``BSR_bsds500.tgz``): photographs with the
boundary maps of 4-9 human annotators each, for the edge-detection task.

The archive (about 70 MB) has no published checksum, so the config must give its ``sha256`` (or a local ``path``, see
:func:`.video.verified_archive`); it is cached packed and read in one pass over the tar, within the dataset's
``archive_limits`` (every member's header is counted, :class:`~.download.ArchiveBudget`, before it is read), keeping
only the members of the BSDS splits used: ``BSR/BSDS500/data/images/<split>/<id>.jpg`` and
``BSR/BSDS500/data/groundTruth/<split>/<id>.mat``. The ``splits`` option maps our splits to BSDS's (train 200, val 100,
test 200 images): by default ``{train: [train], test: [test]}``; a value may be one name or a list. Image ids are BSDS's
(``100007``), in id order within each split. Each image's edges are the ``Boundaries`` of every annotator in its
``groundTruth`` cell array (MATLAB: ``groundTruth{k}.Boundaries``), one layer each; the images are unlabelled otherwise.
The images are read with the dataset's ``max_pixels`` and ``multi_frame`` (see :mod:`.normalize`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import SPLITS, DatasetError, ImageRead, SourceImage, SourceSet
from .download import ArchiveBudget, archive_limits
from .normalize import ImageOptions, image_options, load_normalized
from .sources import DatasetSource, check_sha256_or_path, register_source
from .video import archive_where, verified_archive

BSDS500_URL = "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
BSDS500_SPLITS = ("train", "val", "test")
BSDS500_DEFAULT_SPLITS = {"train": ["train"], "test": ["test"]}
_MEMBER = re.compile(r"(?:^|/)BSDS500/data/(images|groundTruth)/(train|val|test)/([^/]+)\.(jpg|mat)$")


def _split_map(dataset: str, cfg: dict[str, Any]) -> dict[str, str]:
    """BSDS split -> our split, from the ``splits`` option."""
    mapping = cfg.get("splits", BSDS500_DEFAULT_SPLITS)
    if not isinstance(mapping, dict) or not set(mapping) <= set(SPLITS):
        raise DatasetError(
            f"dataset {dataset!r}: splits must map {' and/or '.join(SPLITS)} to BSDS splits "
            f"({', '.join(BSDS500_SPLITS)}), not {mapping!r}"
        )
    ours: dict[str, str] = {}
    for split, names in mapping.items():
        for name in [names] if isinstance(names, str) else list(names or []):
            if name not in BSDS500_SPLITS or name in ours:
                raise DatasetError(
                    f"dataset {dataset!r}: splits.{split} names {name!r}: each of {', '.join(BSDS500_SPLITS)} may "
                    "be used once at most"
                )
            ours[name] = split
    if not ours:
        raise DatasetError(f"dataset {dataset!r}: splits names no BSDS split")
    return ours


def read_boundaries(data: bytes, where: str) -> np.ndarray:
    """The (annotators, height, width) bool maps of a BSDS groundTruth .mat file's ``Boundaries``."""
    from scipy.io import loadmat

    try:
        cells = loadmat(io.BytesIO(data))["groundTruth"]
        maps = []
        for cell in np.asarray(cells, dtype=object).ravel():
            entry = cell
            while isinstance(entry, np.ndarray) and entry.dtype == object and entry.size == 1:
                entry = entry.item()
            boundaries = np.asarray(entry["Boundaries"])
            while boundaries.dtype == object and boundaries.size == 1:  # a 1x1 struct's field
                boundaries = np.asarray(boundaries.item())
            maps.append(np.asarray(boundaries).squeeze() != 0)
        stacked = np.stack(maps)
    except (KeyError, ValueError, TypeError, IndexError, NotImplementedError) as exc:
        raise DatasetError(
            f"cannot read the boundaries of {where}: {type(exc).__name__}: {exc}; expected a groundTruth cell array "
            "of structs with a Boundaries field"
        ) from exc
    if stacked.ndim != 3:
        raise DatasetError(f"{where}: boundaries of shape {stacked.shape}, expected (annotators, height, width)")
    return stacked


def _read(where: str, data: bytes, options: ImageOptions) -> ImageRead:
    # The boundaries refer to the stored pixels.
    image, mode = load_normalized(where, data, upright=False, options=options)
    return image, where, mode, hashlib.sha256(data).hexdigest()


def _edges(dataset: str, where: str, data: bytes, width: int, height: int) -> np.ndarray:
    try:
        return read_boundaries(data, where)
    except DatasetError as exc:
        raise DatasetError(f"dataset {dataset!r}: {exc}") from exc


def bsds500_images(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> Iterator[SourceImage]:
    """The images of the mapped BSDS splits with their boundary maps (see the module docstring)."""
    ours = _split_map(dataset, cfg)
    limits, options = archive_limits(dataset, cfg), image_options(dataset, cfg)
    archive = verified_archive(dataset, cfg, BSDS500_URL, "BSDS500", downloads_dir)
    budget = ArchiveBudget(limits, archive_where(dataset, cfg, BSDS500_URL, "BSDS500", archive), archive.stat().st_size)
    members: dict[tuple[str, str, str], tuple[str, bytes]] = {}  # (kind, BSDS split, id) -> (name, content)
    try:
        with tarfile.open(archive) as tar:
            for member in tar:  # each header is counted before its member is read (or skipped)
                budget.declare(member.name, member.size if member.isreg() else 0)
                match = _MEMBER.search(member.name)
                if member.isfile() and match and match[2] in ours:
                    kind, split, stem = match[1], match[2], match[3]
                    handle = tar.extractfile(member)
                    data = budget.copy(handle, None, member.name, member.size) if handle else b""
                    members[(kind, split, stem)] = (member.name, data or b"")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(f"dataset {dataset!r}: cannot read the BSDS500 archive {archive.name}: {exc}") from exc
    images = sorted((ours[split], split, stem) for kind, split, stem in members if kind == "images")
    if not images:
        raise DatasetError(
            f"dataset {dataset!r}: {archive.name} has no BSDS500/data/images/<split>/*.jpg of the splits "
            f"{', '.join(ours)}; it is not BSR_bsds500.tgz (or an archive laid out like it)"
        )
    order = {split: index for index, split in enumerate(SPLITS)}
    images.sort(key=lambda entry: (order[entry[0]], entry[2]))
    name = archive.name
    for our_split, split, stem in images:
        image_name, image_data = members[("images", split, stem)]
        truth = members.get(("groundTruth", split, stem))
        if truth is None:
            raise DatasetError(
                f"dataset {dataset!r}: {image_name} has no ground truth groundTruth/{split}/{stem}.mat in {name}"
            )
        read = functools.partial(_read, f"{image_name} in {name}", image_data, options)
        edges = functools.partial(_edges, dataset, f"{truth[0]} in {name}", truth[1])
        yield SourceImage(stem, our_split, "", read, edges=edges)


def _bsds500_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    return SourceSet(bsds500_images(dataset, cfg, downloads_dir))


register_source(
    DatasetSource(
        name="bsds500",
        description="the Berkeley segmentation benchmark BSDS500: photographs and every annotator's boundary maps",
        read=_bsds500_set,
        annotations=("edges",),
        check=check_sha256_or_path,
        notes="""
            Keys: `sha256` (or `path`), optional `url`, `splits`. The archive `BSR_bsds500.tgz` has no published
            checksum: give the sha256 of the copy you trust. Its images come with every annotator's boundary map
            (`groundTruth{k}.Boundaries`), the edge ground truth.
        """,
    )
)
