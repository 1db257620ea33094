"""End-to-end runs of the real Snakefile on a tiny config in a temporary copy of the project.

Checks the outputs' content against independent computations, that nothing is written to $HOME, that the
default config does not leak into a --configfile run, and the exact jobs a dry run plans after config edits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from snakemake_project import TINY, finished_run, make_project_copy, planned_jobs, run_snakemake, write_config

REQUIRED_COLUMNS = [
    "dataset", "codec", "quality", "image_id", "bytes", "bpp", "psnr_rgb", "psnr_y", "ssim", "ms_ssim", "vif",
    "mse", "mae", "encode_s", "decode_s", "compression_ratio", "codec_version",
]  # fmt: skip
# Jobs that follow any change of a point: tables, statistics, provenance, every figure of the dataset, the stage
# costs (the point's jobs' benchmarks are new), the coding costs (its times per megapixel) and the findings.
AGGREGATES = [
    "all", "bd_rate", "complexity", "dataset_figures[dataset=tiny]", "findings", "provenance", "quality_table",
    "stage_costs", "summary",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, photo):
    return finished_run(tmp_path_factory, photo, "workflow", TINY)


def test_tidy_table_has_every_measurement(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/quality.csv")
    assert set(REQUIRED_COLUMNS) <= set(table.columns)
    assert len(table) == 2 * 4  # 2 images x (jpeg 30, jpeg 70, webp 50, png 6); equal-rate points apart
    assert sorted(set(zip(table.codec, table.quality, strict=True))) == [
        ("jpeg", 30),
        ("jpeg", 70),
        ("png", 6),
        ("webp", 50),
    ]
    pd.testing.assert_frame_equal(pd.read_parquet(tiny_run / "results/tables/quality.parquet"), table)


def test_rates_are_the_real_file_sizes(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/quality.csv")
    extension = {"jpeg": "jpg", "webp": "webp", "png": "png"}
    for row in table.itertuples():
        stream = (
            tiny_run
            / f"results/compressed/tiny/{row.codec}/{row.quality}/bitstreams/{row.image_id}.{extension[row.codec]}"
        )
        assert row.bytes == stream.stat().st_size
        assert row.bpp == pytest.approx(row.bytes * 8 / (row.width * row.height))
        assert row.compression_ratio == pytest.approx(row.width * row.height * 3 / row.bytes)


def test_psnr_matches_a_recomputation_from_the_files(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/quality.csv")
    for row in table[table.codec != "png"].itertuples():
        original = np.asarray(
            Image.open(tiny_run / f"input/{row.image_id}.{'png' if row.image_id == 'astronaut' else 'jpg'}").convert(
                "RGB"
            ),
            float,
        )
        stream = tiny_run / f"results/compressed/tiny/{row.codec}/{row.quality}/bitstreams"
        decoded = np.asarray(Image.open(next(stream.glob(f"{row.image_id}.*"))).convert("RGB"), float)
        mse = np.mean((original - decoded) ** 2)
        assert row.mse == pytest.approx(mse)
        assert row.psnr_rgb == pytest.approx(10 * np.log10(255**2 / mse))
    assert (table[table.codec == "png"].psnr_rgb == np.inf).all()


def test_compressai_json_per_codec(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/quality.csv")
    document = json.loads((tiny_run / "results/tables/tiny/jpeg.json").read_text())
    assert document["name"] == "jpeg"
    assert document["results"]["quality"] == [30, 70]
    means = table[table.codec == "jpeg"].groupby("quality").mean(numeric_only=True)
    assert document["results"]["bpp"] == pytest.approx(means.bpp.tolist())
    assert document["results"]["ms-ssim-rgb"] == pytest.approx(means.ms_ssim.tolist())
    assert {p.name for p in (tiny_run / "results/tables/tiny").iterdir()} == {"jpeg.json", "webp.json", "png.json"}


def test_figures_logs_and_benchmarks_are_written(tiny_run):
    for metric in ("psnr_rgb", "ms_ssim"):
        with Image.open(tiny_run / f"results/figures/tiny/rd_{metric}.png") as im:
            assert im.size[0] > 400 and np.asarray(im.convert("L")).std() > 5
    compress_log = (tiny_run / "results/logs/compress/tiny/jpeg.log").read_text()
    assert "Pillow" in compress_log and "jpeg quality=30: coding" in compress_log
    assert (tiny_run / "results/benchmarks/compress/tiny/webp.tsv").read_text().startswith("s\t")


def test_stage_costs_sum_every_jobs_benchmark(tiny_run):
    costs = pd.read_csv(tiny_run / "results/tables/stage_costs.csv").set_index("stage")
    # The tiny run's jobs with a benchmark, stage by stage (its benchmark folder holds nothing else).
    assert costs.jobs.to_dict() == {
        "prepare_dataset": 1, "compress": 3, "compress_target": 1, "summary": 1, "bd_rate": 1, "complexity": 1,
    }  # fmt: skip
    for stage in costs.index:
        folder = tiny_run / "results/benchmarks" / stage
        files = sorted(folder.rglob("*.tsv")) if folder.is_dir() else [folder.with_suffix(".tsv")]
        jobs = pd.concat([pd.read_csv(path, sep="\t") for path in files])
        assert costs.loc[stage, "wall_s"] == pytest.approx(jobs.s.sum(), abs=1e-3)
        assert costs.loc[stage, "cpu_s"] == pytest.approx(jobs.cpu_time.sum(), abs=1e-3)
        assert costs.loc[stage, "peak_rss_mb"] == pytest.approx(jobs.max_rss.max(), abs=1e-3)
    assert costs.wall_share_pct.sum() == pytest.approx(100, abs=0.01)
    with Image.open(tiny_run / "results/figures/stage_costs.png") as im:
        assert im.size[0] > 400
    assert "3 jobs, peak" in (tiny_run / "results/figures/stage_costs.svg").read_text()


def test_nothing_is_written_to_home_and_the_default_experiment_does_not_leak(tiny_run):
    assert list((tiny_run / "home").iterdir()) == []
    assert sorted(p.name for p in (tiny_run / "results/datasets").iterdir()) == ["tiny"]
    assert not (tiny_run / "results/compressed/tiny/avif").exists()


def test_up_to_date_run_plans_nothing(tiny_run):
    assert planned_jobs(tiny_run, write_config(tiny_run, TINY)) == []


def test_adding_a_quality_reruns_that_point_its_codecs_metrics_and_the_aggregates(tiny_run):
    cfg = {**TINY, "codecs": {**TINY["codecs"], "jpeg": {"qualities": [30, 50, 70]}}}
    assert planned_jobs(tiny_run, write_config(tiny_run, cfg, "more.yaml")) == sorted(
        [
            "compress_ladder[dataset=tiny, codec=jpeg]",
            *AGGREGATES,
        ]
    )


def test_editing_another_codecs_ladder_reruns_only_that_codec(tiny_run):
    ladder = {**TINY, "codecs": {**TINY["codecs"], "webp": {"qualities": [50, 80]}}}
    assert planned_jobs(tiny_run, write_config(tiny_run, ladder, "ladder.yaml")) == sorted(
        [
            "compress_ladder[dataset=tiny, codec=webp]",
            *AGGREGATES,
        ]
    )


def test_editing_a_codecs_options_reruns_its_points_only(tiny_run):
    options = {**TINY, "codecs": {**TINY["codecs"], "webp": {"qualities": [50], "options": {"method": 6}}}}
    assert planned_jobs(tiny_run, write_config(tiny_run, options, "options.yaml")) == sorted(
        [
            "compress_ladder[dataset=tiny, codec=webp]",
            *AGGREGATES,
        ]
    )


def test_changing_the_metrics_reruns_the_measuring_jobs_but_not_the_datasets(tiny_run):
    # What those jobs then code: nothing (test_a_rerun_codes_only_the_points_not_stored_yet).
    fewer = {**TINY, "metrics": ["psnr_rgb", "ms_ssim"]}
    jobs = planned_jobs(tiny_run, write_config(tiny_run, fewer, "metrics.yaml"))
    assert sorted(job for job in jobs if job.startswith("compress")) == [
        "compress_ladder[dataset=tiny, codec=jpeg]", "compress_ladder[dataset=tiny, codec=png]",
        "compress_ladder[dataset=tiny, codec=webp]", "compress_target[dataset=tiny, codec=jpeg, bpp=1]",
    ]  # fmt: skip
    assert not [job for job in jobs if job.startswith("prepare_dataset")]


STORE = {
    "datasets": {"tiny": {"source": "local", "path": "input"}},
    "codecs": {"jpeg": {"qualities": [30, 70]}},
    "metrics": ["psnr_rgb"],
    "bd": {"metrics": ["psnr_rgb"]},
    "statistics": {"n_boot": 100},
}


def test_a_rerun_codes_only_the_points_not_stored_yet(tmp_path, photo):
    """The one compression job of a ladder reruns when a point is added or the metrics change, but codes only the
    points whose stored bitstreams do not hold: new ones, and one whose file was damaged."""
    workdir = make_project_copy(tmp_path, photo)
    point = workdir / "results/compressed/tiny/jpeg"
    log = workdir / "results/logs/compress/tiny/jpeg.log"

    def run(cfg, name):
        run_snakemake(workdir, "--configfile", write_config(workdir, cfg, name))
        return log.read_text(), pd.read_csv(workdir / "results/tables/quality.csv")

    def stamps(quality):
        return {p.name: p.stat().st_mtime_ns for p in (point / str(quality) / "bitstreams").iterdir()}

    _, first = run(STORE, "first.yaml")
    before = {quality: stamps(quality) for quality in (30, 70)}
    more = {**STORE, "codecs": {"jpeg": {"qualities": [30, 50, 70]}}}
    text, second = run(more, "more.yaml")
    assert "jpeg quality=30: stored already with this coding key: reused" in text
    assert "jpeg quality=50: coding" in text and "2 points reused, 1 to code" in text
    assert {quality: stamps(quality) for quality in (30, 70)} == before  # not written again
    old = second[second.quality != 50].drop(columns=["encode_s", "decode_s"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(old, first.drop(columns=["encode_s", "decode_s"]))
    assert len(second[second.quality == 50]) == 2

    text, third = run({**more, "metrics": ["psnr_rgb", "mae"]}, "metrics.yaml")
    assert "3 points reused, 0 to code" in text and third.mae.notna().all()
    assert {quality: stamps(quality) for quality in (30, 70)} == before

    damaged = point / "70/bitstreams/coffee.jpg"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    text, fourth = run(more, "again.yaml")
    assert f"stored {damaged.relative_to(workdir)} is missing or changed: coding the point again" in text
    assert "2 points reused, 1 to code" in text and stamps(30) == before[30]
    assert damaged.read_bytes()[-2:] == b"\xff\xd9"  # a whole JPEG again
    pd.testing.assert_frame_equal(
        fourth.drop(columns=["encode_s", "decode_s"]), second.drop(columns=["encode_s", "decode_s"])
    )


def test_a_corrupt_image_fails_naming_the_file(tmp_path, photo):
    workdir = make_project_copy(tmp_path, photo)
    data = (workdir / "input/coffee.jpg").read_bytes()
    (workdir / "input/coffee.jpg").write_bytes(data[: len(data) // 3])
    proc = run_snakemake(workdir, "--configfile", write_config(workdir, TINY), check=False)
    assert proc.returncode != 0
    log = (workdir / "results/logs/prepare_dataset/tiny.log").read_text()
    assert "coffee.jpg" in log and "truncated" in log
    assert not (workdir / "results/datasets/tiny/manifest.csv").exists()


def chromium_executable() -> str:
    """Chromium, installed with Debian's package the way CI would if it is missing; skip if impossible."""
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Chromium is not installed, and installing Debian's 'chromium' needs root and apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:  # stale package lists: refresh once
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if path := shutil.which("chromium"):
        return path
    pytest.skip(f"Chromium could not be installed with apt-get: {proc.stderr.strip()[-500:]}")


# Run in the page after it loaded: what a click on the figure in the report's menu does (see the report's
# abstract_results.js), so that the screenshot shows the figure rather than the landing page.
SHOW_FIGURE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const path = Object.keys(results).find((key) => key.endsWith("/rd_psnr_rgb.png"));
  app.showCategory("Rate-quality");
  app.setView({content: "img", contentPath: results[path].data_uri, resultPath: path});
}, 300));
</script>
"""


def chromium(executable: str, profile: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    command = [
        executable, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1400,1000", "--virtual-time-budget=10000", *args, url,
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(profile)}
    )


def colour_pixels(image: np.ndarray, codec: str) -> int:
    from codecbench.report.figures import codec_style

    colour = np.round(np.array(codec_style(codec)["color"]) * 255).astype(int)
    return int((np.abs(image[..., :3].astype(int) - colour).sum(axis=2) < 12).sum())


def test_html_report_opens_in_a_browser_and_shows_the_rate_distortion_figure(tiny_run, tmp_path):
    run_snakemake(tiny_run, "--configfile", write_config(tiny_run, TINY), "--report", "results/report.html")
    report = tiny_run / "results/report.html"
    html = report.read_text()
    for expected in ("Rate-quality", "rd_psnr_rgb.png", "bd_rate.csv", "provenance.txt", "codecbench"):
        assert expected in html
    executable = chromium_executable()

    landing = chromium(executable, tmp_path / "p1", report.as_uri(), f"--screenshot={tmp_path / 'landing.png'}")
    assert (tmp_path / "landing.png").exists(), landing.stderr[-2000:]
    landing_pixels = np.asarray(Image.open(tmp_path / "landing.png").convert("RGB"))
    assert landing_pixels.std() > 10  # the page rendered, not a blank or error page

    navigated = tmp_path / "report-figure.html"
    end = html.rfind("</body>")  # the page's own end: embedded documents hold '</body>' too
    navigated.write_text(html[:end] + SHOW_FIGURE + html[end:])
    chromium(executable, tmp_path / "p2", navigated.as_uri(), f"--screenshot={tmp_path / 'figure.png'}")
    shot = np.asarray(Image.open(tmp_path / "figure.png").convert("RGB"))
    figure = np.asarray(Image.open(tiny_run / "results/figures/tiny/rd_psnr_rgb.png").convert("RGB"))
    # The curves' colours appear on screen as they do in the figure file, and not on the landing page.
    for codec in ("jpeg", "webp"):
        assert colour_pixels(figure, codec) > 50
        assert colour_pixels(shot, codec) > 0.5 * colour_pixels(figure, codec)
        assert colour_pixels(landing_pixels, codec) < 0.1 * colour_pixels(figure, codec)


def test_summary_holds_means_and_confidence_intervals(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/quality.csv")
    summary = pd.read_csv(tiny_run / "results/tables/summary.csv")
    jpeg30 = summary[(summary.codec == "jpeg") & (summary.quality == 30)].iloc[0]
    rows = table[(table.codec == "jpeg") & (table.quality == 30)]
    assert jpeg30.bpp == pytest.approx(rows.bpp.mean()) and jpeg30.n_images == 2
    assert (
        rows.psnr_rgb.min()
        <= jpeg30.psnr_rgb_ci_low
        <= jpeg30.psnr_rgb
        <= jpeg30.psnr_rgb_ci_high
        <= rows.psnr_rgb.max()
    )


def test_bd_table_rows_against_the_anchor(tiny_run):
    bd = pd.read_csv(tiny_run / "results/tables/bd_rate.csv")
    assert sorted(zip(bd.codec, bd.metric, strict=True)) == [
        ("png", "ms_ssim"),
        ("png", "psnr_rgb"),
        ("webp", "ms_ssim"),
        ("webp", "psnr_rgb"),
    ]
    assert set(bd.anchor) == {"jpeg"}
    assert not bd[bd.codec == "png"].available.any() and bd[bd.codec == "png"].bd_rate_pct.isna().all()
    assert (bd[bd.codec == "webp"].method == "pchip").all()


def test_equal_rate_points_pick_the_quality_nearest_the_target(tiny_run):
    rows = pd.read_csv(tiny_run / "results/tables/equal_rate.csv")
    assert sorted(rows.image_id) == ["astronaut", "coffee"] and set(rows.target_bpp) == {1.0}
    for row in rows.itertuples():
        assert 1 <= row.quality_used <= 100 and abs(row.bpp - 1.0) < 0.25
    summary = pd.read_csv(tiny_run / "results/tables/equal_rate_summary.csv")
    assert summary.codec.tolist() == ["jpeg"] and summary.bpp.iloc[0] == pytest.approx(rows.bpp.mean())


def test_provenance_names_versions_and_devices(tiny_run):
    provenance = json.loads((tiny_run / "results/provenance.json").read_text())
    assert provenance["config"]["codecs"]["jpeg"]["qualities"] == [30, 70]
    assert "ffmpeg" in provenance["codec_versions"].get("h264", "ffmpeg") and provenance["codec_versions"][
        "jpeg"
    ].startswith("Pillow")
    assert provenance["devices"] and provenance["devices"][0]["device"] == "cpu"
    assert provenance["config_sha256"][:12] in (tiny_run / "results/provenance.txt").read_text()


def test_every_figure_has_an_svg_twin_with_its_series(tiny_run):
    figures = tiny_run / "results/figures/tiny"
    pngs = sorted(p.stem for p in figures.glob("*.png"))
    assert pngs == sorted(p.stem for p in figures.glob("*.svg"))
    assert {"rd_psnr_rgb", "rd_ms_ssim", "spread_psnr_rgb", "coding_time", "bd_rate", "grid"} <= set(pngs)
    rd = (figures / "rd_psnr_rgb.svg").read_text()
    assert ">jpeg<" in rd and ">webp<" in rd and "png (" in rd  # curves for the lossy codecs, png listed as lossless


LEARNED_TINY = {
    "datasets": {
        "tiny": {"source": "local", "path": "input"},
        "train": {"source": "local", "path": "input", "evaluate": False},
    },
    "codecs": {"jpeg": {"qualities": [50]}},
    "learned": {
        "mini": {"architecture": "cae", "dataset": "train", "lambdas": [0.01, 0.05], "steps": 3, "batch_size": 2}
    },
    "metrics": ["psnr_rgb"],
    "statistics": {"n_boot": 100},
}


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory, photo):
    return finished_run(tmp_path_factory, photo, "learned", LEARNED_TINY)


def test_trained_codec_runs_like_any_codec(learned_run):
    models = sorted((learned_run / "results/models/codecs/mini").iterdir())
    assert [m.name.split("-")[0] for m in models] == ["1", "2"]
    for model in models:
        assert (model / "checkpoint.pth.tar").exists()
        assert len(pd.read_csv(model / "train.csv")) == 3
    table = pd.read_csv(learned_run / "results/tables/quality.csv")
    mini = table[table.codec == "mini"]
    assert sorted(set(mini.quality)) == [1, 2] and sorted(set(mini.train_lambda)) == [0.01, 0.05]
    assert (mini.reconstruction_mismatch <= 1).all() and (mini.bpp > 0).all()
    streams = learned_run / "results/compressed/tiny/mini/1/bitstreams"
    assert (
        all(p.read_bytes().startswith(b"CBL1") for p in streams.glob("*.cbl")) and len(list(streams.glob("*.cbl"))) == 2
    )
    assert not (learned_run / "results/compressed/train").exists()  # training images are not measured
    assert "training mini" in next((learned_run / "results/logs/train_codec/mini").iterdir()).read_text()


def test_changing_one_lambda_retrains_only_that_model(learned_run):
    cfg = {**LEARNED_TINY, "learned": {"mini": {**LEARNED_TINY["learned"]["mini"], "lambdas": [0.01, 0.2]}}}
    jobs = planned_jobs(learned_run, write_config(learned_run, cfg, "lambda.yaml"))
    trainings = [job for job in jobs if job.startswith("train_codec")]
    assert len(trainings) == 1 and "model=2," in trainings[0]
    assert "compress_ladder[dataset=tiny, codec=mini]" in jobs  # which codes model 2's point only
    assert not [job for job in jobs if "quality=1" in job or "codec=jpeg" in job]


TASK_TINY = {
    "datasets": {"digits": {"source": "builtin", "max_images": 80}},
    "codecs": {"jpeg": {"qualities": [10, 60]}, "webp": {"qualities": [30]}},
    "metrics": ["psnr_rgb"],
    "statistics": {"n_boot": 100},
    "tasks": {
        "digits_cnn": {
            "task": "classification", "dataset": "digits", "train_on": ["original", "jpeg/10"], "epochs": 2,
            "batch_size": 16,
        }
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def task_run(tmp_path_factory, photo):
    return finished_run(tmp_path_factory, photo, "tasks", TASK_TINY)


def images_sha256(paths: list[Path]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB"))).tobytes())
    return digest.hexdigest()


def test_a_model_trained_on_compressed_images_read_the_decoded_bitstreams(task_run):
    manifest = pd.read_csv(task_run / "results/datasets/digits/manifest.csv", dtype=str, keep_default_na=False)
    train = manifest[manifest.split == "train"]
    assert len(train) == 80 and set(train.label) <= set("0123456789")
    compressed = task_run / "results/compressed/digits-train/jpeg/10"
    streams = sorted((compressed / "bitstreams").glob("*.jpg"))
    assert len(streams) == 80 and all(p.read_bytes()[:2] == b"\xff\xd8" for p in streams)
    assert not (compressed / "decoded").exists()  # JPEG decodes again where pixels are needed
    decoded = [compressed / "bitstreams" / f"{image_id}.jpg" for image_id in train.image_id]
    info = json.loads((task_run / "results/models/tasks/digits_cnn/jpeg-10/training.json").read_text())
    assert info["images_sha256"] == images_sha256(decoded)  # Pillow's decoding of the stored JPEG files
    original = json.loads((task_run / "results/models/tasks/digits_cnn/original/training.json").read_text())
    assert original["images_sha256"] == images_sha256([task_run / "results/datasets/digits" / f for f in train.file])
    assert info["images_sha256"] != original["images_sha256"]
    assert not (task_run / "results/compressed/digits-train/webp").exists()  # nobody trains on webp


def test_every_model_is_scored_on_every_test_variant(task_run):
    summary = pd.read_csv(task_run / "results/tables/tasks/digits_cnn/summary.csv")
    points = {("uncompressed", 0), ("jpeg", 10), ("jpeg", 60), ("webp", 30)}
    for variant in ("original", "jpeg-10"):
        rows = summary[summary.train_variant == variant]
        assert set(zip(rows.codec, rows.quality, strict=True)) == points
        assert (rows.n_images == 80).all()
    predictions = pd.read_csv(
        task_run / "results/tables/tasks/digits_cnn/predictions.csv", dtype={"label": str, "predicted": str}
    )
    assert (predictions.correct == (predictions.label == predictions.predicted)).all()
    jpeg = predictions[(predictions.codec == "jpeg") & (predictions.quality == 10)].drop_duplicates("image_id")
    rates = pd.read_csv(task_run / "results/compressed/digits/jpeg/10/rate.csv", dtype={"image_id": str})
    assert dict(zip(jpeg.image_id, jpeg.bpp, strict=True)) == pytest.approx(
        dict(zip(rates.image_id, rates.bpp, strict=True))
    )
    plain = summary[(summary.train_variant == "original") & (summary.codec == "uncompressed")].iloc[0]
    rows = predictions[(predictions.train_variant == "original") & (predictions.codec == "uncompressed")]
    assert plain.accuracy == pytest.approx(rows.correct.mean()) and plain.bpp == 24
    sizes = pd.read_csv(task_run / "results/tables/tasks/digits_cnn/training_sets.csv")
    assert sizes.set_index("train_variant").train_bytes["original"] == 80 * 32 * 32 * 3
    for name in ("scores_bpp", "train_test_accuracy", "flips", "training_sets"):
        assert (task_run / f"results/figures/tasks/digits_cnn/{name}.png").stat().st_size > 5000
        assert "digits_cnn" in (task_run / f"results/figures/tasks/digits_cnn/{name}.svg").read_text()


def test_task_edits_rerun_only_what_depends_on_them(task_run):
    longer = {**TASK_TINY, "tasks": {"digits_cnn": {**TASK_TINY["tasks"]["digits_cnn"], "epochs": 3}}}
    jobs = planned_jobs(task_run, write_config(task_run, longer, "epochs.yaml"))
    assert sorted(j for j in jobs if j.startswith("train_task")) == [
        "train_task[task=digits_cnn, train_variant=jpeg-10]", "train_task[task=digits_cnn, train_variant=original]"
    ]  # fmt: skip
    assert not [j for j in jobs if j.startswith(("compress", "quality", "prepare"))]
    more = {**TASK_TINY, "codecs": {**TASK_TINY["codecs"], "webp": {"qualities": [30, 70]}}}
    jobs = planned_jobs(task_run, write_config(task_run, more, "webp.yaml"))
    assert not [j for j in jobs if j.startswith("train_task")]
    assert [j for j in jobs if j.startswith("evaluate_task")] == [
        "evaluate_task[task=digits_cnn, train_variant=jpeg-10]", "evaluate_task[task=digits_cnn, train_variant=original]"
    ]  # fmt: skip
    assert "compress_ladder[dataset=digits, codec=webp]" in jobs
    assert not [j for j in jobs if j.startswith("compress") and "codec=jpeg" in j]


def test_a_users_own_checkpoint_is_evaluated_without_training(task_run):
    own = task_run / "results/models/tasks/digits_cnn/original/checkpoint.pt"
    cfg = {**TASK_TINY, "tasks": {"mine": {"task": "classification", "dataset": "digits", "checkpoint": str(own)}}}
    jobs = planned_jobs(task_run, write_config(task_run, cfg, "own.yaml"))
    assert "evaluate_task[task=mine, train_variant=checkpoint]" in jobs
    assert not [j for j in jobs if j.startswith(("train_task", "compress", "prepare"))]


DETECTION_OCR_TINY = {
    "datasets": {
        "shapes": {"source": "builtin", "max_images": 24},  # the first 24 train and 24 test scenes
        "plates": {"source": "builtin", "max_images": 6},
    },
    "codecs": {"jpeg": {"qualities": [10, 80]}},
    "metrics": ["psnr_rgb"],
    "bd": {"metrics": ["psnr_rgb"]},
    "statistics": {"n_boot": 200},
    "tasks": {
        "yolo": {"task": "detection", "dataset": "shapes", "epochs": 2, "image_px": 64, "batch_size": 8},
        "ocr": {"task": "ocr", "dataset": "plates"},
    },
}


@pytest.fixture(scope="module")
def detection_ocr_run(tmp_path_factory, photo):
    return finished_run(tmp_path_factory, photo, "detection_ocr", DETECTION_OCR_TINY)


def test_a_detector_is_trained_and_scored_on_every_point(detection_ocr_run):
    run = detection_ocr_run
    info = json.loads((run / "results/models/tasks/yolo/original/training.json").read_text())
    assert info["num_images"] == 24 and info["classes"] == ["circle", "square", "triangle", "star"]
    assert not (run / "runs").exists() and list((run / "home").iterdir()) == []
    predictions = pd.read_csv(run / "results/tables/tasks/yolo/predictions.csv", dtype={"image_id": str})
    assert set(zip(predictions.codec, predictions.quality, strict=True)) == {
        ("uncompressed", 0),
        ("jpeg", 10),
        ("jpeg", 80),
    }
    objects = pd.read_csv(run / "results/datasets/shapes/objects.csv", dtype={"image_id": str})
    manifest = pd.read_csv(run / "results/datasets/shapes/manifest.csv", dtype={"image_id": str})
    test_ids = manifest[manifest.split == "test"].image_id
    expected = objects[objects.image_id.isin(test_ids)].groupby("image_id").size()
    plain = predictions[predictions.codec == "uncompressed"].set_index("image_id")
    assert plain.n_objects.to_dict() == expected.reindex(plain.index, fill_value=0).to_dict()
    for detections in predictions.detections:  # boxes in the 128x128 input's pixels
        for _, confidence, x0, y0, x1, y1 in json.loads(detections):
            assert 0 <= confidence <= 1 and -1 <= x0 <= x1 <= 129 and -1 <= y0 <= y1 <= 129
    summary = pd.read_csv(run / "results/tables/tasks/yolo/summary.csv")
    assert len(summary) == 3 and summary.map50.between(0, 1).all() and (summary.map50_95 <= summary.map50 + 1e-12).all()
    per_class = pd.read_csv(run / "results/tables/tasks/yolo/per_class.csv")
    assert set(per_class["class"]) <= {"circle", "square", "triangle", "star"} and "change" in per_class
    for name in ("scores_bpp", "per_class", "gallery", "flips"):
        assert (run / f"results/figures/tasks/yolo/{name}.png").stat().st_size > 5000


def test_ocr_reads_the_plates_at_every_point(detection_ocr_run):
    run = detection_ocr_run
    predictions = pd.read_csv(
        run / "results/tables/tasks/ocr/predictions.csv", dtype={"label": str, "text": str}, keep_default_na=False
    )
    assert set(predictions.train_variant) == {"pretrained"} and len(predictions) == 3 * 6
    plain = predictions[predictions.codec == "uncompressed"]
    manifest = pd.read_csv(run / "results/datasets/plates/manifest.csv", dtype=str, keep_default_na=False)
    assert sorted(plain.label) == sorted(manifest.label)
    summary = pd.read_csv(run / "results/tables/tasks/ocr/summary.csv").set_index("codec")
    exact = (plain.text.str.replace(" ", "") == plain.label.str.replace(" ", "")).mean()
    assert summary.exact_match["uncompressed"] == pytest.approx(exact)
    assert exact >= 0.5  # PP-OCRv4 reads most of the uncompressed plates
    assert not (run / "results/models/tasks/ocr").exists()  # nothing trained
    assert (run / "results/figures/tasks/ocr/gallery.png").stat().st_size > 5000
    bd = pd.read_csv(run / "results/tables/tasks/ocr/bd_rate.csv")
    assert bd.empty  # one codec: nothing to compare against the anchor


VIDEO_TINY = {
    "datasets": {"moving": {"source": "builtin", "name": "moving_shapes", "clips": ["test_00"], "max_frames": 6}},
    "codecs": {"jpeg": {"qualities": [50]}, "h264_video": {"qualities": [30], "options": {"gop": 3}}},
    "metrics": ["psnr_y", "vmaf"],
    "bd": {"metrics": ["psnr_y"]},
    "statistics": {"n_boot": 100},
    "tasks": {"edges": {"task": "edges", "dataset": "moving"}},
}


@pytest.fixture(scope="module")
def video_run(tmp_path_factory, photo):
    return finished_run(tmp_path_factory, photo, "video", VIDEO_TINY)


def ffmpeg_frame(stream: Path, index: int, height: int, width: int) -> np.ndarray:
    """Frame ``index`` of a video file as the ffmpeg program decodes it to RGB (BT.601 full range, as coded)."""
    import imageio_ffmpeg

    from codecbench.codecs.ffmpeg import TO_RGB

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(stream), "-vf", f"{TO_RGB},format=rgb24"]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    raw = subprocess.run(command, capture_output=True, check=True).stdout
    padded = (height + height % 2, width + width % 2)
    frames = np.frombuffer(raw, np.uint8).reshape(-1, *padded, 3)
    return frames[index, :height, :width]


def test_a_clip_is_one_video_file_whose_frames_are_measured_like_images(video_run):
    point = video_run / "results/compressed/moving/h264_video/30"
    (stream,) = (point / "bitstreams").glob("*.mp4")
    assert stream.name == "test_00.mp4"
    table = pd.read_csv(video_run / "results/tables/quality.csv", dtype={"image_id": str})
    frames = table[table.codec == "h264_video"].sort_values("frame")
    assert len(frames) == 6 and frames.bytes.sum() == pytest.approx(stream.stat().st_size)
    assert list(frames.frame_type[frames.frame % 3 == 0]) == ["I", "I"]  # gop 3
    # PSNR-Y of frame 3 recomputed from the files: decoded PNG against the prepared frame.
    from codecbench.io import read_rgb
    from codecbench.metrics import psnr_y

    row = frames[frames.frame == 3].iloc[0]
    reference = read_rgb(video_run / f"results/datasets/moving/images/{row.image_id}.png")
    assert not (point / "decoded").exists()  # a video codec's clip decodes again where pixels are needed
    decoded = ffmpeg_frame(stream, 3, int(row.height), int(row.width))
    assert row.psnr_y == pytest.approx(psnr_y(reference, decoded))
    assert table.vmaf.between(0, 100.001).all() and (table.groupby("codec").vmaf.mean() > 50).all()
    for name in ("kbps", "traces"):
        assert (video_run / f"results/figures/moving/{name}.png").stat().st_size > 5000
        assert "h264_video" in (video_run / f"results/figures/moving/{name}.svg").read_text()


def test_edges_are_scored_on_every_frame_of_every_point(video_run):
    summary = pd.read_csv(video_run / "results/tables/tasks/edges/summary.csv")
    assert set(summary.codec) == {"uncompressed", "jpeg", "h264_video"} and (summary.n_images == 6).all()
    assert summary.ods_f.between(0, 1).all() and (summary.ois_f >= summary.ods_f - 1e-9).all()
    assert (video_run / "results/figures/tasks/edges/scores_kbps.png").stat().st_size > 5000


def test_a_learned_video_codec_trains_on_the_clips_in_the_plan(video_run):
    training_clips = {"source": "builtin", "name": "moving_shapes", "clips": ["train_00"], "evaluate": False}
    cfg = {
        **VIDEO_TINY,
        "datasets": {**VIDEO_TINY["datasets"], "clips": training_clips},
        "learned": {"ssf": {"architecture": "ssf2020", "dataset": "clips", "lambdas": [0.01], "crop_px": 128}},
    }
    jobs = planned_jobs(video_run, write_config(video_run, cfg, "ssf.yaml"))
    trained = [job for job in jobs if job.startswith("train_codec")]
    assert len(trained) == 1 and trained[0].startswith("train_codec[codec=ssf, model=1, settings_hash=")
    assert "compress_ladder[dataset=moving, codec=ssf]" in jobs
    assert "prepare_dataset[dataset=clips]" in jobs and not [job for job in jobs if "dataset=clips, codec" in job]
