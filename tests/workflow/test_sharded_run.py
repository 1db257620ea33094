"""A sharded run of the real Snakefile (by size and by count, compression, metrics and a task's evaluation split
into shard jobs) whose merged results equal an unsharded run's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from snakemake_project import TIMING_COLUMNS, make_project_copy, planned_jobs, run_snakemake, write_config

# digits sharded by size (12 test images, 5 per shard: 3 shards, counted once it is prepared), photos by count.
SHARDED = {
    "datasets": {
        "digits": {"source": "builtin", "max_images": 12},
        "photos": {"source": "builtin", "max_images": 3, "shards": 2},
    },
    "sharding": {"images_per_shard": 5},
    "codecs": {"jpeg": {"qualities": [20, 80]}},
    "metrics": ["psnr_rgb", "ssim"],
    "bd": {"metrics": ["psnr_rgb"]},
    "statistics": {"n_boot": 100},
    "tasks": {
        "cnn": {"task": "classification", "dataset": "digits", "model": "small_cnn", "epochs": 1, "batch_size": 8}
    },
}
UNSHARDED = {
    **{key: value for key, value in SHARDED.items() if key != "sharding"},
    "datasets": {"digits": {"source": "builtin", "max_images": 12}, "photos": {"source": "builtin", "max_images": 3}},
}


def test_a_sharded_run_gives_the_results_of_an_unsharded_run(tmp_path_factory, photo):
    from concurrent.futures import ThreadPoolExecutor

    sharded, unsharded = (make_project_copy(tmp_path_factory.mktemp(name), photo) for name in ("sharded", "unsharded"))
    # Both runs at once: a run's jobs leave cores idle (job start-up, and Snakemake lingers after the last job).
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(run_snakemake, workdir, "--configfile", write_config(workdir, cfg))
            for workdir, cfg in ((sharded, SHARDED), (unsharded, UNSHARDED))
        ]
        for run in runs:
            run.result()
    point = "results/compressed/digits/jpeg/20"

    def read(run: Path, path: str) -> pd.DataFrame:
        return pd.read_csv(run / path, dtype={"image_id": str, "label": str, "predicted": str})

    logs = sharded / "results/logs"
    assert sorted(p.name for p in (logs / "compress/digits/jpeg").iterdir()) == [
        f"shard-{k}-of-3.log" for k in range(3)
    ]
    assert "shard 1 of 3: 4 of 12 images" in (logs / "compress/digits/jpeg/shard-1-of-3.log").read_text()
    assert sorted(p.name for p in (logs / "evaluate_task/cnn/original").iterdir()) == [
        f"shard-{k}-of-3.log" for k in range(3)
    ]
    assert sorted(p.name for p in (logs / "compress/photos/jpeg").iterdir()) == ["shard-0-of-2.log", "shard-1-of-2.log"]
    assert not (sharded / "results/compressed/digits/jpeg/shards").exists()  # temporary, merged
    # Each shard job stored its rows of the point beside the others'.
    assert sorted(p.name for p in (sharded / point).glob("rate-*.csv")) == [f"rate-{k}-of-3.csv" for k in range(3)]
    quality = read(sharded, "results/tables/quality.csv")
    timing = [c for c in TIMING_COLUMNS if c in quality]
    pd.testing.assert_frame_equal(
        quality.drop(columns=timing), read(unsharded, "results/tables/quality.csv").drop(columns=timing)
    )
    rates = "results/compressed/digits/jpeg/rates.csv"
    pd.testing.assert_frame_equal(
        read(sharded, rates).drop(columns=TIMING_COLUMNS), read(unsharded, rates).drop(columns=TIMING_COLUMNS)
    )
    files = sorted(p for p in (unsharded / point / "bitstreams").iterdir() if not p.name.startswith("."))
    assert len(files) == 12
    assert [p.name for p in files] == sorted(p.name for p in (sharded / point / "bitstreams").glob("[!.]*"))
    assert all((sharded / point / "bitstreams" / p.name).read_bytes() == p.read_bytes() for p in files)
    for table in ("tasks/cnn/original/predictions.csv", "tables/tasks/cnn/predictions.csv"):
        pd.testing.assert_frame_equal(read(sharded, f"results/{table}"), read(unsharded, f"results/{table}"))
    summary = [c for c in read(unsharded, "results/tables/tasks/cnn/summary.csv") if not c.endswith("_s")]
    pd.testing.assert_frame_equal(
        read(sharded, "results/tables/tasks/cnn/summary.csv")[summary],
        read(unsharded, "results/tables/tasks/cnn/summary.csv")[summary],
    )
    # Up to date: nothing reruns although the temporary shard outputs are gone.
    assert planned_jobs(sharded, write_config(sharded, SHARDED, "again.yaml")) == []
