"""Dataset archives in the official layouts (COCO, MOT17, BSDS500), written for the dataset tests to serve from
127.0.0.1 (see the ``server`` fixture of conftest.py), and the configs that name them with their checksums.

A plain module, not a test file: the tests import it (``from dataset_builders import ...``).
"""

from __future__ import annotations

import configparser
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from codecbench.datasets.annotated import COCO_INSTANCES


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- COCO (archives in the official layout) ------------------------------------------------------------------


def coco_jpeg(size: tuple[int, int], colour: tuple[int, int, int], **kwargs) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, colour)
    image.paste((255, 255, 255), (0, 0, size[0] // 2, size[1] // 4))  # a white block at the top left
    image.save(buffer, "JPEG", quality=95, **kwargs)
    return buffer.getvalue()


def make_coco(www: Path) -> tuple[Path, Path]:
    """val2017.zip (3 JPEGs; the third has an EXIF rotation tag) and annotations_trainval2017.zip."""
    rotated = Image.Exif()
    rotated[0x0112] = 6
    with zipfile.ZipFile(www / "val2017.zip", "w") as archive:
        archive.writestr("val2017/000000000007.jpg", coco_jpeg((40, 30), (200, 0, 0)))
        archive.writestr("val2017/000000000012.jpg", coco_jpeg((50, 20), (0, 200, 0)))
        archive.writestr("val2017/000000000020.jpg", coco_jpeg((32, 24), (0, 0, 200), exif=rotated))
    instances = {
        "info": {"description": "tiny"},
        "images": [
            {"id": 20, "file_name": "000000000020.jpg", "width": 32, "height": 24},
            {"id": 7, "file_name": "000000000007.jpg", "width": 40, "height": 30},
            {"id": 12, "file_name": "000000000012.jpg", "width": 50, "height": 20},
        ],
        "categories": [
            {"supercategory": "person", "id": 1, "name": "person"},
            {"supercategory": "vehicle", "id": 3, "name": "car"},
            {"supercategory": "vehicle", "id": 2, "name": "bicycle"},
        ],
        "annotations": [
            {"id": 101, "image_id": 7, "category_id": 1, "bbox": [2.5, 3.0, 10.0, 8.25], "iscrowd": 0, "area": 82.5},
            {"id": 102, "image_id": 7, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 0, "area": 25},
            {"id": 103, "image_id": 12, "category_id": 1, "bbox": [1, 1, 30, 15], "iscrowd": 1, "area": 450},
            {"id": 104, "image_id": 12, "category_id": 2, "bbox": [45, 10, 10.5, 5], "iscrowd": 0, "area": 52},
        ],
    }
    with zipfile.ZipFile(www / "annotations_trainval2017.zip", "w") as archive:
        archive.writestr("annotations/captions_val2017.json", json.dumps({"annotations": []}))
        archive.writestr(COCO_INSTANCES, json.dumps(instances))
    return www / "val2017.zip", www / "annotations_trainval2017.zip"


def coco_cfg(base: str, images: Path, annotations: Path, **extra) -> dict:
    return {
        "source": "coco",
        "images_url": f"{base}/{images.name}",
        "images_sha256": sha256_of(images),
        "annotations_url": f"{base}/{annotations.name}",
        "annotations_sha256": sha256_of(annotations),
        **extra,
    }


# ---- MOT17 (a tiny archive in the official layout) ----------------------------------------------------------


def mot_jpeg(size: tuple[int, int], value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (value, 255 - value, 128)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def seqinfo(name: str, fps: int, length: int, size: tuple[int, int]) -> str:
    parser = configparser.ConfigParser()
    parser.optionxform = str
    parser["Sequence"] = {
        "name": name,
        "imDir": "img1",
        "frameRate": str(fps),
        "seqLength": str(length),
        "imWidth": str(size[0]),
        "imHeight": str(size[1]),
        "imExt": ".jpg",
    }
    buffer = io.StringIO()
    parser.write(buffer)
    return buffer.getvalue()


MOT_GT = """1,1,3,4,10,12,1,1,1.0
1,2,30,20,20,10,1,1,0.5
1,3,5,5,4,4,0,1,1.0
1,4,5,5,4,4,1,2,1.0
2,1,4,4,10,12,1,1,0.2
3,1,5,4,10,12,1,1,0.25
"""  # kept: id 1 in frames 1 and 3, id 2 (clipped); dropped: flag 0, class 2, visibility 0.2


def make_mot17(www: Path) -> Path:
    sequences = {"MOT17-02-FRCNN": (30, 5, (40, 30)), "MOT17-04-FRCNN": (25, 4, (32, 24))}
    with zipfile.ZipFile(www / "MOT17.zip", "w") as archive:
        for name, (fps, length, size) in sequences.items():
            folder = f"MOT17/train/{name}"
            archive.writestr(f"{folder}/seqinfo.ini", seqinfo(name, fps, length, size))
            archive.writestr(f"{folder}/gt/gt.txt", MOT_GT)
            archive.writestr(f"{folder}/det/det.txt", "1,-1,1,1,5,5,0.9\n")
            for number in range(1, length + 1):
                archive.writestr(f"{folder}/img1/{number:06d}.jpg", mot_jpeg(size, 40 * number))
        archive.writestr("MOT17/test/MOT17-01-FRCNN/seqinfo.ini", seqinfo("MOT17-01-FRCNN", 30, 1, (8, 8)))
    return www / "MOT17.zip"


def mot_cfg(base: str, archive: Path, **extra) -> dict:
    return {"source": "mot17", "url": f"{base}/{archive.name}", "sha256": sha256_of(archive), **extra}


# ---- BSDS500 (a tiny archive in the official layout) --------------------------------------------------------


def ground_truth(boundaries: list[np.ndarray]) -> bytes:
    """A groundTruth .mat file as BSDS500 has it: a 1xK cell array of structs (Segmentation, Boundaries)."""
    from scipy.io import savemat

    cells = np.empty((1, len(boundaries)), dtype=object)
    for k, maps in enumerate(boundaries):
        cells[0, k] = {"Segmentation": np.ones(maps.shape, np.uint16), "Boundaries": maps.astype(np.uint8)}
    buffer = io.BytesIO()
    savemat(buffer, {"groundTruth": cells})
    return buffer.getvalue()


def make_bsds(www: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    written = {}
    with tarfile.open(www / "BSR_bsds500.tgz", "w:gz") as archive:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"BSR/BSDS500/data/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        info = tarfile.TarInfo("BSR/bench/README")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"hi"))
        for split, stems in (("train", ["2092", "100075"]), ("val", ["3096"]), ("test", ["100007", "100039", "1"])):
            for stem in stems:
                size = (12, 8) if stem != "100039" else (8, 12)  # portrait and landscape, as BSDS has
                maps = rng.random((int(stem) % 3 + 2, size[1], size[0])) < 0.2
                written[stem] = maps
                buffer = io.BytesIO()
                Image.new("RGB", size, (int(stem) % 256, 100, 50)).save(buffer, "JPEG", quality=95)
                add(f"images/{split}/{stem}.jpg", buffer.getvalue())
                add(f"groundTruth/{split}/{stem}.mat", ground_truth(list(maps)))
        add("images/test/Thumbs.db", b"x")
    return written


def prepared_images(root: Path, images: list[np.ndarray], frames: list[list] | None = None) -> Path:
    """A prepared dataset folder ``root`` (its name is the dataset id) of test images ``im0``, ``im1``, ... (and,
    given ``frames`` rows, its frames.csv); returns its manifest."""
    import pandas as pd

    from codecbench.datasets import FRAME_COLUMNS, FRAMES_FILE, MANIFEST_COLUMNS
    from codecbench.io import write_rgb_png

    rows = []
    for index, image in enumerate(images):
        write_rgb_png(root / "images" / f"im{index}.png", image)
        rows.append([f"im{index}", f"images/im{index}.png", image.shape[1], image.shape[0], "test", "", "", "RGB", ""])
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(root / "manifest.csv", index=False)
    if frames is not None:
        pd.DataFrame(frames, columns=FRAME_COLUMNS).to_csv(root / FRAMES_FILE, index=False)
    return root / "manifest.csv"


# ILSVRC2012 class id -> WordNet id of a devkit's meta.mat, and a non-leaf synset (id 1001) that is no class.
ILSVRC_SYNSETS = [(1, "n01440764", 0), (2, "n01443537", 0), (3, "n01484850", 0), (4, "n02124075", 0),
                  (5, "n07920052", 0), (1001, "n00001740", 3)]  # fmt: skip


def add_tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_ilsvrc_devkit(path: Path, ground_truth: list[int]) -> Path:
    """A devkit laid out like ILSVRC2012_devkit_t12.tar.gz: meta.mat with ILSVRC_SYNSETS and the validation ground
    truth, line k the class id of image k."""
    from scipy.io import savemat

    synsets = np.zeros(len(ILSVRC_SYNSETS), dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("num_children", "O")])
    for row, entry in enumerate(ILSVRC_SYNSETS):
        synsets[row] = entry
    meta = io.BytesIO()
    savemat(meta, {"synsets": synsets})
    with tarfile.open(path, "w:gz") as tar:
        add_tar_member(tar, "ILSVRC2012_devkit_t12/data/meta.mat", meta.getvalue())
        truth = "".join(f"{class_id}\n" for class_id in ground_truth).encode()
        add_tar_member(tar, "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", truth)
    return path


def make_ilsvrc_images(path: Path, images: list[np.ndarray]) -> Path:
    """An images tar laid out like ILSVRC2012_img_val.tar: images[k - 1] as ILSVRC2012_val_<k, 8 digits>.JPEG,
    written last to first."""
    with tarfile.open(path, "w") as tar:
        for number in range(len(images), 0, -1):
            buffer = io.BytesIO()
            Image.fromarray(images[number - 1]).save(buffer, "JPEG", quality=95)
            add_tar_member(tar, f"ILSVRC2012_val_{number:08d}.JPEG", buffer.getvalue())
    return path
