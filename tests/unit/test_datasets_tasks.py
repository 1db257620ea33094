"""Annotated datasets for detection and OCR: the synthetic builtins shapes and plates, COCO archives (served on
127.0.0.1), YOLO folders, folders with a text labels file, annotation_kind, read_objects and read_classes."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from dataset_builders import coco_cfg, make_coco, sha256_of
from PIL import Image

from codecbench.datasets import (
    BUILTIN_DATASETS,
    OBJECT_COLUMNS,
    DatasetError,
    annotation_kind,
    prepare_dataset,
    read_classes,
    read_manifest,
    read_objects,
)
from codecbench.datasets.annotated import COCO_ANNOTATIONS_SHA256, COCO_IMAGES_SHA256
from codecbench.datasets.download import DownloadError
from codecbench.datasets.synthetic import (
    PLATE_FORMATS,
    PLATE_LETTERS,
    SHAPE_CLASSES,
    SHAPES_SIDE,
    SHAPES_TEST,
    SHAPES_TRAIN,
    shape_scenes,
)


def prepare(name: str, cfg: dict, tmp_path: Path, out: str = "out"):
    return prepare_dataset(name, cfg, tmp_path / out, tmp_path / "dl")


# ---- annotation kinds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "kind"),
    [
        ({"source": "builtin", "name": "digits"}, "classes"),
        ({"source": "builtin"}, "objects"),  # the dataset id "shapes" names the builtin
        ({"source": "builtin", "name": "plates"}, "text"),
        ({"source": "builtin", "name": "photos"}, None),
        ({"source": "builtin", "name": "science"}, None),
        ({"source": "builtin", "name": "no-such-set"}, None),
        ({"source": "cifar10"}, "classes"),
        ({"source": "folder", "path": "x"}, "classes"),
        ({"source": "folder", "path": "x", "labels_file": "x/labels.csv"}, "text"),
        ({"source": "coco"}, "objects"),
        ({"source": "yolo", "path": "x"}, "objects"),
        ({"source": "local", "path": "x"}, None),
        ({"source": "url", "url": "http://127.0.0.1/x.zip", "sha256": "0" * 64}, None),
    ],
)
def test_annotation_kind_comes_from_the_config_entry_alone(cfg, kind):
    assert annotation_kind(cfg, "shapes") == kind


# ---- builtin shapes -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenes():
    return list(shape_scenes())


def test_shapes_are_reproducible(scenes):
    again = list(shape_scenes())
    assert [s.image_id for s in again] == [s.image_id for s in scenes]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(again, scenes, strict=True))
    assert [a.objects for a in again] == [b.objects for b in scenes]


def test_shapes_and_plates_are_pinned(scenes):
    # A numpy or Pillow release that changed the random streams or the drawing would be noticed here.
    assert [tuple(box) for box in scenes[0].objects] == [("circle", 61, 105, 76, 120), ("circle", 19, 90, 42, 113)]
    assert [tuple(box) for box in scenes[1].objects] == [("square", 64, 41, 87, 64), ("square", 75, 78, 114, 117)]
    plates = BUILTIN_DATASETS["plates"]()
    assert [next(plates).label for _ in range(4)] == ["652 HAB", "NS31 ERZ", "ZZ05 BKA", "ZZW 4432"]


def test_shapes_boxes_are_the_tight_boxes_of_the_drawn_pixels(scenes):
    for scene in scenes:
        assert scene.image.shape == (SHAPES_SIDE, SHAPES_SIDE, 3) and scene.image.dtype == np.uint8
        assert 1 <= len(scene.objects) <= 4 and len(scene.masks) == len(scene.objects)
        for box, mask in zip(scene.objects, scene.masks, strict=True):
            x0, y0, x1, y1 = (int(v) for v in box[1:])
            assert (x0, y0, x1, y1) == box[1:]  # whole pixels
            assert 0 <= x0 < x1 <= SHAPES_SIDE and 0 <= y0 < y1 <= SHAPES_SIDE
            inside = np.zeros_like(mask)
            inside[y0:y1, x0:x1] = True
            assert not (mask & ~inside).any()  # nothing drawn outside the box ...
            # ... and each edge of the box touches drawn pixels (the far edges are exclusive).
            assert mask[y0, x0:x1].any() and mask[y1 - 1, x0:x1].any()
            assert mask[y0:y1, x0].any() and mask[y0:y1, x1 - 1].any()
            # The object is really in the image: its pixels have its fill and outline colours only.
            colours = np.unique(scene.image[mask], axis=0)
            assert 1 <= len(colours) <= 2
            assert 12 * 0.7 <= max(x1 - x0, y1 - y0) <= 48 + 2  # 12..48 px shapes, outline included
        # No object hides another: the drawn masks are disjoint.
        assert (np.sum(scene.masks, axis=0) <= 1).all()


def test_shapes_have_plausible_class_counts_and_real_backgrounds(scenes):
    classes = [box.class_name for scene in scenes for box in scene.objects]
    counts = {name: classes.count(name) for name in SHAPE_CLASSES}
    assert set(classes) == set(SHAPE_CLASSES)
    assert all(count >= 0.15 * len(classes) for count in counts.values()), counts
    assert 1.8 <= len(classes) / len(scenes) <= 3.2
    test_classes = {box.class_name for scene in scenes if scene.split == "test" for box in scene.objects}
    assert test_classes == set(SHAPE_CLASSES)
    # Backgrounds are photo crops: textured, and not all alike.
    assert np.median([scene.image.std() for scene in scenes]) > 20
    assert len({scene.image[:4, :4].tobytes() for scene in scenes}) > 150


def test_shapes_prepared_with_objects_csv_and_classes(tmp_path, scenes):
    manifest = prepare("shapes", {"source": "builtin"}, tmp_path)
    assert (manifest.split == "train").sum() == SHAPES_TRAIN == 160
    assert (manifest.split == "test").sum() == SHAPES_TEST == 40
    assert (manifest.label == "").all() and manifest.image_id.is_unique
    assert manifest[["width", "height"]].drop_duplicates().values.tolist() == [[128, 128]]
    assert read_classes(tmp_path / "out") == list(SHAPE_CLASSES)
    objects = read_objects(tmp_path / "out")
    assert list(objects.columns) == OBJECT_COLUMNS
    expected = [[s.image_id, *box] for s in scenes for box in s.objects]
    assert objects.values.tolist() == expected
    stored = np.asarray(Image.open(tmp_path / "out" / "images" / "test__0003.png"))
    assert np.array_equal(stored, next(s.image for s in scenes if s.image_id == "test__0003"))


def test_shapes_max_images_keeps_objects_of_the_prepared_images_only(tmp_path, scenes):
    manifest = prepare("boxes", {"source": "builtin", "name": "shapes", "max_images": 3}, tmp_path)
    assert manifest.image_id.tolist() == ["train__0000", "train__0001", "train__0002"] + [
        "test__0000",
        "test__0001",
        "test__0002",
    ]
    objects = read_objects(tmp_path / "out")
    assert set(objects.image_id) == set(manifest.image_id)  # every shapes image has an object
    assert len(objects) == sum(len(s.objects) for s in scenes if s.image_id in set(manifest.image_id))
    assert read_classes(tmp_path / "out") == list(SHAPE_CLASSES)  # all classes, present or not


# ---- builtin plates ------------------------------------------------------------------------------------------


def plate_pattern() -> re.Pattern:
    letters, digits = f"[{PLATE_LETTERS}]", "[0-9]"
    forms = ["".join(letters if c == "L" else digits if c == "D" else c for c in f) for f in PLATE_FORMATS]
    return re.compile("|".join(f"(?:{form})" for form in forms))


def glyphs(image: np.ndarray) -> list[tuple[int, int]]:
    """Column extents of the dark, tall connected components inside the plate's border: one per character."""
    from skimage.measure import label, regionprops

    gray = image.astype(float).mean(axis=2)
    height, width = gray.shape
    inner = gray[int(height * 0.15) : int(height * 0.85), int(width * 0.07) : int(width * 0.93)]
    dark = inner < (np.percentile(inner, 5) + np.percentile(inner, 95)) / 2
    parts = regionprops(label(dark))
    return sorted((p.bbox[1], p.bbox[3]) for p in parts if p.area >= 15 and p.bbox[2] - p.bbox[0] >= 0.3 * len(inner))


def test_plates_are_reproducible_labelled_test_images():
    records = list(BUILTIN_DATASETS["plates"]())
    again = list(BUILTIN_DATASETS["plates"]())
    assert len(records) == 40
    assert [r.image_id for r in records] == [f"plate_{i:03d}" for i in range(40)]
    assert all(np.array_equal(a.image, b.image) and a.label == b.label for a, b in zip(records, again, strict=True))
    assert {r.split for r in records} == {"test"}
    pattern = plate_pattern()
    assert all(pattern.fullmatch(r.label) for r in records), [r.label for r in records]
    assert len({r.label for r in records}) == 40
    for record in records:
        assert record.image.shape == (32, 100, 3) and record.image.dtype == np.uint8


def test_plates_show_their_label():
    for record in BUILTIN_DATASETS["plates"]():
        # One glyph per character, and the widest gaps between glyphs where the label has its spaces.
        found = glyphs(record.image)
        characters = record.label.replace(" ", "")
        assert len(found) == len(characters), record.label
        gaps = [right[0] - left[1] for left, right in zip(found, found[1:], strict=False)]
        spaces = [i - n for n, i in enumerate(i for i, c in enumerate(record.label) if c == " ")]
        widest = sorted(np.argsort(gaps)[::-1][: len(spaces)].tolist())
        assert [s - 1 for s in spaces] == widest, record.label


def test_plates_prepared_with_text_labels(tmp_path):
    manifest = prepare("ocr", {"source": "builtin", "name": "plates", "max_images": 5}, tmp_path)
    records = list(BUILTIN_DATASETS["plates"]())[:5]
    assert manifest.label.tolist() == [r.label for r in records]
    assert read_manifest(tmp_path / "out" / "manifest.csv").label.tolist() == [r.label for r in records]
    assert manifest[["width", "height"]].drop_duplicates().values.tolist() == [[100, 32]]
    assert not (tmp_path / "out" / "objects.csv").exists()
    stored = np.asarray(Image.open(tmp_path / "out" / "images" / "plate_002.png"))
    assert np.array_equal(stored, records[2].image)


# ---- COCO (archives in the official layout, served on 127.0.0.1) --------------------------------------------


def test_official_coco_checksums_are_the_defaults():
    # torchvision (prototype datasets, coco.py) pins these for val2017.zip and annotations_trainval2017.zip.
    assert COCO_IMAGES_SHA256 == "4f7e2ccb2866ec5041993c9cf2a952bbed69647b115d0f74da7ce8f4bef82f05"
    assert COCO_ANNOTATIONS_SHA256 == "113a836d90195ee1f884e704da6304dfaaecff1f023f49b6ca93c4aaae470268"


def test_coco_images_boxes_and_classes(server, tmp_path):
    base, www = server
    images, annotations = make_coco(www)
    cfg = coco_cfg(base, images, annotations)
    manifest = prepare("coco", cfg, tmp_path)
    assert manifest.image_id.tolist() == ["000000000007", "000000000012", "000000000020"]
    assert (manifest.split == "test").all() and (manifest.label == "").all()
    assert manifest[["width", "height"]].values.tolist() == [[40, 30], [50, 20], [32, 24]]
    assert manifest.source[0] == "val2017/000000000007.jpg in val2017.zip"
    with zipfile.ZipFile(images) as archive:
        member = archive.read("val2017/000000000007.jpg")
    assert manifest.source_sha256[0] == hashlib.sha256(member).hexdigest()
    assert read_classes(tmp_path / "out") == ["person", "bicycle", "car"]  # category-id order
    assert read_objects(tmp_path / "out").values.tolist() == [
        ["000000000007", "person", 2.5, 3.0, 12.5, 11.25],  # [x, y, w, h] -> x + w, y + h
        ["000000000007", "car", 0.0, 0.0, 5.0, 5.0],
        ["000000000012", "bicycle", 45.0, 10.0, 50.0, 15.0],  # clipped to the image; the crowd box is dropped
    ]  # image 20 has no annotations: kept, without objects
    # COCO's boxes refer to the stored pixels: the EXIF rotation tag is not applied (the white block stays put).
    stored = np.asarray(Image.open(tmp_path / "out" / "images" / "000000000020.png"))
    assert stored.shape == (24, 32, 3) and stored[1, 1].min() > 240 and stored[20, 28, 2] > 150
    # The archives are cached as downloaded (not unpacked); a rerun needs no server.
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(
        f"{sha256_of(p)}-packed" for p in (images, annotations)
    )
    images.unlink()
    annotations.unlink()
    assert prepare("coco", cfg, tmp_path, "out2").equals(manifest)


def test_coco_max_images_takes_the_first_image_ids(server, tmp_path):
    base, www = server
    manifest = prepare("coco", coco_cfg(base, *make_coco(www), max_images=1), tmp_path)
    assert manifest.image_id.tolist() == ["000000000007"]
    assert set(read_objects(tmp_path / "out").image_id) == {"000000000007"}
    assert read_classes(tmp_path / "out") == ["person", "bicycle", "car"]
    assert [p.name for p in (tmp_path / "out" / "images").iterdir()] == ["000000000007.png"]


def test_coco_wrong_checksum_fails_and_prepares_nothing(server, tmp_path):
    base, www = server
    images, annotations = make_coco(www)
    cfg = coco_cfg(base, images, annotations, images_sha256="0" * 64)
    with pytest.raises(DownloadError, match=r"sha256 mismatch for http://127\.0\.0\.1:\d+/val2017\.zip"):
        prepare("coco", cfg, tmp_path)
    assert not (tmp_path / "out" / "manifest.csv").exists()
    assert [p.name for p in (tmp_path / "dl").iterdir()] == [f"{sha256_of(annotations)}-packed"]


def test_coco_url_without_checksum_is_an_error(tmp_path):
    cfg = {"source": "coco", "annotations_url": "http://127.0.0.1:9/a.zip"}
    with pytest.raises(DatasetError, match=r"annotations_url is given without annotations_sha256"):
        prepare("coco", cfg, tmp_path)


def test_coco_annotations_archive_without_instances_names_the_member(server, tmp_path):
    base, www = server
    images, _ = make_coco(www)
    with zipfile.ZipFile(www / "other.zip", "w") as archive:
        archive.writestr("annotations/captions_val2017.json", "{}")
    with pytest.raises(DatasetError, match=r"annotations/instances_val2017\.json is not in .*other\.zip"):
        prepare("coco", coco_cfg(base, images, www / "other.zip"), tmp_path)


# ---- YOLO folders --------------------------------------------------------------------------------------------


def make_yolo(root: Path, data_yaml: str | None = "names: {0: cat, 1: dog}\n") -> Path:
    for split, name, size in [
        ("train", "a.png", (40, 20)),
        ("train", "sub/c.jpg", (16, 16)),
        ("val", "b.png", (10, 10)),
    ]:
        path = root / "images" / split / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 90, 90)).save(path)
    (root / "labels" / "train" / "sub").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n\n1 0.25 0.5 0.5 1.0\n")
    (root / "labels" / "train" / "sub" / "c.txt").write_text("1 0.9 0.9 0.4 0.2\n")
    if data_yaml is not None:
        (root / "data.yaml").write_text(data_yaml)
    return root


def test_yolo_folder_gives_pixel_boxes_and_splits(tmp_path):
    root = make_yolo(tmp_path / "yolo")
    manifest = prepare("det", {"source": "yolo", "path": str(root)}, tmp_path)
    assert manifest.image_id.tolist() == ["train__a", "train__sub__c", "val__b"]
    assert manifest.split.tolist() == ["train", "train", "test"]
    assert read_classes(tmp_path / "out") == ["cat", "dog"]
    assert read_objects(tmp_path / "out").values.tolist() == [
        ["train__a", "cat", 10.0, 5.0, 30.0, 15.0],
        ["train__a", "dog", 0.0, 0.0, 20.0, 20.0],
        ["train__sub__c", "dog", 11.2, 12.8, 16.0, 16.0],  # cx 0.9 w 0.4 on 16 px: 11.2..17.6, clipped to 16
    ]  # b.png has no label file: no objects


@pytest.mark.parametrize(
    ("data_yaml", "extra", "classes"),
    [("names: [cat, dog]\n", {}, ["cat", "dog"]), (None, {"classes": ["kitten", "puppy"]}, ["kitten", "puppy"])],
)
def test_yolo_class_names_from_a_list_or_the_config(tmp_path, data_yaml, extra, classes):
    root = make_yolo(tmp_path / "yolo", data_yaml)
    prepare("det", {"source": "yolo", "path": str(root), **extra}, tmp_path)
    assert read_classes(tmp_path / "out") == classes
    assert read_objects(tmp_path / "out")["class"].tolist() == [classes[0], classes[1], classes[1]]


def test_yolo_bad_class_index_names_the_file_and_line(tmp_path):
    root = make_yolo(tmp_path / "yolo")
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n2 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match=r"labels/train/a\.txt line 2: class index 2 is outside 0\.\.1 .*data\.yaml"):
        prepare("det", {"source": "yolo", "path": str(root)}, tmp_path)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.5", r"line 1: expected 'class cx cy w h' \(5 values\), found 4"),
        ("0 0.5 0.5 1.5 0.5", r"line 1: cx cy w h must be normalised to 0\.\.1"),
        ("cat 0.5 0.5 0.5 0.5", r"line 1: 'cat 0\.5 0\.5 0\.5 0\.5' is not an integer class"),
    ],
)
def test_yolo_malformed_lines_are_errors(tmp_path, line, message):
    root = make_yolo(tmp_path / "yolo")
    (root / "labels" / "val").mkdir()
    (root / "labels" / "val" / "b.txt").write_text(line + "\n")
    with pytest.raises(DatasetError, match=rf"labels/val/b\.txt {message}"):
        prepare("det", {"source": "yolo", "path": str(root)}, tmp_path)


def test_yolo_without_class_names_is_an_error(tmp_path):
    root = make_yolo(tmp_path / "yolo", data_yaml=None)
    with pytest.raises(DatasetError, match=r"data\.yaml is missing; add it .* or give datasets\.det\.classes"):
        prepare("det", {"source": "yolo", "path": str(root)}, tmp_path)


# ---- folders with a text labels file --------------------------------------------------------------------------


def make_text_folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (30, 10), (250, 250, 250)).save(root / "a.png")
    Image.new("RGB", (20, 10), (240, 240, 200)).save(root / "sub" / "b.jpg")
    return root


@pytest.mark.parametrize(
    "content",
    [
        'file,text\na.png,"HELLO, WORLD"\nsub/b.jpg,AB 123\n',
        "text\tfile\nHELLO, WORLD\ta.png\nAB 123\tsub/b.jpg\n",
        "sub/b.jpg\tAB 123\na.png\tHELLO, WORLD\n",  # PaddleOCR's rec_gt.txt
    ],
    ids=["csv", "tsv-header", "paddleocr"],
)
def test_text_folder_labels_file_forms(tmp_path, content):
    root = make_text_folder(tmp_path / "words")
    (tmp_path / "labels.txt").write_text(content)
    cfg = {"source": "folder", "path": str(root), "labels_file": str(tmp_path / "labels.txt")}
    manifest = prepare("words", cfg, tmp_path)
    assert manifest.image_id.tolist() == ["a", "sub__b"]
    assert manifest.label.tolist() == ["HELLO, WORLD", "AB 123"]
    assert (manifest.split == "test").all()
    assert read_manifest(tmp_path / "out" / "manifest.csv").label.tolist() == ["HELLO, WORLD", "AB 123"]
    with pytest.raises(DatasetError, match=r"objects\.csv is missing"):
        read_objects(tmp_path / "out")


def test_text_folder_image_without_label_is_an_error(tmp_path):
    root = make_text_folder(tmp_path / "words")
    (tmp_path / "labels.csv").write_text("file,text\na.png,HELLO\n")
    cfg = {"source": "folder", "path": str(root), "labels_file": str(tmp_path / "labels.csv")}
    with pytest.raises(DatasetError, match=r"1 image\(s\) below .*words have no text in .*labels\.csv: sub/b\.jpg"):
        prepare("words", cfg, tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("file,text\na.png,HELLO\nc.png,GONE\nsub/b.jpg,X\n", r"labels\.csv line 3: .*words/c\.png does not exist"),
        ("file,text\na.png,HELLO\nsub/b.jpg,\n", r"labels\.csv line 3: 'sub/b\.jpg' has an empty text"),
        (
            "file,text\na.png,HELLO\na.png,AGAIN\n",
            r"labels\.csv line 3: 'a\.png' is labelled again \(first on line 2\)",
        ),
        ("name,label\na.png,HELLO\n", r"labels\.csv has neither a header naming columns file and text"),
        ("file,text\n../a.png,HELLO\n", r"labels\.csv line 2: file '\.\./a\.png' must be a path relative to"),
    ],
)
def test_text_folder_bad_labels_files_are_errors(tmp_path, content, message):
    root = make_text_folder(tmp_path / "words")
    (tmp_path / "labels.csv").write_text(content)
    cfg = {"source": "folder", "path": str(root), "labels_file": str(tmp_path / "labels.csv")}
    with pytest.raises(DatasetError, match=message):
        prepare("words", cfg, tmp_path)


# ---- reading objects and classes ------------------------------------------------------------------------------


def test_read_objects_and_classes_name_missing_and_corrupt_files(tmp_path):
    prepare("photos", {"source": "builtin", "max_images": 1}, tmp_path)
    with pytest.raises(DatasetError, match=r"out/objects\.csv is missing: .* not a dataset annotated with objects"):
        read_objects(tmp_path / "out")
    with pytest.raises(DatasetError, match=r"out/classes\.txt is missing"):
        read_classes(tmp_path / "out")
    (tmp_path / "out" / "objects.csv").write_text(
        "image_id,class,x_min,y_min,x_max,y_max\na,cat,1,2,3,4\nb,dog,5,x,6,7\n"
    )
    with pytest.raises(DatasetError, match=r"objects\.csv line 3: box \[5, 'x', 6, 7\] is not four numbers"):
        read_objects(tmp_path / "out")
    (tmp_path / "out" / "objects.csv").write_text("image_id,class,x_min,y_min,x_max\na,cat,1,2,3\n")
    with pytest.raises(DatasetError, match=r"objects\.csv has columns .* expected \['image_id', 'class'"):
        read_objects(tmp_path / "out")
    (tmp_path / "out" / "classes.txt").write_text("cat\n\ndog\n")
    with pytest.raises(DatasetError, match=r"classes\.txt is corrupt \(blank line 2\)"):
        read_classes(tmp_path / "out")
    (tmp_path / "out" / "classes.txt").write_text("cat\ndog\ncat\n")
    with pytest.raises(DatasetError, match=r"classes\.txt is corrupt \(duplicate class names cat\)"):
        read_classes(tmp_path / "out")


def test_objects_csv_of_an_image_set_without_objects_reads_empty(tmp_path):
    root = make_yolo(tmp_path / "yolo")
    for label in (root / "labels").rglob("*.txt"):
        label.unlink()
    prepare("det", {"source": "yolo", "path": str(root)}, tmp_path)
    objects = read_objects(tmp_path / "out")
    assert objects.empty and list(objects.columns) == OBJECT_COLUMNS
    assert read_classes(tmp_path / "out") == ["cat", "dog"]


def test_re_preparing_without_objects_removes_stale_boxes(tmp_path):
    prepare("boxes", {"source": "builtin", "name": "shapes", "max_images": 1}, tmp_path)
    assert (tmp_path / "out" / "objects.csv").exists()
    prepare("boxes", {"source": "builtin", "name": "photos", "max_images": 1}, tmp_path)
    assert not (tmp_path / "out" / "objects.csv").exists() and not (tmp_path / "out" / "classes.txt").exists()
