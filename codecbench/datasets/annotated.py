"""Datasets annotated with objects or text: COCO val2017 (the official archives), YOLO-format folders and folders of
images with a text labels file (OCR).

* **coco**: the images of ``val2017.zip`` with the boxes of ``annotations/instances_val2017.json`` from
  ``annotations_trainval2017.zip``, all split "test" (val2017 is COCO's evaluation set), ids the file stems
  (``000000000139``) in image-id order, so ``max_images`` takes the first N image ids. Both archives are verified
  by sha256 (the official files' by default), cached packed and read member by member: only the images prepared are
  decoded, within the dataset's ``archive_limits`` (:class:`~.download.BoundedZipFile`). Classes are the 80
  category names in category-id order. COCO's ``[x, y, w, h]`` boxes become
  ``x_min = x, x_max = x + w`` (likewise y), clipped to the image; crowd annotations (``iscrowd``: one box over a
  group of objects) are dropped, as COCO's own evaluation ignores them, and so are boxes of zero area. Images without
  annotations are kept (without objects). COCO's boxes and sizes refer to the stored pixels, so an image's EXIF
  orientation tag is not applied (a few val2017 JPEGs have one), and a decoded size other than the annotated one is
  an error.
* **yolo**: ``<path>/images/{train,val,test}/`` (``valid`` too) with ``<path>/labels/<same>/<stem>.txt`` files of
  ``class cx cy w h`` lines (normalised to 0..1); train is "train", val/valid/test are "test". An image without a
  label file has no objects. Class names come from ``classes`` in the config, else from ``names`` (a list, or a dict
  index -> name) in ``<path>/data.yaml``. Boxes are converted to pixels of the image as read (EXIF orientation
  applied, as YOLO tools do) and clipped to it.
* **folder with labels_file**: every image below ``path`` and its text from ``labels_file``, a CSV or tab-separated
  file with a header naming columns ``file`` and ``text``, or PaddleOCR's ``<file><TAB><text>`` lines without a
  header (``rec_gt.txt``); file names are relative to ``path``. All split "test"; the text is kept exactly.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from . import (
    IMAGE_SUFFIXES,
    DatasetError,
    ImageRead,
    ObjectBox,
    SourceImage,
    SourceSet,
    file_images,
    image_files,
    image_id_for,
)
from .download import ArchiveLimits, BoundedZipFile, archive_limits, fetch
from .normalize import ImageOptions, image_options, load_normalized
from .sources import DatasetSource, register_source

COCO_IMAGES_URL = "http://images.cocodataset.org/zips/val2017.zip"
COCO_ANNOTATIONS_URL = "http://images.cocodataset.org/annotations/annotations_trainval2017.zip"
# The official archives' checksums, as torchvision's COCO dataset pins them (and other projects confirm).
COCO_IMAGES_SHA256 = "4f7e2ccb2866ec5041993c9cf2a952bbed69647b115d0f74da7ce8f4bef82f05"
COCO_ANNOTATIONS_SHA256 = "113a836d90195ee1f884e704da6304dfaaecff1f023f49b6ca93c4aaae470268"
COCO_INSTANCES = "annotations/instances_val2017.json"

YOLO_SPLITS = {"train": "train", "val": "test", "valid": "test", "test": "test"}
YOLO_DATA_FILE = "data.yaml"
YoloLabel = tuple[str, float, float, float, float]  # class name, cx, cy, w, h (normalised)


# ---- COCO -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CocoArchive:
    """A cached, verified (not unpacked) COCO archive, whose members are read within the dataset's limits."""

    path: Path
    limits: ArchiveLimits
    where: str  # the dataset, the archive's file and URL: for errors

    def open(self) -> BoundedZipFile:
        return BoundedZipFile(self.path, self.limits, self.where)


def _coco_archive(
    dataset: str, cfg: dict[str, Any], kind: str, url: str, sha256: str, downloads_dir: Path
) -> _CocoArchive:
    """The archive of ``kind`` ("images" or "annotations")."""
    if f"{kind}_url" in cfg and f"{kind}_sha256" not in cfg:
        raise DatasetError(
            f"dataset {dataset!r}: {kind}_url is given without {kind}_sha256; add the sha256 of that file "
            f"(datasets.{dataset}.{kind}_sha256)"
        )
    url = cfg.get(f"{kind}_url", url)
    folder = fetch(url, cfg.get(f"{kind}_sha256", sha256), downloads_dir, unpack=False)
    (archive,) = folder.iterdir()  # a packed download is cached alone in its folder
    if not zipfile.is_zipfile(archive):
        raise DatasetError(f"dataset {dataset!r}: the COCO {kind} download {archive.name} is not a zip archive")
    where = f"dataset {dataset!r}: the COCO {kind} archive {archive} from {url}"
    return _CocoArchive(archive, archive_limits(dataset, cfg), where)


def _coco_instances(dataset: str, source: _CocoArchive) -> dict[str, Any]:
    archive = source.path
    try:
        with source.open() as members:
            content = json.loads(members.read(COCO_INSTANCES))
    except KeyError as exc:
        raise DatasetError(
            f"dataset {dataset!r}: {COCO_INSTANCES} is not in the COCO annotations archive {archive.name}; "
            "annotations_url must name annotations_trainval2017.zip (or an archive laid out like it)"
        ) from exc
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DatasetError(f"dataset {dataset!r}: cannot read {COCO_INSTANCES} from {archive.name}: {exc}") from exc
    if not isinstance(content, dict) or not all(
        isinstance(content.get(key), list) for key in ("images", "annotations", "categories")
    ):
        raise DatasetError(
            f"dataset {dataset!r}: {COCO_INSTANCES} in {archive.name} is not in COCO's instances format "
            "(a dict with lists images, annotations and categories)"
        )
    return content


def _coco_boxes(
    dataset: str, content: dict[str, Any], names: dict[int, str], sizes: dict[int, tuple[int, int]]
) -> dict[int, list[ObjectBox]]:
    """Image id -> its boxes (crowds and empty boxes dropped, clipped to the image), in annotation order."""
    boxes: dict[int, list[ObjectBox]] = {}
    for annotation in content["annotations"]:
        try:
            image, category, crowd = annotation["image_id"], annotation["category_id"], annotation.get("iscrowd", 0)
            x, y, w, h = (float(v) for v in annotation["bbox"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(
                f"dataset {dataset!r}: COCO annotation {annotation.get('id', '?')} lacks image_id, category_id or "
                f"a bbox [x, y, w, h] ({type(exc).__name__}: {exc})"
            ) from exc
        if image not in sizes or category not in names:
            raise DatasetError(
                f"dataset {dataset!r}: COCO annotation {annotation.get('id', '?')} names image {image} or category "
                f"{category}, which the annotations file does not list"
            )
        if crowd:
            continue
        width, height = sizes[image]
        x_min, y_min, x_max, y_max = max(x, 0.0), max(y, 0.0), min(x + w, width), min(y + h, height)
        if x_min < x_max and y_min < y_max:
            boxes.setdefault(image, []).append(ObjectBox(names[category], x_min, y_min, x_max, y_max))
    return boxes


def _coco_read(
    dataset: str, archive: zipfile.ZipFile, member: str, size: tuple[int, int], options: ImageOptions
) -> ImageRead:
    data = archive.read(member)
    where = f"{member} in {Path(archive.filename or '').name}"
    image, mode = load_normalized(where, data, upright=False, options=options)  # boxes refer to the stored pixels
    if (image.shape[1], image.shape[0]) != size:
        raise DatasetError(
            f"dataset {dataset!r}: {where} is {image.shape[1]}x{image.shape[0]} but the annotations say "
            f"{size[0]}x{size[1]}; check that the images and annotations archives belong together"
        )
    return image, where, mode, hashlib.sha256(data).hexdigest()


def _coco_images(
    dataset: str,
    source: _CocoArchive,
    records: list[dict[str, Any]],
    boxes: dict[int, list[ObjectBox]],
    options: ImageOptions,
) -> Iterator[SourceImage]:
    """The images in image-id order; the archive stays open while they are listed (and read)."""
    archive_path = source.path
    with source.open() as archive:
        members = {PurePosixPath(name).name: name for name in archive.namelist() if not name.endswith("/")}
        for record in records:
            member = members.get(record["file_name"])
            if member is None:
                raise DatasetError(
                    f"dataset {dataset!r}: image {record['file_name']} (COCO id {record['id']}) is not in the images "
                    f"archive {archive_path.name}; images_url must name the archive of the annotated split (val2017)"
                )
            size = (record["width"], record["height"])
            read = functools.partial(_coco_read, dataset, archive, member, size, options)
            objects = tuple(boxes.get(record["id"], ()))
            image_id = image_id_for(Path(record["file_name"]))
            yield SourceImage(image_id, "test", "", read, lambda _w, _h, found=objects: found)


def coco_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    """COCO val2017 images with their boxes and the 80 class names (see the module docstring)."""
    annotations = _coco_archive(
        dataset, cfg, "annotations", COCO_ANNOTATIONS_URL, COCO_ANNOTATIONS_SHA256, downloads_dir
    )
    images = _coco_archive(dataset, cfg, "images", COCO_IMAGES_URL, COCO_IMAGES_SHA256, downloads_dir)
    content = _coco_instances(dataset, annotations)
    try:
        categories = sorted((int(c["id"]), str(c["name"])) for c in content["categories"])
        records = sorted(content["images"], key=lambda record: int(record["id"]))
        sizes = {record["id"]: (int(record["width"]), int(record["height"])) for record in records}
        for record in records:
            record["file_name"] = str(record["file_name"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(
            f"dataset {dataset!r}: {COCO_INSTANCES} has a category without id and name or an image without id, "
            f"file_name, width and height ({type(exc).__name__}: {exc})"
        ) from exc
    names = dict(categories)
    boxes = _coco_boxes(dataset, content, names, sizes)
    images_read = _coco_images(dataset, images, records, boxes, image_options(dataset, cfg))
    return SourceSet(images_read, [name for _, name in categories])


# ---- YOLO -------------------------------------------------------------------------------------------------------


def _yolo_classes(dataset: str, root: Path, cfg: dict[str, Any]) -> tuple[list[str], str]:
    """The class names and where they came from: ``classes`` in the config, else ``names`` in data.yaml."""
    if cfg.get("classes"):
        names, where = cfg["classes"], f"datasets.{dataset}.classes"
    else:
        import yaml

        path = root / YOLO_DATA_FILE
        where = str(path)
        if not path.is_file():
            raise DatasetError(
                f"dataset {dataset!r}: no class names: {path} is missing; add it (with names: [...]) or give "
                f"datasets.{dataset}.classes"
            )
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise DatasetError(f"dataset {dataset!r}: cannot read {path}: {exc}") from exc
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, dict):
            if sorted(names) != list(range(len(names))):
                raise DatasetError(
                    f"dataset {dataset!r}: names in {path} must be numbered 0..{len(names) - 1}, found keys "
                    f"{sorted(names, key=str)}"
                )
            names = [names[index] for index in range(len(names))]
        if not isinstance(names, list) or not names:
            raise DatasetError(
                f"dataset {dataset!r}: {path} has no names list (names: [a, b] or names: {{0: a, 1: b}}); add it "
                f"or give datasets.{dataset}.classes"
            )
    names = [str(name) for name in names]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates or any(not name.strip() or "\n" in name for name in names):
        raise DatasetError(
            f"dataset {dataset!r}: the class names in {where} must be unique, non-empty single lines "
            f"(duplicates: {', '.join(duplicates) or 'none'})"
        )
    return names, where


def _yolo_labels(dataset: str, path: Path, classes: list[str], where: str) -> list[YoloLabel]:
    """The (class, cx, cy, w, h) lines of one label file, checked."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"dataset {dataset!r}: cannot read label file {path}: {exc}") from exc
    labels = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise DatasetError(
                f"dataset {dataset!r}: {path} line {number}: expected 'class cx cy w h' (5 values), found "
                f"{len(fields)}; polygon (segmentation) labels are not supported"
            )
        try:
            index, values = int(fields[0]), [float(value) for value in fields[1:]]
        except ValueError as exc:
            raise DatasetError(
                f"dataset {dataset!r}: {path} line {number}: {line.strip()!r} is not an integer class and four numbers"
            ) from exc
        if not 0 <= index < len(classes):
            raise DatasetError(
                f"dataset {dataset!r}: {path} line {number}: class index {index} is outside 0..{len(classes) - 1} "
                f"({len(classes)} class names in {where}); fix the line or the class names"
            )
        cx, cy, w, h = values
        if not (all(0.0 <= value <= 1.0 for value in values) and w > 0 and h > 0):
            raise DatasetError(
                f"dataset {dataset!r}: {path} line {number}: cx cy w h must be normalised to 0..1 (w, h above 0), "
                f"found {' '.join(fields[1:])}"
            )
        labels.append((classes[index], cx, cy, w, h))
    return labels


def _yolo_boxes(labels: list[YoloLabel], width: int, height: int) -> list[ObjectBox]:
    """Normalised (class, cx, cy, w, h) as pixel boxes clipped to a width x height image."""
    return [
        ObjectBox(
            name,
            max((cx - w / 2) * width, 0.0),
            max((cy - h / 2) * height, 0.0),
            min((cx + w / 2) * width, float(width)),
            min((cy + h / 2) * height, float(height)),
        )
        for name, cx, cy, w, h in labels
    ]


def yolo_set(dataset: str, cfg: dict[str, Any]) -> SourceSet:
    """A YOLO-format folder's images, boxes and class names (see the module docstring)."""
    root = Path(cfg["path"]).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset {dataset!r}: yolo path {root} is not a folder; fix datasets.{dataset}.path")
    classes, where = _yolo_classes(dataset, root, cfg)
    images_root = root / "images"
    folders = sorted(p for p in images_root.iterdir() if p.is_dir()) if images_root.is_dir() else []
    folders = [p for p in folders if not p.name.startswith(".")]
    unknown = [p.name for p in folders if p.name not in YOLO_SPLITS]
    stray = (
        [p.name for p in image_files(images_root, dataset) if p.parent == images_root] if images_root.is_dir() else []
    )
    if not folders or unknown or stray:
        found = f"; found {', '.join(unknown + stray)}" if unknown or stray else ""
        raise DatasetError(
            f"dataset {dataset!r}: {images_root} must hold the split folders {', '.join(YOLO_SPLITS)} (any of them) "
            f"and nothing else{found}"
        )
    entries, labels = [], []
    for folder in folders:
        for path in image_files(folder, dataset):
            relative = path.relative_to(images_root)
            entries.append((relative, path, YOLO_SPLITS[folder.name], ""))
            label_file = root / "labels" / relative.with_suffix(".txt")
            labels.append(_yolo_labels(dataset, label_file, classes, where) if label_file.is_file() else [])
    if not entries:
        raise DatasetError(f"dataset {dataset!r}: no image files under {images_root}")
    images = [
        replace(image, objects=functools.partial(_yolo_boxes, found))
        for image, found in zip(file_images(dataset, entries, image_options(dataset, cfg)), labels, strict=True)
    ]
    return SourceSet(images, classes)


# ---- folders with a text labels file ----------------------------------------------------------------------------


def _label_rows(dataset: str, path: Path) -> list[tuple[int, str, str]]:
    """(line number, file, text) of a labels file: CSV or TSV with a file,text header, or headerless TSV lines."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"dataset {dataset!r}: cannot read labels_file {path}: {exc}") from exc
    lines = content.splitlines()
    first = next((line for line in lines if line.strip()), "")
    tab_header, csv_header = first.split("\t"), next(csv.reader([first]), [])
    if {"file", "text"} <= set(tab_header) or {"file", "text"} <= set(csv_header):
        delimiter = "\t" if {"file", "text"} <= set(tab_header) else ","
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        reader = csv.reader(io.StringIO(content), delimiter=delimiter, quoting=quoting)
        header = next(reader)
        while not header:
            header = next(reader)
        file_at, text_at = header.index("file"), header.index("text")
        rows = []
        for fields in reader:
            if not fields:
                continue
            if len(fields) <= max(file_at, text_at):
                raise DatasetError(
                    f"dataset {dataset!r}: {path} line {reader.line_num}: {len(fields)} columns, the header has "
                    f"{len(header)}"
                )
            rows.append((reader.line_num, fields[file_at], fields[text_at]))
        return rows
    if "\t" in first:  # PaddleOCR's rec_gt.txt: <file><TAB><text>, no header
        rows = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise DatasetError(f"dataset {dataset!r}: {path} line {number}: no tab between file and text")
            file, text = line.split("\t", 1)
            rows.append((number, file, text))
        return rows
    raise DatasetError(
        f"dataset {dataset!r}: labels_file {path} has neither a header naming columns file and text (CSV or "
        "tab-separated) nor '<file><TAB><text>' lines (PaddleOCR's rec_gt.txt); write it in one of these forms"
    )


def text_folder_images(dataset: str, cfg: dict[str, Any]) -> list[SourceImage]:
    """The images below ``path``, each labelled with its text from ``labels_file`` (see the module docstring)."""
    root = Path(cfg["path"]).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset {dataset!r}: folder path {root} is not a folder; fix datasets.{dataset}.path")
    labels_file = Path(cfg["labels_file"]).expanduser()
    if not labels_file.is_file():
        raise DatasetError(
            f"dataset {dataset!r}: labels_file {labels_file} is not a file; fix datasets.{dataset}.labels_file"
        )
    texts: dict[Path, tuple[int, str]] = {}
    for number, name, text in _label_rows(dataset, labels_file):
        where = f"{labels_file} line {number}"
        relative = PurePosixPath(name.strip())
        if not name.strip() or relative.is_absolute() or ".." in relative.parts:
            raise DatasetError(f"dataset {dataset!r}: {where}: file {name!r} must be a path relative to {root}")
        if relative.suffix.lower() not in IMAGE_SUFFIXES:
            raise DatasetError(f"dataset {dataset!r}: {where}: {name!r} is not an image file name")
        path = root / relative
        if not path.is_file():
            raise DatasetError(f"dataset {dataset!r}: {where}: {path} does not exist; fix the line or add the image")
        if path in texts:
            raise DatasetError(
                f"dataset {dataset!r}: {where}: {name!r} is labelled again (first on line "
                f"{texts[path][0]}); keep one label per image"
            )
        if not text:
            raise DatasetError(f"dataset {dataset!r}: {where}: {name!r} has an empty text; give its text")
        texts[path] = (number, text)
    unlabelled = [path for path in image_files(root, dataset) if path not in texts]
    if unlabelled:
        shown = ", ".join(str(path.relative_to(root)) for path in unlabelled[:3])
        more = f" and {len(unlabelled) - 3} more" if len(unlabelled) > 3 else ""
        raise DatasetError(
            f"dataset {dataset!r}: {len(unlabelled)} image(s) below {root} have no text in {labels_file}: "
            f"{shown}{more}; label them or move them out"
        )
    entries = sorted((path.relative_to(root), path, "test", text) for path, (_, text) in texts.items())
    return file_images(dataset, entries, image_options(dataset, cfg))


# ---- the sources (folder with labels_file, read above, is the folder source's: see .labelled) ------------------


register_source(
    DatasetSource(
        name="coco",
        description="COCO val2017 images and their boxes (80 classes), test split",
        read=coco_set,
        annotations=("objects",),
        notes="""
            Optional keys: `images_url`, `images_sha256`, `annotations_url`, `annotations_sha256` (defaults: the
            official archives at images.cocodataset.org, with their sha256). Only the needed zip members are read; the
            80 categories in id order; `iscrowd` and zero-area boxes dropped; EXIF rotation not applied (COCO's boxes
            refer to the stored pixels); all test.
        """,
    )
)


def _yolo_set(dataset: str, cfg: dict[str, Any], downloads_dir: Path) -> SourceSet:
    return yolo_set(dataset, cfg)


register_source(
    DatasetSource(
        name="yolo",
        description="a YOLO-format folder (images/ and labels/ with train, val and/or test; val and test are the test "
        "split) and its boxes",
        read=_yolo_set,
        annotations=("objects",),
        train_split=True,  # when the folder holds a train split, which only reading it tells: assumed
        notes="""
            Keys: `path` (the folder's layout under the keys below), optional `classes`. A bad label line fails
            naming the file and line.
        """,
    )
)
