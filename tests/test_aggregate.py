"""Tidy table, CompressAI-shaped JSON and the rate-distortion figure, on small hand-made tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from codecbench.aggregate import compressai_results, write_codec_json, write_quality_table
from codecbench.figures import codec_style, plot_rate_distortion


def point_table(tmp_path, codec, quality, rows, dataset="d"):
    """Write one per-point table; rows are (image_id, bytes, psnr_rgb)."""
    frame = pd.DataFrame(
        [
            {
                "dataset": dataset, "codec": codec, "quality": quality, "image_id": image_id, "width": 10,
                "height": 10, "bytes": n_bytes, "bpp": n_bytes * 8 / 100, "encode_s": 0.1, "decode_s": 0.01,
                "codec_version": "lib 1.0", "psnr_rgb": psnr, "ms_ssim": 0.9, "compression_ratio": 300 / n_bytes,
            }
            for image_id, n_bytes, psnr in rows
        ]
    )  # fmt: skip
    path = tmp_path / f"{codec}-{quality}.csv"
    frame.to_csv(path, index=False)
    return path


def test_compressai_json_holds_per_quality_means_in_bpp_order(tmp_path):
    paths = [
        point_table(tmp_path, "h264", 40, [("a", 10, 30.0), ("b", 30, 32.0)]),  # CRF 40: the lower rate
        point_table(tmp_path, "h264", 20, [("a", 50, 40.0), ("b", 70, 42.0)]),
    ]
    document = write_codec_json(paths, tmp_path / "h264.json")
    assert json.loads((tmp_path / "h264.json").read_text()) == document
    assert document["name"] == "h264" and "lib 1.0" in document["description"]
    results = document["results"]
    assert results["quality"] == [40, 20]
    assert results["bpp"] == pytest.approx([1.6, 4.8])  # (10+30)/2*8/100 and (50+70)/2*8/100
    assert results["psnr-rgb"] == pytest.approx([31.0, 41.0])
    assert results["n_images"] == [2, 2]


def test_infinite_psnr_becomes_null_in_json(tmp_path):
    path = point_table(tmp_path, "png", 6, [("a", 100, math.inf)])
    document = write_codec_json([path], tmp_path / "png.json")
    assert document["results"]["psnr-rgb"] == [None]
    assert "Infinity" not in (tmp_path / "png.json").read_text()


def test_mixing_codecs_in_one_json_is_an_error(tmp_path):
    table = pd.concat([pd.read_csv(point_table(tmp_path, c, 1, [("a", 1, 1.0)])) for c in ("jpeg", "webp")])
    with pytest.raises(ValueError, match="one dataset and one codec"):
        compressai_results(table, "x", "")


def test_quality_table_is_sorted_and_round_trips_through_parquet(tmp_path):
    paths = [
        point_table(tmp_path, "webp", 50, [("b", 5, 30.0), ("a", 6, 31.0)]),
        point_table(tmp_path, "jpeg", 5, [("a", 7, 25.0)]),
    ]
    table = write_quality_table(paths, tmp_path / "q.csv", tmp_path / "q.parquet")
    assert table[["codec", "image_id"]].values.tolist() == [["jpeg", "a"], ["webp", "a"], ["webp", "b"]]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "q.parquet"), table)


def test_duplicate_rows_are_refused(tmp_path):
    path = point_table(tmp_path, "jpeg", 5, [("a", 7, 25.0)])
    with pytest.raises(ValueError, match="duplicate rows"):
        write_quality_table([path, path], tmp_path / "q.csv", tmp_path / "q.parquet")


def test_rate_distortion_figure_draws_lossy_codecs_and_lists_lossless_ones(tmp_path):
    documents = [
        {"name": "jpeg", "results": {"bpp": [0.5, 1.0], "psnr-rgb": [30.0, 34.0]}},
        {"name": "png", "results": {"bpp": [12.0], "psnr-rgb": [None]}},
    ]
    drawn = plot_rate_distortion(documents, "psnr-rgb", "test", tmp_path / "rd.png")
    assert drawn == ["jpeg"]
    pixels = np.asarray(Image.open(tmp_path / "rd.png").convert("RGB"))
    jpeg_colour = np.round(np.array(codec_style("jpeg")["color"]) * 255).astype(int)
    assert (np.abs(pixels.astype(int) - jpeg_colour).sum(axis=2) < 10).sum() > 50  # the curve is there


def test_each_codec_keeps_its_own_colour():
    colours = {tuple(codec_style(name)["color"]) for name in ("jpeg", "webp", "avif", "h264", "hevc", "av1")}
    assert len(colours) == 6
    assert codec_style("jpeg") == codec_style("jpeg")
