"""Video as frames through the image pipeline: clip grouping, the per-frame rate rows of a video codec, kbit/s of
a point and the video figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dataset_builders import prepared_images

from codecbench.report.video_figures import kbps_table, point_rates, quality_points, with_frames


def test_point_rates_are_clip_bytes_over_clip_durations():
    # Two clips: a at 10 fps (3 frames of 100 bytes = 0.3 s), b at 5 fps (2 frames of 50 bytes = 0.4 s).
    # kbit/s = (300 + 100) bytes * 8 / 0.7 s / 1000 = 4.5714...
    rows = pd.DataFrame(
        {
            "codec": "x",
            "quality": 1,
            "image_id": ["a0", "a1", "a2", "b0", "b1"],
            "bytes": [100.0, 100, 100, 50, 50],
            "bpp": [1.0, 1, 1, 2, 2],
        }
    )
    frames = pd.DataFrame(
        {
            "image_id": ["a0", "a1", "a2", "b0", "b1"],
            "clip": list("aaabb"),
            "frame": [0, 1, 2, 0, 1],
            "fps": [10.0] * 3 + [5.0] * 2,
        }
    )
    rates = point_rates(with_frames(rows, frames))
    assert rates.kbps.iloc[0] == pytest.approx(400 * 8 / 0.7 / 1000)
    assert rates.frames.iloc[0] == 5 and rates.bpp.iloc[0] == pytest.approx(1.4)


def test_quality_points_average_frames_and_skip_infinite_psnr():
    rows = pd.DataFrame(
        {"codec": "x", "quality": 1, "image_id": ["f0", "f1"], "bytes": [10.0, 10.0], "bpp": [0.1, 0.1],
         "psnr_y": [30.0, np.inf]}
    )  # fmt: skip
    frames = pd.DataFrame({"image_id": ["f0", "f1"], "clip": "c", "frame": [0, 1], "fps": 25.0})
    points = quality_points(with_frames(rows, frames), "psnr_y")
    assert points.psnr_y.iloc[0] == 30.0 and points.kbps.iloc[0] == pytest.approx(20 * 8 * 12.5 / 1000)


def test_the_kbps_table_holds_each_point_by_rate_with_its_mean_metrics():
    # Codec x at two points, one clip of 2 frames at 25 fps (0.08 s): q1 20 bytes, q2 40 bytes in all.
    rows = pd.DataFrame(
        {"codec": "x", "quality": [1, 1, 2, 2], "image_id": ["f0", "f1", "f0", "f1"], "bytes": [10.0, 10, 30, 10],
         "bpp": [0.1, 0.1, 0.3, 0.1], "psnr_y": [30.0, np.inf, 35.0, 37.0], "ssim": [0.8, 0.9, 0.95, 0.97]}
    )  # fmt: skip
    frames = pd.DataFrame({"image_id": ["f0", "f1"], "clip": "c", "frame": [0, 1], "fps": 25.0})
    table = kbps_table(with_frames(rows, frames), ["psnr_y", "ssim"])
    assert list(table.quality) == [1, 2]
    assert table.kbps.tolist() == pytest.approx([20 * 8 / 0.08 / 1000, 40 * 8 / 0.08 / 1000])
    assert table.psnr_y.tolist() == pytest.approx([30.0, 36.0]) and table.ssim.tolist() == pytest.approx([0.85, 0.96])
    assert table.frames.tolist() == [2, 2] and table.seconds.tolist() == pytest.approx([0.08, 0.08])


def test_a_frame_missing_from_frames_csv_is_named():
    rows = pd.DataFrame({"codec": "x", "quality": 1, "image_id": ["f9"], "bytes": [1.0], "bpp": [1.0]})
    frames = pd.DataFrame({"image_id": ["f0"], "clip": "c", "frame": [0], "fps": 25.0})
    with pytest.raises(ValueError, match="f9"):
        with_frames(rows, frames)


def test_a_video_codec_reads_an_image_dataset_as_one_clip(tmp_path, photo):
    from codecbench.stages.compress import compress_point
    from codecbench.stages.points import Point, PointImages

    # Three crops sliding over the photo: the seed's "CIFAR-10 as WebM", one clip at 25 fps.
    manifest = prepared_images(tmp_path / "data", [photo[i * 4 : i * 4 + 48, :64] for i in range(3)])
    out = tmp_path / "point"
    rates, _ = compress_point(manifest, "vp9_video", 30, {}, out)
    (stream,) = (out / "bitstreams").iterdir()
    assert stream.name == "sequence.webm"
    assert rates.bytes.sum() == pytest.approx(stream.stat().st_size)  # the frames' shares add up to the file
    assert list(rates.frame) == [0, 1, 2] and rates.frame_type[0] == "I" and set(rates["clip"]) == {"sequence"}
    assert (rates.frame_bytes.sum() < stream.stat().st_size) and (rates.fps == 25.0).all()
    assert not (out / "decoded").exists()  # a video codec decodes its clip again wherever pixels are needed
    point = Point(30, out, {"codec": "vp9_video", "options": {}})
    assert PointImages(point, rates)[2].shape == (48, 64, 3)


def test_a_video_codec_on_images_of_different_sizes_names_them(tmp_path, photo):
    from codecbench.stages.compress import compress_point

    manifest = prepared_images(tmp_path / "data", [photo[:48, :64], photo[:40, :64]])
    with pytest.raises(ValueError, match=r"differ in size \(64x48 and 64x40"):
        compress_point(manifest, "h264_video", 30, {}, tmp_path / "point")


def test_each_clip_of_a_video_dataset_is_one_file_in_frame_order(tmp_path):
    from codecbench.datasets import prepare_dataset, read_frames
    from codecbench.stages.compress import compress_point

    cfg = {"source": "builtin", "name": "moving_shapes", "max_frames": 5}
    prepare_dataset("moving", cfg, tmp_path / "moving", tmp_path / "downloads")
    out = tmp_path / "point"
    rates, _ = compress_point(tmp_path / "moving/manifest.csv", "h264_video", 30, {"gop": 2}, out)
    files = sorted(path.name for path in (out / "bitstreams").iterdir())
    assert files == ["test_00.mp4", "test_01.mp4"]
    for clip, rows in rates.groupby("clip"):
        assert rows.bytes.sum() == pytest.approx((out / "bitstreams" / f"{clip}.mp4").stat().st_size)
        assert list(rows.frame) == [0, 1, 2, 3, 4]
        assert list(rows.frame_type[rows.frame % 2 == 0]) == ["I"] * 3  # a key frame every gop = 2 frames
    frames = read_frames(tmp_path / "moving")
    assert set(rates.image_id) == set(frames.image_id[frames["clip"].str.startswith("test")])


def test_the_train_split_of_a_video_dataset_is_coded_clip_by_clip(tmp_path):
    from codecbench.datasets import prepare_dataset
    from codecbench.stages.compress import compress_point

    cfg = {"source": "builtin", "name": "moving_shapes", "clips": ["train_00", "train_01", "test_00"], "max_frames": 3}
    prepare_dataset("moving", cfg, tmp_path / "moving", tmp_path / "downloads")
    out = tmp_path / "point"
    rates, _ = compress_point(tmp_path / "moving/manifest.csv", "h264_video", 30, {}, out, split="train")
    assert sorted(p.name for p in (out / "bitstreams").iterdir()) == ["train_00.mp4", "train_01.mp4"]
    assert len(rates) == 6 and set(rates["clip"]) == {"train_00", "train_01"}


def test_edges_against_the_detectors_own_uncompressed_reading_end_to_end(tmp_path, photo):
    from codecbench.stages.compress import compress_point
    from codecbench.stages.points import Point, PointImages
    from codecbench.stages.tasks import evaluate_task_model

    manifest = prepared_images(tmp_path / "data", [photo[:64, :96], photo[64:128, :96]])
    folder = tmp_path / "jpeg5"
    rates, _ = compress_point(manifest, "jpeg", 5, {}, folder)
    settings = {"task": "edges", "settings": {"detector": "canny", "ground_truth": "original", "thresholds": 9}}
    stored = PointImages(Point(5, folder, {"codec": "jpeg", "options": {}}), rates)
    points = [("uncompressed", 0, None), ("jpeg", 5, stored)]
    table = evaluate_task_model(settings, manifest, None, points, {"task": "e"}, tmp_path / "eval.csv")
    plain, jpeg = (table[table.codec == codec] for codec in ("uncompressed", "jpeg"))
    assert (plain.ois_f == 1.0).all()  # the uncompressed reading is the ground truth itself
    assert (jpeg.ois_f < 0.9).all()  # JPEG quality 5 moves Canny's edges
