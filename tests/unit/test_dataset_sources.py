"""The registry of dataset sources: a source registered from outside the package is validated and prepared like
the package's own; the schema's list of sources and the facts config validation uses come from the registry."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import codecbench.datasets as datasets
from codecbench.config.validate import DEFAULT_SCHEMA, ConfigError, load_schema, validate_config
from codecbench.datasets import (
    SOURCES,
    DatasetError,
    SourceImage,
    SourceSet,
    annotation_kind,
    annotation_kinds,
    has_train_split,
    in_memory,
    is_video_source,
    prepare_dataset,
    read_manifest,
)
from codecbench.datasets.sources import (
    DatasetSource,
    find_source,
    get_source,
    register_source,
    registered_source,
    source_names,
    unregister_source,
)

PACKAGE_SOURCES = [
    "builtin",
    "local",
    "url",
    "cifar10",
    "folder",
    "coco",
    "yolo",
    "mot17",
    "video_folder",
    "bsds500",
    "ilsvrc2012_val",
]
CODECS = {"jpeg": {"qualities": [50]}}


# ---- a toy source, as a user's module would declare it ----------------------------------------------------------


def toy_image(index: int) -> np.ndarray:
    """Image ``index`` of the toy source: a gradient, 24 + 8 * index wide and 16 high."""
    width, height = 24 + 8 * index, 16
    ramp = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    return np.broadcast_to(ramp + [0, 40 * index, 0], (height, width, 3)).clip(0, 255).astype(np.uint8)


def toy_set(dataset: str, cfg: dict, downloads_dir: Path) -> SourceSet:
    images = (SourceImage(f"toy_{i}", "test", "", in_memory(toy_image(i), f"toy:{i}")) for i in range(3))
    return SourceSet(images)


def toy_problems(dataset: str, entry: dict) -> list[str]:
    return [] if entry.get("seed", 0) == 0 else [f"datasets.{dataset}.seed: the toy source has one seed, 0"]


TOY = DatasetSource(name="toy", description="three generated gradients", read=toy_set, check=toy_problems)


# ---- registered from outside: validated and prepared ---------------------------------------------------------------


def test_a_source_registered_from_outside_is_validated_and_prepared(tmp_path):
    load_schema(DEFAULT_SCHEMA)  # the schema validate_config uses is loaded (and cached) before the registration
    with registered_source(TOY):
        cfg = validate_config({"datasets": {"toys": {"source": "toy", "max_images": 2}}, "codecs": CODECS})
        manifest = prepare_dataset("toys", cfg["datasets"]["toys"], tmp_path / "out", tmp_path / "dl")
    assert manifest.image_id.tolist() == ["toy_0", "toy_1"]
    assert manifest.width.tolist() == [24, 32] and manifest.height.tolist() == [16, 16]
    assert manifest.source.tolist() == ["toy:0", "toy:1"]
    assert manifest.source_mode.tolist() == ["RGB", "RGB"]
    assert manifest.split.tolist() == ["test", "test"] and manifest.label.tolist() == ["", ""]
    written = read_manifest(tmp_path / "out" / "manifest.csv")
    assert written.image_id.tolist() == ["toy_0", "toy_1"] and written.source.tolist() == ["toy:0", "toy:1"]
    for index, file in enumerate(written.file):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / file)), toy_image(index))
    assert not (tmp_path / "out" / "objects.csv").exists() and not (tmp_path / "out" / "frames.csv").exists()


def test_a_source_registered_by_importing_a_users_module_is_accepted(tmp_path):
    module = tmp_path / "my_source.py"
    module.write_text(
        "from codecbench.datasets import SourceImage, SourceSet, in_memory\n"
        "from codecbench.datasets.sources import DatasetSource, register_source\n"
        "import numpy as np\n\n\n"
        "def read(dataset, cfg, downloads_dir):\n"
        "    image = np.zeros((8, 10, 3), np.uint8)\n"
        "    return SourceSet([SourceImage('blank', 'test', '', in_memory(image, 'generated'))])\n\n\n"
        "register_source(DatasetSource(name='blank', description='one black image', read=read))\n"
    )
    spec = importlib.util.spec_from_file_location("my_source", module)
    try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        assert source_names() == (*PACKAGE_SOURCES, "blank")
        cfg = validate_config({"datasets": {"b": {"source": "blank"}}, "codecs": CODECS})
        manifest = prepare_dataset("b", cfg["datasets"]["b"], tmp_path / "out", tmp_path / "dl")
    finally:
        if find_source("blank") is not None:
            unregister_source("blank")
    assert manifest[["image_id", "width", "height", "source"]].values.tolist() == [["blank", 10, 8, "generated"]]
    assert "blank" not in source_names()


def test_a_registered_sources_check_is_part_of_config_validation():
    with registered_source(TOY):
        with pytest.raises(ConfigError, match=r"datasets\.toys\.seed: the toy source has one seed, 0"):
            validate_config({"datasets": {"toys": {"source": "toy", "seed": 3}}, "codecs": CODECS})


def test_an_unregistered_source_is_unknown_again_and_the_message_lists_the_known_ones():
    with registered_source(TOY):
        assert datasets.SOURCES == (*PACKAGE_SOURCES, "toy")
    assert source_names() == datasets.SOURCES == tuple(PACKAGE_SOURCES)
    known = ", ".join(f"'{name}'" for name in PACKAGE_SOURCES)
    with pytest.raises(ConfigError, match=rf"datasets\.toys\.source: 'toy' is not one of \[{known}\]"):
        validate_config({"datasets": {"toys": {"source": "toy"}}, "codecs": CODECS})


def test_preparing_an_unknown_source_names_it_and_the_known_ones(tmp_path):
    known = ", ".join(PACKAGE_SOURCES)
    with pytest.raises(DatasetError, match=rf"dataset 'd': unknown source 'toy' \(known: {known}\)$"):
        prepare_dataset("d", {"source": "toy"}, tmp_path / "out", tmp_path / "dl")


def test_a_name_registered_twice_is_an_error_naming_it():
    with registered_source(TOY):
        with pytest.raises(ValueError, match=r"dataset source 'toy' is already registered"):
            register_source(DatasetSource(name="toy", description="another", read=toy_set))
        assert get_source("toy") is TOY  # the first registration stays
    with pytest.raises(ValueError, match=r"dataset source 'local' is already registered"):
        register_source(DatasetSource(name="local", description="mine", read=toy_set))
    assert get_source("local").description.startswith("a folder of image files")


def test_unknown_names_and_kinds_are_errors_naming_them():
    with pytest.raises(KeyError, match=r"unknown dataset source 'toy' \(known: builtin, local, url, "):
        unregister_source("toy")
    with pytest.raises(ValueError, match=r"dataset source 'toy': annotation kinds \['boxes'\] are not among"):
        register_source(DatasetSource(name="toy", description="d", read=toy_set, annotations=("boxes",)))
    assert "toy" not in source_names()


def test_a_registered_sources_annotations_reach_task_checks_and_messages():
    labelled = DatasetSource(
        name="toy", description="labelled", read=toy_set, annotations=("classes",), train_split=True
    )
    tasks = {"t": {"task": "classification", "dataset": "toys"}}
    with registered_source(labelled):
        cfg = validate_config({"datasets": {"toys": {"source": "toy"}}, "codecs": CODECS, "tasks": tasks})
        assert cfg["tasks"]["t"]["dataset"] == "toys"
        assert annotation_kinds({"source": "toy"}, "toys") == {"classes"} and has_train_split({"source": "toy"}, "t")
        with pytest.raises(
            ConfigError,
            match=r"needs a dataset annotated with class labels \(builtin digits, source cifar10, source folder, "
            r"source ilsvrc2012_val, source toy\), but 'photos' has no annotations",
        ):
            validate_config(
                {
                    "datasets": {"photos": {"source": "builtin"}},
                    "codecs": CODECS,
                    "tasks": {"t": {**tasks["t"], "dataset": "photos"}},
                }
            )


# ---- the package's sources: the schema's list, and each entry's facts --------------------------------------------


def test_the_schema_lists_the_registry_and_the_yaml_no_sources_of_its_own(project):
    path = project / "schemas" / "config.schema.yaml"
    spec = load_schema(path)["properties"]["datasets"]["additionalProperties"]["properties"]["source"]
    assert spec["enum"] == PACKAGE_SOURCES == list(SOURCES)
    assert "description" in spec
    raw = yaml.safe_load(path.read_text())["properties"]["datasets"]["additionalProperties"]["properties"]["source"]
    assert "enum" not in raw  # one list of sources: the registry's


@pytest.mark.parametrize(
    ("entry", "primary", "kinds", "video", "train"),
    [
        ({"source": "builtin", "name": "photos"}, None, set(), False, False),
        ({"source": "builtin", "name": "digits"}, "classes", {"classes"}, False, True),
        ({"source": "builtin", "name": "shapes"}, "objects", {"objects", "edges"}, False, True),
        ({"source": "builtin", "name": "moving_shapes"}, "objects", {"objects", "edges"}, True, True),
        ({"source": "builtin", "name": "plates"}, "text", {"text"}, False, False),
        ({"source": "builtin", "name": "nope"}, None, set(), False, False),
        ({"source": "local", "path": "x"}, None, set(), False, False),
        ({"source": "url", "url": "https://x", "sha256": "0" * 64}, None, set(), False, False),
        ({"source": "cifar10"}, "classes", {"classes"}, False, True),
        ({"source": "folder", "path": "x"}, "classes", {"classes"}, False, True),
        ({"source": "folder", "path": "x", "labels_file": "l.csv"}, "text", {"text"}, False, False),
        ({"source": "coco"}, "objects", {"objects"}, False, False),
        ({"source": "yolo", "path": "x"}, "objects", {"objects"}, False, True),
        ({"source": "mot17", "sha256": "0" * 64}, "objects", {"objects"}, True, False),
        ({"source": "video_folder", "path": "x"}, None, set(), True, False),
        ({"source": "bsds500", "sha256": "0" * 64}, "edges", {"edges"}, False, False),
        ({"source": "ilsvrc2012_val", "path": "v.tar", "devkit": "d.tgz"}, "classes", {"classes"}, False, False),
        ({"source": "ftp"}, None, set(), False, False),  # unknown: the schema's enum reports it
    ],
)  # fmt: skip
def test_each_sources_entry_facts(entry, primary, kinds, video, train):
    assert annotation_kind(entry, "d") == primary
    assert annotation_kinds(entry, "d") == frozenset(kinds)
    assert is_video_source(entry, "d") is video
    assert has_train_split(entry, "d") is train
