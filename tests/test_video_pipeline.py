"""Video as frames through the image pipeline: clip grouping, the per-frame rate rows of a video codec, kbit/s of
a point and the video figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from codecbench.video_figures import point_rates, quality_points, with_frames


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


def test_a_frame_missing_from_frames_csv_is_named():
    rows = pd.DataFrame({"codec": "x", "quality": 1, "image_id": ["f9"], "bytes": [1.0], "bpp": [1.0]})
    frames = pd.DataFrame({"image_id": ["f0"], "clip": "c", "frame": [0], "fps": 25.0})
    with pytest.raises(ValueError, match="f9"):
        with_frames(rows, frames)
