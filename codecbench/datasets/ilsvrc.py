"""ILSVRC2012 validation (ImageNet's 50,000 labelled validation images) from its two official archives, for the
``imagenet_classification`` task.

``path`` is the images archive ``ILSVRC2012_img_val.tar`` (``ILSVRC2012_val_00000001.JPEG`` ...), ``devkit`` the
development kit ``ILSVRC2012_devkit_t12.tar.gz``, whose ``data/ILSVRC2012_validation_ground_truth.txt`` gives each
image's ILSVRC2012 class id (line k for image k) and ``data/meta.mat`` maps those ids to WordNet ids (the labels
here, e.g. ``n01751748``). ImageNet's terms allow no anonymous download, so both are local files. Each is checked
before use: against ``sha256`` / ``devkit_sha256`` when given, otherwise against the MD5 the ImageNet site
publishes (read from torchvision, which checks the same). Every image is a test image, in id order, so
``max_images`` takes the first N; only the images kept are read from the tar, and every member's header is counted
against ``archive_limits``.
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

from ..io import file_digest
from . import DatasetError, ImageRead, SourceImage, SourceSet
from .download import ArchiveBudget, archive_limits
from .normalize import ImageOptions, image_options, load_normalized
from .sources import DatasetSource, register_source

IMAGES_NAME, DEVKIT_NAME = "ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz"
GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
META = "data/meta.mat"
_IMAGE = re.compile(r"(?:^|/)ILSVRC2012_val_(\d{8})\.JPEG$")


def published_md5(archive: str) -> str:
    """The MD5 that image-net.org publishes for ``archive`` ("val" or "devkit"), as torchvision checks it."""
    from torchvision.datasets.imagenet import ARCHIVE_META

    return ARCHIVE_META[archive][1]


def verified_file(dataset: str, path_key: str, sha_key: str, cfg: dict[str, Any], published: str) -> Path:
    """The local archive ``cfg[path_key]``, checked against ``cfg[sha_key]`` (sha256) or, without it, against
    the ``published`` MD5 of the official file; a mismatch names the file, both digests and the key to fix."""
    if not cfg.get(path_key):
        raise DatasetError(f"dataset {dataset!r}: source ilsvrc2012_val needs datasets.{dataset}.{path_key}")
    path = Path(cfg[path_key]).expanduser()
    if not path.is_file():
        raise DatasetError(f"dataset {dataset!r}: {path} is not a file; fix datasets.{dataset}.{path_key}")
    expected = cfg.get(sha_key)
    algorithm = "sha256" if expected else "md5"
    actual = file_digest(path, algorithm)
    if actual != (expected or published).lower():
        what = f"datasets.{dataset}.{sha_key} ({expected})" if expected else f"the official file's MD5 ({published})"
        raise DatasetError(
            f"dataset {dataset!r}: {path} does not match {what}: its {algorithm} is {actual}; replace "
            f"the file, or give the sha256 of the copy you trust as datasets.{dataset}.{sha_key}"
        )
    return path


def wordnet_ids_by_class_id(meta: bytes, where: str) -> dict[int, str]:
    """ILSVRC2012 class id (1-1000) -> WordNet id, from the devkit's meta.mat: its ``synsets`` leaves (no
    children)."""
    from scipy.io import loadmat

    try:
        synsets = loadmat(io.BytesIO(meta), squeeze_me=True)["synsets"]
        ids = {
            int(entry["ILSVRC2012_ID"]): str(entry["WNID"])
            for entry in np.atleast_1d(synsets)
            if int(entry["num_children"]) == 0
        }
    except (KeyError, ValueError, TypeError, IndexError, NotImplementedError) as exc:
        raise DatasetError(
            f"cannot read the classes of {where}: {type(exc).__name__}: {exc}; expected a synsets struct array with "
            "ILSVRC2012_ID, WNID and num_children"
        ) from exc
    if not ids:
        raise DatasetError(f"{where}: its synsets hold no leaf class")
    return ids


def validation_labels(dataset: str, devkit: Path, budget: ArchiveBudget) -> list[str]:
    """The WordNet id of validation image 1, 2, ...: the devkit's ground truth mapped through its meta.mat."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(devkit) as tar:
            for member in tar:
                budget.declare(member.name, member.size if member.isreg() else 0)
                wanted = next((name for name in (GROUND_TRUTH, META) if member.name.endswith("/" + name)), None)
                if member.isfile() and wanted:
                    handle = tar.extractfile(member)
                    found[wanted] = (budget.copy(handle, None, member.name, member.size) if handle else b"") or b""
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(f"dataset {dataset!r}: cannot read the devkit {devkit}: {exc}") from exc
    missing = [name for name in (GROUND_TRUTH, META) if name not in found]
    if missing:
        raise DatasetError(
            f"dataset {dataset!r}: {devkit} has no {' or '.join(missing)}; it is not {DEVKIT_NAME} (give it as "
            f"datasets.{dataset}.devkit)"
        )
    wnids = wordnet_ids_by_class_id(found[META], f"{META} in {devkit.name}")
    labels = []
    for line_number, line in enumerate(found[GROUND_TRUTH].decode().split(), start=1):
        class_id = int(line) if line.isdigit() else None
        if class_id not in wnids:
            raise DatasetError(
                f"dataset {dataset!r}: {GROUND_TRUTH} in {devkit.name}, line {line_number}: {line!r} is not a class "
                f"id of its meta.mat (1-{max(wnids)})"
            )
        labels.append(wnids[class_id])
    return labels


def _read(images: Path, member: tarfile.TarInfo, where: str, options: ImageOptions) -> ImageRead:
    with tarfile.open(images) as tar:
        handle = tar.extractfile(member)
        data = handle.read() if handle else b""
    image, mode = load_normalized(where, data, options=options)
    return image, where, mode, hashlib.sha256(data).hexdigest()


def ilsvrc2012_val_images(dataset: str, cfg: dict[str, Any]) -> Iterator[SourceImage]:
    """The validation images with their WordNet-id labels (see the module docstring)."""
    images = verified_file(dataset, "path", "sha256", cfg, published_md5("val"))
    devkit = verified_file(dataset, "devkit", "devkit_sha256", cfg, published_md5("devkit"))
    limits, options = archive_limits(dataset, cfg), image_options(dataset, cfg)
    labels = validation_labels(dataset, devkit, ArchiveBudget(limits, f"dataset {dataset!r}: {devkit}", 0))
    budget = ArchiveBudget(limits, f"dataset {dataset!r}: {images}", images.stat().st_size)
    members: dict[int, tarfile.TarInfo] = {}
    try:
        with tarfile.open(images) as tar:
            for member in tar:  # headers only: the images are read when kept
                budget.declare(member.name, member.size if member.isreg() else 0)
                match = _IMAGE.search(member.name)
                if member.isfile() and match:
                    members[int(match[1])] = member
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(f"dataset {dataset!r}: cannot read the images archive {images}: {exc}") from exc
    if not members:
        raise DatasetError(
            f"dataset {dataset!r}: {images} holds no ILSVRC2012_val_<8 digits>.JPEG; it is not {IMAGES_NAME}"
        )
    for number in sorted(members):
        if number > len(labels):
            raise DatasetError(
                f"dataset {dataset!r}: {members[number].name} in {images.name} has no ground truth: the devkit's "
                f"{GROUND_TRUTH} has {len(labels)} lines; the two archives do not belong together"
            )
        where = f"{members[number].name} in {images.name}"
        stem = f"ILSVRC2012_val_{number:08d}"
        read = functools.partial(_read, images, members[number], where, options)
        yield SourceImage(stem, "test", labels[number - 1], read)


def _ilsvrc2012_val_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    return SourceSet(ilsvrc2012_val_images(dataset, cfg))


def _check(dataset: str, entry: dict[str, Any]) -> list[str]:
    return [
        f"datasets.{dataset}: source ilsvrc2012_val needs {key} (the local {name})"
        for key, name in (("path", IMAGES_NAME), ("devkit", DEVKIT_NAME))
        if not entry.get(key)
    ]


register_source(
    DatasetSource(
        name="ilsvrc2012_val",
        description="ImageNet's ILSVRC2012 validation set from its official archives, labelled with WordNet ids",
        read=_ilsvrc2012_val_set,
        annotations=("classes",),
        check=_check,
        options={
            "devkit": {"type": "string", "description": f"the local {DEVKIT_NAME} (the validation ground truth)"},
            "devkit_sha256": {
                "type": "string",
                "pattern": "^[0-9a-fA-F]{64}$",
                "description": "the devkit's sha256; without it the file is checked against its published MD5",
            },
        },
        notes=f"""
            Keys: `path` (the local `{IMAGES_NAME}`), `devkit` (the local `{DEVKIT_NAME}`), optional `sha256`,
            `devkit_sha256`, `max_images`. Each archive is checked against the given sha256, or else against the
            MD5 that image-net.org publishes. Labels are WordNet ids (`n01751748`), from the devkit's ground truth
            and `meta.mat`; every image is a test image, in id order. The images tar is read member by member, only
            the images kept by `max_images`.
        """,
    )
)
