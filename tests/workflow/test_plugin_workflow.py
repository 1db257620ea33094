"""A user's metric and dataset source, registered from outside the package in files named under ``plugins``,
through a real workflow run: its tables, JSON, figures, and the reruns an edit of a plug-in causes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from snakemake_project import make_project_copy, planned_jobs, run_snakemake, write_config
from toy_plugins import TOY_METRICS, TOY_SOURCE, toy_gradient


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
    # Editing a plug-in reruns what runs plug-in code: the jobs that measure (which reuse every stored point: the
    # codecs are the package's), and the preparing of the dataset whose source is a plug-in's (its images are then
    # compared by content: a dry run cannot know yet that they are the same).
    with (workdir / "plugins" / "toy_metrics.py").open("a") as handle:
        handle.write("# edited\n")
    planned = planned_jobs(workdir, configfile)
    assert [job for job in planned if job.startswith(("compress", "prepare_dataset"))] == [
        "compress_ladder[dataset=ramps, codec=jpeg]", "compress_ladder[dataset=ramps, codec=webp]",
        "compress_ladder[dataset=tiny, codec=jpeg]", "compress_ladder[dataset=tiny, codec=webp]",
        "prepare_dataset[dataset=ramps]",
    ]  # fmt: skip
