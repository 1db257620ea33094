"""Config validation: every broken config named in the foundation issue fails with the key and what is allowed."""

from __future__ import annotations

import copy

import pytest
import yaml

from codecbench.config.plan import codec_job_settings, compression_jobs, sweep_points
from codecbench.config.validate import ConfigError, validate_config

GOOD = {
    "datasets": {"photos": {"source": "builtin"}},
    "codecs": {"jpeg": {"qualities": [25, 75]}, "webp": {"qualities": [50], "options": {"method": 6}}},
}


def with_change(path: str, value):
    """GOOD with the dotted key ``path`` set to ``value``."""
    cfg = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = cfg
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return cfg


def test_defaults_are_filled_in():
    cfg = validate_config(GOOD)
    assert cfg["metrics"] == ["psnr_rgb", "psnr_y", "ssim", "ms_ssim", "vif", "mse", "mae"]
    assert cfg["anchor"] == "jpeg"
    assert cfg["codecs"]["webp"]["options"] == {"method": 6}
    assert cfg["codecs"]["jpeg"]["options"] == {"subsampling": None, "optimize": False, "progressive": False}
    assert GOOD["codecs"]["jpeg"] == {"qualities": [25, 75]}  # the input is not modified


def test_integral_float_qualities_become_integers():
    assert validate_config(with_change("codecs.jpeg.qualities", [25.0, 75]))["codecs"]["jpeg"]["qualities"] == [25, 75]


def test_the_default_config_is_valid(project):
    cfg = validate_config(yaml.safe_load((project / "config.yaml").read_text()))
    assert "photos" in cfg["datasets"] and cfg["anchor"] == "jpeg"


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (with_change("codecs.jpg", {"qualities": [5]}), r"codecs: .*'jpg' was unexpected.*allowed: original, png, jpeg"),
        (with_change("datasets.photos.source", "ftp"), r"datasets\.photos\.source: 'ftp' is not one of \['builtin', 'local', 'url', 'cifar10', 'folder', 'coco', 'yolo', 'mot17', 'video_folder', 'bsds500', 'ilsvrc2012_val'\]"),
        (with_change("codecs.jpeg.qualities", [5, 101]), r"codecs\.jpeg\.qualities\[1\]: 101 is greater than the maximum of 100"),
        (with_change("codecs.h264.qualities", [-1]), r"codecs\.h264\.qualities\[0\]: -1 is less than the minimum of 0"),
        (with_change("codecs.jpeg.qualities", [5, 50.5]), r"codecs\.jpeg\.qualities\[1\]: 50\.5 is not of type 'integer'"),
        (with_change("codecs.jpeg.qualities", []), r"codecs\.jpeg\.qualities: \[\] should be non-empty"),
        (with_change("codecs.jpeg.qualities", [50, 50]), r"codecs\.jpeg\.qualities: \[50, 50\] has non-unique elements"),
        (with_change("datasets.mine", {"source": "local", "path": "/no/such/folder"}), r"datasets\.mine\.path: folder '/no/such/folder' does not exist"),
        (with_change("datasets.mine", {"source": "local"}), r"datasets\.mine: 'path' is a required property"),
        (with_change("datasets.web", {"source": "url", "url": "http://x/y.zip"}), r"datasets\.web: source url needs 'sha256' \(with url \+ sha256\)"),
        (with_change("datasets.web", {"source": "url", "base_url": "http://x/"}), r"datasets\.web: source url needs 'files' \(with base_url \+ files\)"),
        (with_change("datasets.web", {"source": "url", "url": "http://x/y.zip", "sha256": "0" * 64, "files": {"a.png": "0" * 64}}), r"datasets\.web: give either url \+ sha256 .* or base_url \+ files"),
        (with_change("datasets.web", {"source": "url", "base_url": "http://x/", "files": {"a.png": "abc"}}), r"datasets\.web\.files\.a\.png: 'abc' does not match"),
        (with_change("metrics", ["psnr", "ssim"]), r"metrics\[0\]: 'psnr' is not one of \['psnr_rgb', 'psnr_y', 'ssim'"),
        (with_change("datasets.my-set", {"source": "builtin"}), r"datasets: 'my-set' does not match .*letters, digits and '_'"),
        (with_change("codecs.jpeg.datasets", ["kodak"]), r"codecs\.jpeg\.datasets: dataset 'kodak' is not declared under datasets \(declared: photos\)"),
        (with_change("anchor", "avif"), r"anchor: codec 'avif' is not declared under codecs"),
        (with_change("codecs.webp.options", {"speed": 3}), r"codecs\.webp\.options: .*'speed' was unexpected.*allowed: method"),
        (with_change("datasets.photos.name", "nope"), r"datasets\.photos: unknown builtin dataset 'nope' \(known: digits, moving_shapes, photo_crops, photos, plates, science, shapes\)"),
        (with_change("codecs.avif.qualities", ["high"]), r"codecs\.avif\.qualities\[0\]: 'high' is not of type 'integer'"),
    ],
    ids=[
        "unknown-codec", "unknown-source", "quality-above-range", "quality-below-range", "non-integer-quality",
        "empty-ladder", "duplicate-qualities", "missing-local-path", "local-without-path", "url-without-sha256",
        "base-url-without-files", "url-and-files", "files-bad-checksum",
        "unknown-metric", "bad-id-characters", "codec-refers-to-undeclared-dataset", "undeclared-anchor",
        "unknown-option", "unknown-builtin", "string-quality",
    ],
)  # fmt: skip
def test_bad_config_is_rejected_naming_the_key(cfg, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, source="config (my.yaml)")


def test_every_problem_is_listed_at_once():
    cfg = with_change("codecs.jpeg.qualities", [500])
    cfg["metrics"] = ["nope"]
    with pytest.raises(ConfigError) as error:
        validate_config(cfg, source="config (my.yaml)")
    assert str(error.value).startswith("invalid config (my.yaml):")
    assert "codecs.jpeg.qualities[0]" in str(error.value) and "metrics[0]" in str(error.value)


def test_sweep_points_respect_codec_dataset_lists():
    cfg = validate_config(
        {
            "datasets": {"a": {"source": "builtin", "name": "photos"}, "b": {"source": "builtin", "name": "photos"}},
            "codecs": {"jpeg": {"qualities": [10, 20]}, "png": {"qualities": [6], "datasets": ["b"]}},
        }
    )
    assert sweep_points(cfg) == [
        ("a", "jpeg", 10),
        ("a", "jpeg", 20),
        ("b", "jpeg", 10),
        ("b", "jpeg", 20),
        ("b", "png", 6),
    ]


def test_compression_jobs_count_ladders_shards_and_targets():
    # photos: jpeg and webp ladders; a 3-shard copy: 3 jobs per codec; two jpeg targets; 2 + 6 + 2.
    cfg = with_change("datasets.sharded", {"source": "builtin", "name": "photos", "shards": 3})
    cfg["codecs"]["jpeg"]["target_bpp"] = [0.5, 1.0]
    assert compression_jobs(validate_config(GOOD)) == 2
    assert compression_jobs(validate_config(cfg)) == 2 * 1 + 2 * 3 + 2 * 2


def test_a_compression_job_depends_on_options_not_on_the_ladder():
    first = validate_config(GOOD)
    longer = validate_config(with_change("codecs.webp.qualities", [50, 90]))
    assert (
        codec_job_settings(first, "webp")
        == codec_job_settings(longer, "webp")
        == {"codec": "webp", "options": {"method": 6}}
    )
    changed = validate_config(with_change("codecs.webp.options", {"method": 2}))
    assert codec_job_settings(changed, "webp") != codec_job_settings(first, "webp")


LEARNED = {
    **GOOD,
    "datasets": {"photos": {"source": "builtin"}, "science": {"source": "builtin", "evaluate": False}},
    "learned": {"mine": {"architecture": "cae", "dataset": "science", "lambdas": [0.01, 0.05]}},
}


def test_a_learned_codec_becomes_a_codec_with_one_point_per_lambda():
    cfg = validate_config(LEARNED)
    assert cfg["codecs"]["mine"]["qualities"] == [1, 2] and cfg["codecs"]["mine"]["codec"] == "cae"
    assert cfg["learned"]["mine"]["steps"] == 300 and cfg["learned"]["mine"]["quality"] == 1  # schema defaults
    assert ("photos", "mine", 2) in sweep_points(cfg)
    assert not [p for p in sweep_points(cfg) if p[0] == "science"]  # a training-only dataset is not measured


def test_changing_one_lambda_changes_only_that_models_settings():
    from codecbench.config.plan import training_settings

    first = validate_config(LEARNED)
    changed = copy.deepcopy(LEARNED)
    changed["learned"]["mine"]["lambdas"] = [0.01, 0.1]
    second = validate_config(changed)
    assert training_settings(first, "mine", 1) == training_settings(second, "mine", 1)
    assert (
        training_settings(first, "mine", 2)["lambda"] == 0.05 and training_settings(second, "mine", 2)["lambda"] == 0.1
    )
    assert codec_job_settings(first, "mine") == codec_job_settings(second, "mine")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dataset": "kodak"}, r"learned\.mine: dataset 'kodak' is not declared"),
        ({"architecture": "vtm"}, r"learned\.mine\.architecture: 'vtm' is not one of"),
        ({"lambdas": []}, r"learned\.mine\.lambdas: \[\] should be non-empty"),
        ({"quality": 7}, r"learned\.mine\.quality: 7 is above 4 for cae"),
        ({"architecture": "ssf2020"}, r"learned\.mine\.dataset: ssf2020 trains on clips; 'science' is no video"),
        ({"architecture": "ssf2020", "crop_px": 64}, r"learned\.mine\.crop_px: ssf2020 needs a multiple of 128"),
        ({"architecture": "ssf2020", "metric": "ms-ssim"}, r"learned\.mine\.metric: ssf2020 trains for mse only"),
    ],
)
def test_bad_learned_entries_are_named(change, message):
    cfg = copy.deepcopy(LEARNED)
    cfg["learned"]["mine"].update(change)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_video_codecs_take_crf_qp_or_kbps_ladders_and_no_target_bpp():
    crf = validate_config(with_change("codecs", {"h264_video": {"qualities": [23, 30]}}))
    assert crf["codecs"]["h264_video"]["options"]["rate_control"] == "crf"
    kbps = {"qualities": [200, 800], "options": {"rate_control": "bitrate"}}
    assert validate_config(with_change("codecs", {"vp9_video": kbps}))["codecs"]["vp9_video"]["qualities"] == [200, 800]
    with pytest.raises(ConfigError, match=r"codecs\.h264_video\.qualities\[0\]: 200 is greater than the maximum of 51"):
        validate_config(with_change("codecs", {"h264_video": {"qualities": [200]}}))
    with pytest.raises(ConfigError, match=r"codecs\.h264_video: Additional properties .*'target_bpp' was unexpected"):
        validate_config(with_change("codecs", {"h264_video": {"qualities": [30], "target_bpp": [0.5]}}))


def test_a_learned_codec_may_not_shadow_a_codec():
    cfg = copy.deepcopy(LEARNED)
    cfg["learned"]["jpeg"] = cfg["learned"].pop("mine")
    with pytest.raises(ConfigError, match=r"learned\.jpeg: the name is already a codec"):
        validate_config(cfg)


def test_kodak_config_checks_every_image_against_the_published_copies(project):
    cfg = validate_config(yaml.safe_load((project / "configs" / "kodak-zoo.yaml").read_text()))
    files = cfg["datasets"]["kodak"]["files"]
    assert sorted(files) == [f"kodim{i:02d}.png" for i in range(1, 25)]
    sums = project.parent / "shared" / "data" / "kodak" / "SHA256SUMS"
    if not sums.exists():
        pytest.skip(f"no reference checksums at {sums} (the shared Kodak copy is not on this machine)")
    reference = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
    assert files == reference


def test_a_task_declares_each_setting_once_with_its_default():
    from codecbench.tasks import Task

    # The schema's task branches and the classes' defaults both come from setting_schemas: a validated config
    # gets the documented defaults, nested ones included.
    cfg = with_change("tasks.t", {"task": "classification", "dataset": "digits"})
    cfg["datasets"]["digits"] = {"source": "builtin"}
    settings = validate_config(cfg)["tasks"]["t"]
    assert (settings["epochs"], settings["model"], settings["augment"]) == (
        10,
        "small_cnn",
        {"hflip": False, "pad_crop": 2},
    )
    with pytest.raises(TypeError, match="give each setting's default in setting_schemas"):
        type("Twice", (Task,), {"name": "twice", "setting_schemas": {}, "default_settings": {"a": 1}})
    no_default = type("NoDefault", (Task,), {"name": "nodefault", "setting_schemas": {"a": {"type": "integer"}}})
    with pytest.raises(TypeError, match="task 'nodefault': setting 'a' has no default"):
        dict(no_default.default_settings)


TASK = {"task": "classification", "dataset": "digits"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dataset": "kodak"}, r"tasks\.t\.dataset: dataset 'kodak' is not declared"),
        ({"train_on": ["jpeg/30"]}, r"tasks\.t\.train_on\[0\]: '30' is not on jpeg's ladder \[25, 75\]"),
        ({"train_on": ["jpg/25"]}, r"tasks\.t\.train_on\[0\]: 'jpg/25' names no declared codec"),
        ({"train_on": ["jpeg"]}, r"tasks\.t\.train_on\[0\]: 'jpeg' does not match"),
        ({"model": "vgg16"}, r"tasks\.t\.model: 'vgg16' is not one of"),
        ({"epochs": 0}, r"tasks\.t\.epochs: 0 is less than the minimum of 1"),
        ({"colour": True}, r"tasks\.t: Unevaluated properties are not allowed \('colour' was unexpected\)"),
        ({"codecs": ["avif"]}, r"tasks\.t\.codecs: codec 'avif' is not declared"),
        ({"checkpoint": "/no/model.pt"}, r"tasks\.t\.checkpoint: file '/no/model.pt' does not exist"),
    ],
    ids=["dataset", "off-ladder", "unknown-codec", "no-quality", "model", "epochs", "unknown-key", "codecs", "checkpoint"],
)  # fmt: skip
def test_bad_task_config_is_rejected_naming_the_key(change, message):
    cfg = with_change("tasks.t", {**TASK, **change})
    cfg["datasets"]["digits"] = {"source": "builtin"}
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_a_task_needs_a_dataset_with_its_kind_of_annotations():
    with pytest.raises(
        ConfigError,
        match=r"tasks\.t\.dataset: task 'classification' needs a dataset annotated with class labels .* but "
        r"'photos' has no annotations",
    ):
        validate_config(with_change("tasks.t", {**TASK, "dataset": "photos"}))
    cfg = with_change("tasks.t", {**TASK, "dataset": "boxes"})
    cfg["datasets"]["boxes"] = {"source": "builtin", "name": "shapes"}
    with pytest.raises(
        ConfigError, match=r"needs a dataset annotated with class labels .* but 'boxes' has object boxes"
    ):
        validate_config(cfg)


def test_a_task_that_trains_needs_train_images_and_a_pretrained_one_no_train_on():
    cfg = with_change("tasks.t", {"task": "detection", "dataset": "coco"})
    cfg["datasets"]["coco"] = {"source": "coco", "max_images": 5}
    with pytest.raises(ConfigError, match=r"tasks\.t: its model trains, but dataset 'coco' has only test images"):
        validate_config(cfg)
    cfg["tasks"]["t"]["model"] = "yolov8n.pt"  # pretrained: evaluated on the test images
    assert validate_config(cfg)["tasks"]["t"]["model"] == "yolov8n.pt"
    cfg["tasks"]["t"]["train_on"] = ["original", "jpeg/25"]
    with pytest.raises(ConfigError, match=r"tasks\.t: its model is pretrained .* remove train_on"):
        validate_config(cfg)


def test_task_defaults_and_variants():
    from codecbench.config.plan import task_job_settings, train_variants, training_set_points

    cfg = with_change("tasks.t", {**TASK, "train_on": ["original", "jpeg/25"], "epochs": 3})
    cfg["datasets"]["digits"] = {"source": "builtin"}
    cfg = validate_config(cfg)
    entry = cfg["tasks"]["t"]
    assert entry["epochs"] == 3 and entry["batch_size"] == 64 and entry["augment"] == {"hflip": False, "pad_crop": 2}
    assert train_variants(cfg, "t") == ["original", "jpeg-25"]
    assert training_set_points(cfg) == [("digits-train", "jpeg", 25)]
    settings = task_job_settings(cfg, "t")
    assert settings["task"] == "classification" and "train_on" not in settings["settings"]
    assert settings["settings"]["epochs"] == 3


@pytest.mark.parametrize(
    "name",
    [
        "kodak-zoo",
        "kodak-train",
        "cifar10",
        "isic-folder",
        "coco-yolo",
        "plates-folder",
        "mot17-video",
        "imagenet",
        "roi-coco",
    ],
)
def test_full_scale_configs_are_valid(project, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    for folder in ("data/train", "data/isic", "data/plates"):  # the folders those configs ask the user to fill
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "data/plates/labels.csv").write_text("file,text\n")
    cfg = yaml.safe_load((project / "configs" / f"{name}.yaml").read_text())
    if name == "kodak-train":  # an addition to kodak-zoo.yaml (Snakemake merges the two)
        base = yaml.safe_load((project / "configs" / "kodak-zoo.yaml").read_text())
        cfg = {**base, "datasets": {**base["datasets"], **cfg["datasets"]}, "learned": cfg["learned"]}
    validated = validate_config(cfg)
    for task in validated["tasks"].values():
        assert validated["datasets"][task["dataset"]]["source"] in (
            "cifar10",
            "folder",
            "coco",
            "mot17",
            "ilsvrc2012_val",
        )
