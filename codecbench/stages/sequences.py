"""Video as frames: which frames of a prepared dataset form which clip.

A video dataset's ``frames.csv`` names each frame's clip, display index and frame rate
(:func:`codecbench.datasets.read_frames`). An image dataset has none: a video codec then reads its images, in
manifest order, as one clip (:data:`IMAGE_SEQUENCE_CLIP`) at :data:`IMAGE_SEQUENCE_FPS` frames per second, the
seed's "CIFAR-10 as WebM" experiment. Its images must then all have one size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

IMAGE_SEQUENCE_CLIP = "sequence"
IMAGE_SEQUENCE_FPS = 25.0  # kbit/s depends on it (and with rate_control bitrate, the bytes per frame)


@dataclass(frozen=True)
class Clip:
    """One clip of a split: its name, frame rate and manifest rows in display order."""

    name: str
    fps: float
    rows: pd.DataFrame


def split_clips(manifest_path: str | Path, rows: pd.DataFrame) -> list[Clip]:
    """The clips that ``rows`` (one split of the manifest) fall into, each in display order.

    Without ``frames.csv`` the rows are one clip in manifest order; ValueError naming the dataset and two sizes
    if the images are not all the same size (a video stream has one frame size).
    """
    from ..datasets import read_frames

    dataset_dir = Path(manifest_path).parent
    frames = read_frames(dataset_dir)
    if frames is None:
        sizes = rows[["width", "height"]].drop_duplicates()
        if len(sizes) > 1:
            (w1, h1), (w2, h2) = sizes.to_numpy()[:2]
            raise ValueError(
                f"{dataset_dir.name}: a video codec reads this image dataset as one clip, but its images differ in "
                f"size ({w1}x{h1} and {w2}x{h2}, e.g.); use image codecs on it, or a dataset of one image size"
            )
        return [Clip(IMAGE_SEQUENCE_CLIP, IMAGE_SEQUENCE_FPS, rows.reset_index(drop=True))]
    merged = rows.merge(frames, on="image_id", how="left", validate="1:1")
    missing = merged["clip"].isna()
    if missing.any():
        raise ValueError(
            f"{dataset_dir / 'frames.csv'} lacks frames {list(merged.image_id[missing])[:5]}; prepare the dataset again"
        )
    clips = []
    for name, group in merged.groupby("clip", sort=False):
        group = group.sort_values("frame").reset_index(drop=True)
        clips.append(Clip(str(name), float(group.fps.iloc[0]), group))
    return clips
