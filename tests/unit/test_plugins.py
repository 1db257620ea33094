"""A user's metric and dataset source, registered from outside the package in files named under ``plugins``:
through the schema and the metric registry, and the errors a broken plug-in gets. workflow/test_plugin_workflow.py
runs them through a real workflow."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from toy_plugins import TOY_CODEC, TOY_METRICS, TOY_NAMES, TOY_TASK

from codecbench.config.plugins import PluginError, load_plugins
from codecbench.config.validate import ConfigError, load_schema, validate_config
from codecbench.metrics import REGISTRY, compute_metrics, unregister_metric


@pytest.fixture
def toy_plugin(tmp_path, monkeypatch):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "toy_metrics.py").write_text(TOY_METRICS)
    monkeypatch.chdir(tmp_path)
    modules = set(sys.modules)
    yield "plugins/toy_metrics.py"
    for name in TOY_NAMES:
        if name in REGISTRY:
            unregister_metric(name)
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def test_a_plugin_metric_joins_the_schema_and_is_computed(toy_plugin):
    assert "max_abs_error" not in load_schema()["properties"]["metrics"]["items"]["enum"]
    cfg = {"datasets": {"d": {"source": "builtin", "name": "photos"}}, "codecs": {"jpeg": {"qualities": [50]}}}
    with pytest.raises(ConfigError, match=r"'max_abs_error' is not one of"):
        validate_config({**cfg, "metrics": ["psnr_rgb", "max_abs_error"]})
    load_plugins([toy_plugin, toy_plugin])  # a second import of the same file is the module already loaded
    schema = load_schema()
    assert schema["properties"]["metrics"]["items"]["enum"][-2:] == list(TOY_NAMES)
    assert schema["properties"]["metrics"]["default"][-2:] == list(TOY_NAMES)  # registered as default ones
    assert "psnr_green" in schema["properties"]["bd"]["properties"]["metrics"]["items"]["enum"]
    assert "max_abs_error" not in schema["properties"]["bd"]["properties"]["metrics"]["items"]["enum"]
    done = validate_config({**cfg, "plugins": [toy_plugin], "metrics": ["psnr_rgb", "max_abs_error", "psnr_green"]})
    assert done["bd"]["metrics"] == ["psnr_rgb", "psnr_green"]  # the higher-is-better ones
    reference = np.zeros((4, 4, 3), np.uint8)
    decoded = reference.copy()
    decoded[1, 2] = (9, 3, 250)
    values = compute_metrics(reference, decoded, list(TOY_NAMES))
    assert values["max_abs_error"] == 250.0
    assert values["psnr_green"] == pytest.approx(10 * np.log10(255**2 / (9 / 16)))


def test_registering_a_metric_name_twice_is_refused(toy_plugin):
    load_plugins([toy_plugin])
    from codecbench.metrics import register_metric

    with pytest.raises(ValueError, match="metric 'psnr_green' registered twice"):
        register_metric("psnr_green", label="again")(lambda reference, decoded: 0.0)
    with pytest.raises(ValueError, match="metric name 'bpp'"):
        register_metric("bpp", label="rate")(lambda reference, decoded: 0.0)


def test_a_broken_plugin_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PluginError, match=r"plugins: 'missing\.py' is not a file"):
        load_plugins(["missing.py"])
    with pytest.raises(PluginError, match=r"plugins: cannot import 'no_such_plugin_module' \(No module named"):
        load_plugins(["no_such_plugin_module"])
    (tmp_path / "broken.py").write_text("raise RuntimeError('needs a GPU')\n")
    with pytest.raises(PluginError, match=r"plugins: 'broken\.py' failed on import: RuntimeError: needs a GPU"):
        load_plugins(["broken.py"])


def test_a_source_option_that_clashes_with_the_schema_is_named():
    from codecbench.datasets.sources import DatasetSource, registered_source

    clash = DatasetSource("clash", "a source redefining path", read=None, options={"path": {"type": "integer"}})
    with registered_source(clash), pytest.raises(ValueError, match="dataset source 'clash': option 'path' is already"):
        load_schema()
    assert (
        "clash" not in load_schema()["properties"]["datasets"]["additionalProperties"]["properties"]["source"]["enum"]
    )


@pytest.fixture
def toy_codec_and_task(tmp_path, monkeypatch):
    from codecbench.codecs import unregister_codec
    from codecbench.tasks import TASKS

    (tmp_path / "toy_codec.py").write_text(TOY_CODEC)
    (tmp_path / "toy_task.py").write_text(TOY_TASK)
    monkeypatch.chdir(tmp_path)
    modules = set(sys.modules)
    yield ["toy_codec.py", "toy_task.py"]
    unregister_codec("posterize")
    TASKS.pop("brightness", None)
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def test_a_plugin_codec_and_task_join_the_schema_and_run(toy_codec_and_task, photo):
    import pandas as pd

    from codecbench.codecs import make_codec
    from codecbench.config.plan import train_variants
    from codecbench.tasks import get_task_class

    cfg = {
        "datasets": {"photos": {"source": "builtin"}},
        "codecs": {"posterize": {"qualities": [2, 4]}},
        "tasks": {"b": {"task": "brightness", "dataset": "photos"}},
    }
    with pytest.raises(ConfigError, match="posterize"):
        validate_config(cfg)
    load_plugins(toy_codec_and_task)
    done = validate_config({**cfg, "plugins": toy_codec_and_task})
    assert done["codecs"]["posterize"]["options"] == {"compress_level": 6}  # the class's default
    assert done["tasks"]["b"]["scale"] == 1.0
    assert train_variants(done, "b") == ["pretrained"]
    with pytest.raises(ConfigError, match=r"codecs\.posterize\.qualities\[0\]: 9 is greater than the maximum of 8"):
        validate_config({**cfg, "codecs": {"posterize": {"qualities": [9]}}})
    codec = make_codec("posterize", 3)
    decoded = codec.decode(codec.encode(photo))
    assert np.array_equal(decoded, (photo >> 5) << 5)  # computed here, independently of the plug-in
    task = get_task_class("brightness")({"scale": 1.0})
    task.load()
    ids = ["a"]
    rows = task.reference_annotations(task.predict([photo], ids), pd.DataFrame({"image_id": ids}))
    per_sample, aggregate = task.score(task.predict([decoded], ids), rows)
    assert aggregate["mean_abs_error"] == pytest.approx(abs(decoded.mean() - photo.mean()))
