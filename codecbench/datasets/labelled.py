"""Labelled datasets with train/test splits: CIFAR-10 (the official python archive) and class folders.

CIFAR-10 ships as python pickles. Pickle can run code, so it is only ever used on the batch files of an archive whose
sha256 :func:`~.download.fetch` verified (the official one unless the config names another url + sha256), and even
then through an unpickler that builds nothing but plain data and numpy arrays.
"""

from __future__ import annotations

import pickle
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import DatasetError, SourceImage, SourceSet, file_images, image_files, in_memory
from .download import archive_limits, fetch
from .normalize import image_options
from .sources import DatasetSource, check_path_is_folder, register_source

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_SIDE = 32
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_SEED = 0


class _ArrayUnpickler(pickle.Unpickler):
    """Builds plain data and numpy arrays only; a pickle naming any other global is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(dataset: str, path: Path, keys: tuple[bytes, ...]) -> dict[bytes, Any]:
    """Load one CIFAR-10 pickle (a dict with bytes keys) and check that it holds ``keys``."""
    if not path.is_file():
        raise DatasetError(
            f"dataset {dataset!r}: {path.name} is missing from the CIFAR-10 download ({path.parent}); "
            "check that url names the python version of the archive (cifar-10-python.tar.gz)"
        )
    try:
        with path.open("rb") as handle:
            content = _ArrayUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DatasetError(f"dataset {dataset!r}: cannot read CIFAR-10 file {path}: {exc}") from exc
    missing = [key.decode() for key in keys if not isinstance(content, dict) or key not in content]
    if missing:
        raise DatasetError(f"dataset {dataset!r}: CIFAR-10 file {path} lacks {', '.join(missing)}")
    return content


def _cifar10_batch(dataset: str, path: Path, classes: int) -> tuple[np.ndarray, list[int], list[str]]:
    """A batch's images (N x 32 x 32 x 3 uint8), class indices and file names, checked for shape and range."""
    content = _unpickle(dataset, path, (b"data", b"labels", b"filenames"))
    data, labels, names = np.asarray(content[b"data"]), list(content[b"labels"]), list(content[b"filenames"])
    size = 3 * CIFAR10_SIDE * CIFAR10_SIDE
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size or not len(data) == len(labels) == len(names):
        raise DatasetError(
            f"dataset {dataset!r}: CIFAR-10 file {path} holds data of shape {data.shape} ({data.dtype}) with "
            f"{len(labels)} labels and {len(names)} file names; expected N x {size} uint8 and N of each"
        )
    if any(not 0 <= label < classes for label in labels):
        raise DatasetError(f"dataset {dataset!r}: CIFAR-10 file {path} has labels outside 0..{classes - 1}")
    # Each row is three channel-major 32x32 planes, R then G then B.
    images = data.reshape(-1, 3, CIFAR10_SIDE, CIFAR10_SIDE).transpose(0, 2, 3, 1)
    return images, [int(label) for label in labels], [name.decode() for name in names]


def _cifar10_batches(dataset: str, root: Path) -> dict[str, list[str]]:
    """Split -> its batch files: data_batch_1..N (5 in the official archive) for train, test_batch for test."""
    if not root.is_dir():
        raise DatasetError(
            f"dataset {dataset!r}: the CIFAR-10 download has no folder {root.name} ({root.parent}); "
            "check that url names the python version of the archive (cifar-10-python.tar.gz)"
        )
    numbers = sorted(int(m[1]) for path in root.iterdir() if (m := re.fullmatch(r"data_batch_(\d+)", path.name)))
    if not numbers:
        raise DatasetError(f"dataset {dataset!r}: no data_batch_<n> files in the CIFAR-10 download ({root})")
    return {"train": [f"data_batch_{n}" for n in numbers], "test": ["test_batch"]}


def cifar10_images(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> Iterator[SourceImage]:
    """CIFAR-10's 50,000 train and 10,000 test images, labelled with class names, ids ``train__00000`` and
    ``test__00000`` onwards in batch order; ``url`` and ``sha256`` override the official archive."""
    sha256 = cfg.get("sha256", CIFAR10_SHA256)
    limits = archive_limits(dataset, cfg)
    root = fetch(cfg.get("url", CIFAR10_URL), sha256, downloads_dir, limits=limits) / CIFAR10_FOLDER
    batches = _cifar10_batches(dataset, root)
    classes = [name.decode() for name in _unpickle(dataset, root / "batches.meta", (b"label_names",))[b"label_names"]]
    for split, names in batches.items():
        index = 0
        for batch in names:
            images, labels, files = _cifar10_batch(dataset, root / batch, len(classes))
            for row, (image, label, file) in enumerate(zip(images, labels, files, strict=True)):
                source = f"{CIFAR10_FOLDER}/{batch} image {row} ({file})"
                yield SourceImage(f"{split}__{index:05d}", split, classes[label], in_memory(image, source, sha256))
                index += 1


def _class_files(dataset: str, folder: Path) -> dict[str, list[Path]]:
    """Class name -> its image files (searched recursively) for a folder with one sub-folder per class."""
    stray = [path.name for path in image_files(folder, dataset) if path.parent == folder]
    if stray:
        raise DatasetError(
            f"dataset {dataset!r}: images directly in {folder} belong to no class ({', '.join(stray[:3])}); "
            "move them into a sub-folder named after their class"
        )
    classes = {}
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and not sub.name.startswith("."):
            classes[sub.name] = image_files(sub, dataset)
            if not classes[sub.name]:
                raise DatasetError(f"dataset {dataset!r}: class {sub.name!r} has no images in {sub}")
    if not classes:
        raise DatasetError(f"dataset {dataset!r}: {folder} has no class sub-folders (one per class, named after it)")
    return classes


def _seeded_split(
    dataset: str, folder: Path, classes: dict[str, list[Path]], fraction: float, seed: int
) -> list[tuple[Path, str, str]]:
    """Per class, round(n x fraction) images (at least 1, at most n - 1) go to test, drawn by a seeded shuffle."""
    entries = []
    for label, files in classes.items():
        if len(files) < 2:
            raise DatasetError(
                f"dataset {dataset!r}: class {label!r} in {folder / label} has only {len(files)} image; a train/test "
                "split needs at least 2 per class"
            )
        n_test = min(max(int(len(files) * fraction + 0.5), 1), len(files) - 1)
        # Seeded per class (RandomState's stream never changes), so adding a class leaves the others' splits alone.
        order = np.random.RandomState([seed, zlib.crc32(label.encode())]).permutation(len(files))
        test = set(order[:n_test].tolist())
        entries += [(path, "test" if i in test else "train", label) for i, path in enumerate(files)]
    return entries


def folder_images(dataset: str, cfg: dict[str, Any]) -> list[SourceImage]:
    """Images of a folder with one sub-folder per class (class name = folder name, images found recursively).

    If the folder holds exactly ``train/`` and ``test/`` (each with the same class sub-folders) those are the splits;
    otherwise each class is split on its own by ``test_fraction`` (default 0.2) with ``seed`` (default 0).
    """
    root = Path(cfg["path"]).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset {dataset!r}: folder path {root} is not a folder; fix datasets.{dataset}.path")
    subs = {path.name for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")}
    if subs == {"train", "test"}:
        train, test = _class_files(dataset, root / "train"), _class_files(dataset, root / "test")
        if set(train) != set(test):
            only = {"train": sorted(set(train) - set(test)), "test": sorted(set(test) - set(train))}
            described = "; ".join(
                f"only in {root / split}: {', '.join(names)}" for split, names in only.items() if names
            )
            raise DatasetError(f"dataset {dataset!r}: train and test must have the same classes ({described})")
        entries = [
            (path, split, label)
            for split, classes in (("train", train), ("test", test))
            for label, files in classes.items()
            for path in files
        ]
    elif subs & {"train", "test"}:
        raise DatasetError(
            f"dataset {dataset!r}: {root} mixes train/ or test/ with other folders ({', '.join(sorted(subs))}); "
            "give it exactly train/ and test/ (each with class folders), or class folders only"
        )
    else:
        fraction, seed = cfg.get("test_fraction", DEFAULT_TEST_FRACTION), cfg.get("seed", DEFAULT_SEED)
        entries = _seeded_split(dataset, root, _class_files(dataset, root), fraction, seed)
    entries.sort(key=lambda entry: entry[0])  # id order: by path below the folder
    entries_below = [(path.relative_to(root), path, split, label) for path, split, label in entries]
    return file_images(dataset, entries_below, image_options(dataset, cfg))


# ---- the sources --------------------------------------------------------------------------------------------------


def _cifar10_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    return SourceSet(cifar10_images(dataset, cfg, downloads_dir))


register_source(
    DatasetSource(
        name="cifar10",
        description="the official CIFAR-10 python archive: 50,000 train and 10,000 test images with class labels",
        read=_cifar10_set,
        annotations=("classes",),
        train_split=True,
        notes="""
            Optional keys: `url`, `sha256`. The archive is sha256-checked; its images are 32x32, labelled with their
            class names. Only the archive's batch files are unpickled, by an unpickler that accepts nothing but
            arrays.
        """,
    )
)


def _is_text_folder(entry: dict[str, Any]) -> bool:
    return bool(entry.get("labels_file"))


def _folder_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    if _is_text_folder(cfg):
        # Imported here: at the top it would register coco and yolo before the sources of this module.
        from .annotated import text_folder_images

        return SourceSet(text_folder_images(dataset, cfg))
    return SourceSet(folder_images(dataset, cfg))


register_source(
    DatasetSource(
        name="folder",
        description="one sub-folder per class (given or seeded train/test splits); with labels_file: test images "
        "labelled with their text (OCR)",
        read=_folder_set,
        annotations=lambda entry, _dataset: ("text",) if _is_text_folder(entry) else ("classes",),
        train_split=lambda entry, _dataset: not _is_text_folder(entry),
        check=check_path_is_folder,
        offers={"classes": "source folder", "text": "source folder with labels_file"},
        notes="""
            Classes: keys `path`, optional `test_fraction`, `seed`. One sub-folder per class (its name is the label);
            with exactly `train/` and `test/` sub-folders those are the splits, otherwise each class is split with the
            seed.

            Text (OCR crops): keys `path`, `labels_file` (its formats under the keys below); every image needs a
            non-empty text; all test.
        """,
    )
)
