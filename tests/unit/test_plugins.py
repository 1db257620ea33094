"""A user's metric and dataset source, registered from outside the package in files named under ``plugins``,
through the schema, a real workflow run, its tables, JSON, figures and reruns; and the errors a broken plug-in
gets."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from snakemake_project import make_project_copy, planned_jobs, run_snakemake, write_config

from codecbench.config.plugins import PluginError, load_plugins
from codecbench.config.validate import ConfigError, load_schema, validate_config
from codecbench.metrics import REGISTRY, compute_metrics, unregister_metric

# One file, as a user writes it: a lower-is-better metric, and a higher-is-better one with a CompressAI key (so it
# gets rate-quality and spread figures, and BD-rates).
TOY_METRICS = """
import numpy as np
from codecbench.metrics import psnr_from_mse, register_metric


@register_metric("max_abs_error", label="largest absolute error (8-bit)", higher_is_better=False)
def max_abs_error(reference, decoded):
    return float(np.max(np.abs(reference.astype(np.int16) - decoded)))


@register_metric("psnr_green", label="PSNR of the green channel (dB)", compressai_key="psnr-green")
def psnr_green(reference, decoded):
    return psnr_from_mse(float(np.mean((reference[..., 1].astype(np.float64) - decoded[..., 1]) ** 2)))
"""
TOY_NAMES = ("max_abs_error", "psnr_green")
# A dataset source of the user's, with an entry key of its own: `count` gradient images, 64x48.
TOY_SOURCE = """
import numpy as np
from codecbench.datasets import SourceImage, SourceSet, in_memory
from codecbench.datasets.sources import DatasetSource, register_source


def gradient(index):
    ramp = np.linspace(0, 255, 64)[None, :, None]
    return np.broadcast_to(ramp * [1.0, 0.5, 0.25] + 30 * index, (48, 64, 3)).clip(0, 255).astype(np.uint8)


def gradients(dataset, entry, downloads_dir):
    images = (SourceImage(f"g{i}", "test", "", in_memory(gradient(i), f"gradient {i}")) for i in range(entry["count"]))
    return SourceSet(images)


register_source(DatasetSource(
    name="gradients", description="synthetic colour ramps: unlabelled test images", read=gradients,
    options={"count": {"type": "integer", "minimum": 1, "description": "how many images"}},
))
"""


def toy_gradient(index: int) -> np.ndarray:
    """The plug-in source's image ``index``, computed here independently of it."""
    ramp = np.linspace(0, 255, 64)
    image = np.empty((48, 64, 3))
    for channel, weight in enumerate((1.0, 0.5, 0.25)):
        image[..., channel] = ramp[None, :] * weight + 30 * index
    return np.clip(image, 0, 255).astype(np.uint8)


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


@pytest.mark.workflow
def test_a_plugin_metric_and_dataset_source_run_through_the_workflow(tmp_path, photo):
    workdir = make_project_copy(tmp_path, photo)
    (workdir / "plugins").mkdir()
    (workdir / "plugins" / "toy_metrics.py").write_text(TOY_METRICS)
    (workdir / "plugins" / "toy_source.py").write_text(TOY_SOURCE)
    cfg = {
        "plugins": ["plugins/toy_metrics.py", "plugins/toy_source.py"],
        "datasets": {"tiny": {"source": "local", "path": "input"}, "ramps": {"source": "gradients", "count": 3}},
        "codecs": {"jpeg": {"qualities": [30, 70]}, "webp": {"qualities": [20, 60]}},
        "metrics": ["psnr_rgb", "max_abs_error", "psnr_green"],
        "statistics": {"n_boot": 100},
    }
    configfile = write_config(workdir, cfg)
    run_snakemake(workdir, "--configfile", configfile)

    table = pd.read_csv(workdir / "results/tables/quality.csv", dtype={"image_id": str})
    manifest = pd.read_csv(workdir / "results/datasets/ramps/manifest.csv")
    assert list(manifest.image_id) == ["g0", "g1", "g2"]
    assert list(manifest.source) == ["gradient 0", "gradient 1", "gradient 2"]
    for row in table[table.dataset == "ramps"].itertuples():
        stream = workdir / f"results/compressed/ramps/{row.codec}/{row.quality}/bitstreams"
        decoded = np.asarray(Image.open(next(stream.glob(f"{row.image_id}.*"))).convert("RGB"), np.int64)
        assert row.max_abs_error == np.abs(toy_gradient(int(row.image_id[1:])).astype(np.int64) - decoded).max()
    table = table[table.dataset == "tiny"]
    for row in table.itertuples():
        suffix = "png" if row.image_id == "astronaut" else "jpg"
        original = np.asarray(Image.open(workdir / f"input/{row.image_id}.{suffix}").convert("RGB"), np.int64)
        stream = workdir / f"results/compressed/tiny/{row.codec}/{row.quality}/bitstreams"
        decoded = np.asarray(Image.open(next(stream.glob(f"{row.image_id}.*"))).convert("RGB"), np.int64)
        assert row.max_abs_error == np.abs(original - decoded).max()
        green_mse = np.mean((original[..., 1] - decoded[..., 1]) ** 2.0)
        assert row.psnr_green == pytest.approx(10 * np.log10(255**2 / green_mse))
    document = json.loads((workdir / "results/tables/tiny/jpeg.json").read_text())
    means = table[table.codec == "jpeg"].groupby("quality").psnr_green.mean()
    assert document["results"]["psnr-green"] == pytest.approx(means.loc[[30, 70]].tolist())
    assert "max_abs_error" not in document["results"]  # it declares no CompressAI key
    summary = pd.read_csv(workdir / "results/tables/summary.csv")
    assert {"max_abs_error", "max_abs_error_ci_low", "psnr_green_ci_high"} <= set(summary.columns)
    bd = pd.read_csv(workdir / "results/tables/bd_rate.csv")
    assert sorted(bd[bd.dataset == "tiny"].metric) == ["psnr_green", "psnr_rgb"]
    figures = workdir / "results/figures/tiny"
    assert (figures / "rd_psnr_green.png").is_file() and not (figures / "rd_max_abs_error.png").exists()
    assert "PSNR of the green channel (dB)" in (figures / "rd_psnr_green.svg").read_text()
    assert planned_jobs(workdir, configfile) == []  # the plug-in is imported by the dry run as by the jobs
    # Editing a plug-in reruns what runs plug-in code: the metric jobs, and the preparing of the dataset whose source
    # is a plug-in's (its images are then compared by content: a dry run cannot know yet that they are the same).
    with (workdir / "plugins" / "toy_metrics.py").open("a") as handle:
        handle.write("# edited\n")
    planned = planned_jobs(workdir, configfile)
    assert [job for job in planned if job.startswith(("quality_ladder", "prepare_dataset"))] == [
        "prepare_dataset[dataset=ramps]",
        "quality_ladder[dataset=ramps, codec=jpeg]", "quality_ladder[dataset=ramps, codec=webp]",
        "quality_ladder[dataset=tiny, codec=jpeg]", "quality_ladder[dataset=tiny, codec=webp]",
    ]  # fmt: skip
    assert not [job for job in planned if job.startswith("compress") and "dataset=tiny" in job]


def test_a_source_option_that_clashes_with_the_schema_is_named():
    from codecbench.datasets.sources import DatasetSource, registered_source

    clash = DatasetSource("clash", "a source redefining path", read=None, options={"path": {"type": "integer"}})
    with registered_source(clash), pytest.raises(ValueError, match="dataset source 'clash': option 'path' is already"):
        load_schema()
    assert (
        "clash" not in load_schema()["properties"]["datasets"]["additionalProperties"]["properties"]["source"]["enum"]
    )
