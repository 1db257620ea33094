"""Tidy table, CompressAI-shaped JSON and the rate-distortion figure, on small hand-made tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from codecbench.report.figures import (
    centre_crop,
    codec_style,
    plot_bd_bars,
    plot_coding_time,
    plot_rate_quality,
    plot_spread,
    select_grid_points,
)
from codecbench.stages.aggregate import compressai_results, write_codec_json, write_quality_table


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


def summary_rows():
    return pd.DataFrame(
        [
            {
                "dataset": "d",
                "codec": "jpeg",
                "quality": 10,
                "bpp": 0.5,
                "psnr_rgb": 30.0,
                "psnr_rgb_ci_low": 29.0,
                "psnr_rgb_ci_high": 31.0,
                "encode_s": 0.01,
                "decode_s": 0.01,
            },
            {
                "dataset": "d",
                "codec": "jpeg",
                "quality": 50,
                "bpp": 1.0,
                "psnr_rgb": 34.0,
                "psnr_rgb_ci_low": 33.5,
                "psnr_rgb_ci_high": 34.5,
                "encode_s": 0.02,
                "decode_s": 0.01,
            },
            {
                "dataset": "d",
                "codec": "webp",
                "quality": 50,
                "bpp": 0.7,
                "psnr_rgb": 33.0,
                "psnr_rgb_ci_low": 32.0,
                "psnr_rgb_ci_high": 34.0,
                "encode_s": 0.05,
                "decode_s": 0.02,
            },
            {
                "dataset": "d",
                "codec": "png",
                "quality": 6,
                "bpp": 12.0,
                "psnr_rgb": math.inf,
                "psnr_rgb_ci_low": math.inf,
                "psnr_rgb_ci_high": math.inf,
                "encode_s": 0.1,
                "decode_s": 0.02,
            },
        ]
    )


def svg_texts(path) -> list[str]:
    """Text elements of an SVG written by matplotlib (svg.fonttype 'none' keeps them as text)."""
    import xml.etree.ElementTree as ET

    return [el.text.strip() for el in ET.parse(path).iter() if el.tag.endswith("text") and el.text and el.text.strip()]


def test_rate_quality_figure_draws_lossy_codecs_and_lists_lossless_ones(tmp_path):
    drawn = plot_rate_quality(summary_rows(), "psnr_rgb", "test", tmp_path / "rd.png", tmp_path / "rd.svg")
    assert drawn == ["jpeg", "webp"]
    texts = svg_texts(tmp_path / "rd.svg")
    assert "jpeg" in texts and "webp" in texts and "PSNR-RGB (dB)" in texts and "rate (bits per pixel)" in texts
    assert any("png (12.00 bpp)" in t for t in texts)
    pixels = np.asarray(Image.open(tmp_path / "rd.png").convert("RGB"))
    jpeg_colour = np.round(np.array(codec_style("jpeg")["color"]) * 255).astype(int)
    assert (np.abs(pixels.astype(int) - jpeg_colour).sum(axis=2) < 10).sum() > 50  # the curve is there


def test_coding_time_and_spread_figures_hold_every_codec(tmp_path):
    assert plot_coding_time(summary_rows(), "t", tmp_path / "t.png", tmp_path / "t.svg") == ["jpeg", "png", "webp"]
    assert {"encode time per image (s)", "decode time per image (s)"} <= set(svg_texts(tmp_path / "t.svg"))
    table = pd.DataFrame(
        {
            "codec": ["jpeg"] * 4 + ["webp"] * 2,
            "quality": [50, 50, 10, 10, 50, 50],
            "bpp": [1.0, 1.2, 0.4, 0.5, 0.7, 0.8],
            "psnr_rgb": [34, 35, 30, 31, 33, 33.5],
        }
    )
    labels = plot_spread(table, "psnr_rgb", "s", tmp_path / "s.png", tmp_path / "s.svg")
    assert labels == ["jpeg 10", "jpeg 50", "webp 50"]  # by codec, then by rate


def test_bd_bars_mark_unreliable_and_unavailable_values(tmp_path):
    bd = pd.DataFrame(
        [
            {
                "codec": "webp",
                "anchor": "jpeg",
                "metric": "psnr_rgb",
                "bd_rate_pct": -20.0,
                "bd_rate_ci_low": -25.0,
                "bd_rate_ci_high": -15.0,
                "available": True,
                "bd_rate_reliable": True,
            },
            {
                "codec": "avif",
                "anchor": "jpeg",
                "metric": "psnr_rgb",
                "bd_rate_pct": -30.0,
                "bd_rate_ci_low": -40.0,
                "bd_rate_ci_high": -20.0,
                "available": True,
                "bd_rate_reliable": False,
            },
            {
                "codec": "png",
                "anchor": "jpeg",
                "metric": "psnr_rgb",
                "bd_rate_pct": math.nan,
                "bd_rate_ci_low": math.nan,
                "bd_rate_ci_high": math.nan,
                "available": False,
                "bd_rate_reliable": False,
            },
        ]
    )
    assert plot_bd_bars(bd, "bd", tmp_path / "bd.png", tmp_path / "bd.svg") == ["avif", "png", "webp"]
    texts = svg_texts(tmp_path / "bd.svg")
    assert "n/a" in texts and any("BD-rate against jpeg" in t for t in texts)
    assert "<pattern" in (tmp_path / "bd.svg").read_text()  # the unreliable bar is hatched


def test_grid_points_are_nearest_the_target_rate_with_ties_to_the_lower_rate():
    table = pd.DataFrame(
        {
            "image_id": ["a"] * 5 + ["b"],
            "codec": ["jpeg", "jpeg", "jpeg", "webp", "webp", "webp"],
            "quality": [10, 30, 50, 20, 40, 20],
            "bpp": [0.3, 0.45, 0.9, 0.4, 0.6, 0.5],
        }
    )
    chosen = select_grid_points(table, "a", 0.5)
    assert chosen[["codec", "quality"]].values.tolist() == [["jpeg", 30], ["webp", 20]]  # webp: 0.4 and 0.6 tie


def test_centre_crop_takes_the_middle():
    image = np.arange(10 * 12 * 3).reshape(10, 12, 3)
    assert np.array_equal(centre_crop(image, 4), image[3:7, 4:8])
    assert centre_crop(image, 50).shape == image.shape


def test_each_codec_keeps_its_own_colour():
    colours = {tuple(codec_style(name)["color"]) for name in ("jpeg", "webp", "avif", "h264", "hevc", "av1")}
    assert len(colours) == 6
    assert codec_style("jpeg") == codec_style("jpeg")


def test_grid_leaves_out_codecs_that_only_reproduce_the_image():
    table = pd.DataFrame(
        {
            "image_id": ["a"] * 3,
            "codec": ["jpeg", "png", "original"],
            "quality": [30, 6, 0],
            "bpp": [0.5, 12.0, 24.0],
            "psnr_rgb": [31.0, math.inf, math.inf],
        }
    )
    assert select_grid_points(table, "a", 0.5).codec.tolist() == ["jpeg"]


def test_bd_table_with_only_the_anchor_has_a_header_and_no_rows(tmp_path):
    from codecbench.stages.aggregate import BD_TABLE_COLUMNS, write_bd_table

    table = write_quality_table(
        [point_table(tmp_path, "jpeg", 5, [("a", 7, 25.0)])], tmp_path / "q.csv", tmp_path / "q.parquet"
    )
    assert len(table) == 1
    bd = write_bd_table(
        tmp_path / "q.csv",
        tmp_path / "bd.csv",
        "jpeg",
        {"metrics": ["psnr_rgb"], "method": "pchip"},
        {"n_boot": 100, "seed": 0, "confidence": 0.95},
    )
    assert bd.empty and pd.read_csv(tmp_path / "bd.csv").columns.tolist() == BD_TABLE_COLUMNS


def test_atomic_writes_leave_ordinary_permissions(tmp_path):
    import os
    import stat

    from codecbench.io import write_text_atomic

    write_text_atomic(tmp_path / "f.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o666 & ~umask


def test_every_registered_codec_has_a_fixed_style_slot():
    import codecbench.codecs.learned  # noqa: F401 (registers the learned codecs)
    from codecbench.codecs import CODECS
    from codecbench.report.figures import STYLE_ORDER

    assert sorted(CODECS) == sorted(STYLE_ORDER)  # a new codec is appended to STYLE_ORDER, keeping old colours
    styles = {(codec_style(name)["color"], codec_style(name)["marker"]) for name in STYLE_ORDER}
    assert len(styles) == len(STYLE_ORDER)


def test_evaluate_a_folder_in_one_process(tmp_path, photo, capsys):
    import json

    from PIL import Image

    from codecbench.evaluate import main

    (tmp_path / "images").mkdir()
    sides = {"a": (100, 120), "b": (100, 140)}
    for name, (height, width) in sides.items():
        Image.fromarray(photo[:height, :width]).save(tmp_path / "images" / f"{name}.png")
    argv = [str(tmp_path / "images"), "--codec", "jpeg", "--quality", "30", "80", "--option", "optimize=true"]
    main([*argv, "--metrics", "psnr_rgb", "--out", str(tmp_path / "out")])
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "out" / "jpeg.json").read_text())
    assert printed["results"]["quality"] == [30, 80]
    for quality, bpp in zip(("30", "80"), printed["results"]["bpp"], strict=True):
        streams = tmp_path / "out" / "compressed" / quality / "bitstreams"
        per_image = [(streams / f"{name}.jpg").stat().st_size * 8 / (h * w) for name, (h, w) in sides.items()]
        assert bpp == pytest.approx(np.mean(per_image))


def test_a_file_that_is_no_benchmark_is_named(tmp_path):
    from codecbench.report.stage_costs import stage_cost_table

    good, bad = tmp_path / "good.tsv", tmp_path / "bad.tsv"
    good.write_text("s\th:m:s\tmax_rss\tcpu_time\n2.5\t0:00:02\t100.0\t2.0\n")
    bad.write_text("seconds\n1\n")
    table = stage_cost_table({"compress": [good, good], "summary": [good]})
    assert table.to_dict("list") == {
        "stage": ["compress", "summary"], "jobs": [2, 1], "wall_s": [5.0, 2.5], "cpu_s": [4.0, 2.0],
        "mean_wall_s": [2.5, 2.5], "max_wall_s": [2.5, 2.5], "peak_rss_mb": [100.0, 100.0],
        "wall_share_pct": [66.667, 33.333], "cpu_share_pct": [66.667, 33.333],
    }  # fmt: skip
    with pytest.raises(
        ValueError, match=r"bad\.tsv: not a Snakemake benchmark TSV \(missing \['cpu_time', 'max_rss', 's'\]\)"
    ):
        stage_cost_table({"compress": [bad]})
