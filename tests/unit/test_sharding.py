"""Sharding: the shard function (every row once, in order, clips whole), the merges (unsharded order, hard-linked
folders) and sharded compression of a video dataset in the library. workflow/test_sharded_run.py runs the real
Snakefile sharded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snakemake_project import TIMING_COLUMNS

from codecbench.config.plan import dataset_job_settings, dataset_shards, images_per_shard, is_sharded
from codecbench.config.validate import ConfigError, validate_config
from codecbench.datasets import FRAME_COLUMNS, MANIFEST_COLUMNS
from codecbench.stages.shards import (
    assign_shards,
    coding_order,
    count_shards,
    merge_shard_tables,
    read_shard_table,
    shard_rows,
)


def _manifest(root: Path, image_ids: list[str], clips: list[str] | None = None) -> Path:
    """A manifest (and, with ``clips``, a frames.csv) of test images; no image files (the shard function needs
    none)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [[i, f"images/{i}.png", 8, 8, "test", "", "", "RGB", ""] for i in image_ids]
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(root / "manifest.csv", index=False)
    if clips is not None:
        frame = pd.Series(clips).groupby(clips).cumcount()
        frames = pd.DataFrame({"image_id": image_ids, "clip": clips, "frame": frame, "fps": 10.0})
        frames[FRAME_COLUMNS].to_csv(root / "frames.csv", index=False)
    return root / "manifest.csv"


def _rows(manifest: Path) -> pd.DataFrame:
    return pd.read_csv(manifest, dtype={"image_id": str})


@pytest.mark.parametrize("n_rows, n_shards", [(12, 3), (13, 4), (7, 1), (100, 7)])
def test_image_shards_are_contiguous_blocks_covering_every_row_once(tmp_path, n_rows, n_shards):
    manifest = _manifest(tmp_path, [f"im{i:03d}" for i in range(n_rows)])
    rows = _rows(manifest)
    shards = [shard_rows(manifest, rows, k, n_shards) for k in range(n_shards)]
    pd.testing.assert_frame_equal(pd.concat(shards, ignore_index=True), rows)
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == n_rows


def test_more_shards_than_rows_leaves_shards_empty(tmp_path):
    manifest = _manifest(tmp_path, ["a", "b"])
    rows = _rows(manifest)
    shards = [shard_rows(manifest, rows, k, 5) for k in range(5)]
    assert [list(s.image_id) for s in shards if len(s)] == [["a"], ["b"]]
    assert sum(s.empty for s in shards) == 3
    assert list(shards[4].columns) == list(rows.columns)  # an empty shard keeps the manifest's columns
    with pytest.raises(ValueError, match="shard 5"):
        shard_rows(manifest, rows, 5, 5)


def test_clips_are_never_split(tmp_path):
    clips = ["a"] * 5 + ["b"] * 1 + ["c"] * 4 + ["d"] * 2 + ["e"] * 6
    manifest = _manifest(tmp_path, [f"f{i:02d}" for i in range(len(clips))], clips)
    rows = _rows(manifest)
    clip_of = dict(zip(rows.image_id, clips, strict=True))
    for n_shards in (2, 3, 4, 5, 9):
        shards = [shard_rows(manifest, rows, k, n_shards) for k in range(n_shards)]
        pd.testing.assert_frame_equal(pd.concat(shards, ignore_index=True), rows)
        owner = {}
        for k, shard in enumerate(shards):
            for clip in {clip_of[i] for i in shard.image_id}:
                assert owner.setdefault(clip, k) == k, f"clip {clip} split over shards {owner[clip]} and {k}"
                assert clips.count(clip) == sum(clip_of[i] == clip for i in shard.image_id)
        assert len(owner) == 5
    # Blocks are balanced by frames, not clips: the clips start at frames 0, 5, 6, 10, 12 of 18, so over 3 shards
    # (a clip goes to shard floor(3 * start / 18)) a+b, c+d and e hold 6 frames each.
    assert assign_shards(np.repeat(np.arange(5), [5, 1, 4, 2, 6]), 3).tolist() == [0] * 6 + [1] * 6 + [2] * 6


def test_a_video_codec_keeps_an_image_dataset_in_one_shard(tmp_path):
    manifest = _manifest(tmp_path, [f"im{i}" for i in range(6)])
    rows = _rows(manifest)
    shards = [shard_rows(manifest, rows, k, 3, sequence_codec=True) for k in range(3)]
    assert [len(s) for s in shards] == [6, 0, 0]


def test_a_size_gives_rows_over_size_shards_but_never_more_than_units(tmp_path):
    images = _manifest(tmp_path / "images", [f"im{i:02d}" for i in range(12)])
    rows = _rows(images)
    assert [count_shards(images, rows, size) for size in (1, 4, 5, 11, 12, 100)] == [12, 3, 3, 2, 1, 1]
    assert count_shards(images, rows, 5, sequence_codec=True) == 1  # a video codec reads it as one clip
    clips = ["a"] * 10 + ["b"] * 2
    video = _manifest(tmp_path / "video", [f"f{i:02d}" for i in range(12)], clips)
    assert [count_shards(video, _rows(video), size) for size in (1, 6, 12)] == [2, 2, 1]  # two clips
    with pytest.raises(ValueError, match="at least 1"):
        count_shards(images, rows, 0)


def test_merging_restores_the_unsharded_order_and_checks_coverage():
    order = ["x3", "x1", "x2", "x0"]
    full = pd.DataFrame({"quality": ["10"] * 4 + ["50"] * 4, "image_id": order * 2, "value": list("abcdefgh")})
    # Shards hold their images at every point; one is empty.
    shard_a = full[full.image_id.isin(["x3", "x1"])]
    shard_b = full[full.image_id.isin(["x2", "x0"])].sort_values(["quality", "image_id"])  # x0 before x2
    merged = merge_shard_tables([shard_b, pd.DataFrame(), shard_a], order, group_columns=["quality"])
    pd.testing.assert_frame_equal(merged, full.reset_index(drop=True))
    with pytest.raises(ValueError, match="rerun the shard jobs"):
        merge_shard_tables([shard_a], order, group_columns=["quality"])  # a shard missing
    with pytest.raises(ValueError, match="rerun the shard jobs"):
        merge_shard_tables([shard_a, shard_a, shard_b], order, group_columns=["quality"])  # a shard twice


def test_shard_tables_round_trip_as_text(tmp_path):
    (tmp_path / "a.csv").write_text("image_id,clip,bpp\n007,01,0.30000000000000004\n")
    (tmp_path / "empty.csv").write_text("\n")
    table = read_shard_table(tmp_path / "a.csv")
    assert table.iloc[0].tolist() == ["007", "01", "0.30000000000000004"]
    assert read_shard_table(tmp_path / "empty.csv").empty


def test_the_config_takes_a_shard_count_per_dataset(tmp_path):
    cfg = {
        "datasets": {"digits": {"source": "builtin", "shards": 4}, "photos": {"source": "builtin"}},
        "codecs": {"jpeg": {"qualities": [50]}},
    }
    valid = validate_config(cfg)
    assert dataset_shards(valid, "digits") == 4 and dataset_shards(valid, "digits-train") == 4
    assert dataset_shards(valid, "photos") == 1
    # Preparing a dataset does not depend on how its later jobs are split.
    assert dataset_job_settings(valid, "digits") == {"source": "builtin"}
    with pytest.raises(ConfigError, match="shards"):
        validate_config({**cfg, "datasets": {"digits": {"source": "builtin", "shards": 0}}})
    assert not is_sharded(valid, "photos") and images_per_shard(valid, "photos") is None


def test_sharding_by_size_applies_to_every_dataset_without_its_own_setting():
    cfg = {
        "datasets": {
            "digits": {"source": "builtin", "shards": 1},  # a fixed count wins: unsharded
            "photos": {"source": "builtin"},
            "shapes": {"source": "builtin", "images_per_shard": 10},
        },
        "codecs": {"jpeg": {"qualities": [50]}},
        "sharding": {"images_per_shard": 500},
    }
    valid = validate_config(cfg)
    assert [images_per_shard(valid, d) for d in ("digits", "photos", "shapes", "shapes-train")] == [None, 500, 10, 10]
    assert [is_sharded(valid, d) for d in ("digits", "photos", "shapes")] == [False, True, True]
    assert dataset_job_settings(valid, "shapes") == {"source": "builtin"}
    assert validate_config({k: v for k, v in cfg.items() if k != "sharding"})["sharding"] == {"images_per_shard": None}
    with pytest.raises(ConfigError, match="datasets.shapes: set either shards .* or images_per_shard"):
        validate_config({**cfg, "datasets": {"shapes": {"source": "builtin", "shards": 2, "images_per_shard": 5}}})
    with pytest.raises(ConfigError, match="images_per_shard"):
        validate_config({**cfg, "sharding": {"images_per_shard": 0}})


def test_sharded_compression_of_clips_merges_to_the_unsharded_rate_table(tmp_path):
    """The library path of compress_ladder_shard + compress_ladder_merge on a video dataset with a video codec:
    each clip is one file in one shard, every shard writes into the one point store; the merged rate table and
    the store's files equal one unsharded job's."""
    from codecbench.datasets import prepare_dataset, read_split
    from codecbench.stages.compress import compress_ladder
    from codecbench.stages.points import Point

    settings = {"source": "builtin", "name": "moving_shapes", "clips": ["test_00", "test_01"], "max_frames": 3}
    prepare_dataset("moving", settings, tmp_path / "moving", tmp_path / "downloads")
    manifest = tmp_path / "moving" / "manifest.csv"
    codec = {"codec": "h264_video", "options": {"gop": 3}}

    def run(out: Path, shard=None):
        point = Point(30, out / "30", codec)
        label = "whole" if shard is None else f"shard-{shard[0]}"
        return compress_ladder(manifest, [point], [], {}, out / f"rates-{label}.csv", shard=shard)[0]

    run(tmp_path / "whole")
    for k in range(3):  # 2 clips over 3 shards: one shard is empty
        run(tmp_path / "sharded", shard=(k, 3))
    store = tmp_path / "sharded" / "30"
    assert sorted(p.name for p in store.glob("rate-*.csv")) == [f"rate-{k}-of-3.csv" for k in range(3)]
    order = coding_order(manifest, read_split(manifest, "test"), sequence_codec=True)
    shard_tables = [read_shard_table(tmp_path / "sharded" / f"rates-shard-{k}.csv") for k in range(3)]
    assert sorted(len(table) for table in shard_tables) == [0, 3, 3]
    merged = merge_shard_tables(shard_tables, order, group_columns=["quality"])
    whole = read_shard_table(tmp_path / "whole" / "rates-whole.csv")
    pd.testing.assert_frame_equal(merged.drop(columns=TIMING_COLUMNS), whole.drop(columns=TIMING_COLUMNS))
    whole_files = sorted((tmp_path / "whole" / "30" / "bitstreams").iterdir())
    assert [path.name for path in whole_files] == sorted(p.name for p in (store / "bitstreams").iterdir())
    for path in whole_files:
        assert (store / "bitstreams" / path.name).read_bytes() == path.read_bytes()
