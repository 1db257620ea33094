"""A compression point's stored truth: its bitstreams and its rate rows. Decoded images are derived from them.

A point's folder (:func:`codecbench.layout.point_dir`) holds ``bitstreams/`` (the files a user would store), its
rate rows (``rate.csv``, or ``rate-<k>-of-<n>.csv`` per shard) and, only for a codec that keeps them,
``decoded/<image_id>.png``. Each rate row records which file holds the image (``bitstream``), that file's sha256
and the sha256 of the decoded pixels, so that every reader can check that what it decodes is what was measured.

Whether a codec keeps its decoded images is its class's ``keeps_decoded`` (decoding is expensive: a network, one
ffmpeg process per image), which a config overrides per codec with ``keep_decoded``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..codecs import CodecError, SequenceCodec, get_codec_class, make_codec
from ..io import read_rgb

# Columns of a stored rate row that say where its image is and check it; they stay out of the quality tables.
STORE_COLUMNS = ["bitstream", "bitstream_sha256", "decoded_sha256"]
CODING_KEY = "coding_key"  # the hash of everything a point's bitstreams depend on, in its stored rows


def pixels_sha256(image: np.ndarray) -> str:
    """The sha256 of an image's pixels (its uint8 bytes in row-major order)."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def keeps_decoded(codec_name: str, setting: bool | None = None) -> bool:
    """Whether a codec's points keep their decoded images: the config's ``keep_decoded`` when given, else the
    codec class's policy (``keeps_decoded``: decoding again would cost more than reading a PNG)."""
    return get_codec_class(codec_name).keeps_decoded if setting is None else bool(setting)


@dataclass(frozen=True)
class Point:
    """One compression point as jobs code or read it.

    ``quality`` is its value in the tables' ``quality`` column (a ladder value, or ``target_<bpp>``);
    ``settings`` is :func:`codecbench.config.plan.codec_job_settings` (codec, options, for a trained codec
    ``model_quality``, for an ROI variant ``roi``); ``checkpoint`` a trained codec's model file; ``extra`` constant
    columns of its rows (a trained codec's lambda); ``target_bpp`` makes it an equal-rate point; ``masks`` an ROI
    variant's ``masks.csv`` (:mod:`codecbench.masks`).
    """

    quality: Any
    folder: Path
    settings: dict[str, Any]
    keep_decoded: bool = False
    checkpoint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    target_bpp: float | None = None
    masks: str | None = None

    @property
    def codec_name(self) -> str:
        return self.settings["codec"]

    @property
    def sequence_codec(self) -> bool:
        return issubclass(get_codec_class(self.codec_name), SequenceCodec)

    def codec_quality(self) -> Any:
        """The codec's own quality knob at this point (a trained codec: its model quality; None for a target)."""
        if self.target_bpp is not None:
            return None
        if "model_quality" in self.settings:
            return self.settings["model_quality"]
        return get_codec_class(self.codec_name).quality_type(self.quality)

    def options(self) -> dict[str, Any]:
        options = dict(self.settings["options"])
        if self.checkpoint:
            options["checkpoint"] = self.checkpoint
        return options

    def make_codec(self, quality: Any = None):
        return make_codec(self.codec_name, self.codec_quality() if quality is None else quality, self.options())

    def bitstream_dir(self) -> Path:
        return self.folder / "bitstreams"

    def decoded_dir(self) -> Path:
        return self.folder / "decoded"

    def describe(self) -> str:
        return f"codec {self.settings['codec']!r} quality {self.quality}"


def rate_file(folder: str | Path, shard: tuple[int, int] | None) -> Path:
    """A point's stored rate rows: ``rate.csv``, or one file per shard job (shards write one point at once)."""
    return Path(folder) / ("rate.csv" if shard is None else f"rate-{shard[0]}-of-{shard[1]}.csv")


def read_rates(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"image_id": str, "clip": str, "bitstream": str})


class PointImages(Sequence):
    """The decoded images of one stored point, in the order of ``rows`` (its rate rows), made when indexed:
    read from its decoded cache when the codec keeps one, else decoded from its bitstreams by the codec's own
    decoder (a video codec's clip once for all its frames). Each image's pixels are checked against the sha256
    recorded when the point was coded; a difference is a :class:`CodecError` naming the point and the image.

    ``where`` names the dataset in errors. ``paths`` are the files that hold each image (for error messages).
    """

    def __init__(self, point: Point, rows: pd.DataFrame, where: str = "", clip_sizes: dict | None = None):
        self.point = point
        self.rows = rows.reset_index(drop=True)
        self.where = where
        # A video codec decodes whole clips: each clip's frame count, from all rows (a slice may hold some).
        if clip_sizes is None and "clip" in self.rows:
            clip_sizes = self.rows.groupby("clip", sort=False).size().to_dict()
        self.clip_sizes = clip_sizes or {}
        self._records = list(self.rows.itertuples(index=False))  # pandas' per-row access is slow for tiny images
        self._positions = {image_id: index for index, image_id in enumerate(self.rows.image_id)}
        self.paths = [self._source(row) for row in self.rows.itertuples(index=False)]
        self._local = threading.local()  # per thread (a job may decode in several): codecs, the last clip

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return PointImages(self.point, self.rows.iloc[index], self.where, self.clip_sizes)
        row = self._records[index]
        image = self._image(row)
        if pixels_sha256(image) != row.decoded_sha256:
            raise CodecError(
                f"{self._name()}, image {row.image_id!r}: decoding {self.paths[index]} gives other pixels than "
                "when the point was coded (the decoder is not deterministic, or its library or the file changed); "
                "rerun its compress job (snakemake --forcerun compress_ladder)"
            )
        return image

    def subset(self, image_ids: Sequence[str]) -> PointImages:
        """The images of ``image_ids``, in that order."""
        position = {image_id: index for index, image_id in enumerate(self.rows.image_id)}
        missing = [image_id for image_id in image_ids if image_id not in position]
        if missing:
            raise CodecError(f"{self._name()} has no images {missing[:5]}; rerun its compress job")
        rows = self.rows.iloc[[position[image_id] for image_id in image_ids]]
        return PointImages(self.point, rows, self.where, self.clip_sizes)

    def image_index(self, image_id: str) -> int:
        if image_id not in self._positions:
            raise KeyError(f"{self._name()} has no image {image_id!r}")
        return self._positions[image_id]

    def _name(self) -> str:
        return f"{self.point.describe()}{' on ' + self.where if self.where else ''}"

    def _source(self, row) -> Path:
        if self.point.keep_decoded:
            return self.point.decoded_dir() / f"{row.image_id}.png"
        return self.point.bitstream_dir() / row.bitstream

    def _image(self, row) -> np.ndarray:
        if self.point.keep_decoded:
            return read_rgb(self.point.decoded_dir() / f"{row.image_id}.png")
        path = self.point.bitstream_dir() / row.bitstream
        try:
            if self.point.sequence_codec:
                return self._clip_frames(row, path)[int(row.frame)]
            quality = row.quality_used if self.point.target_bpp is not None else None
            return self._codec(quality).decode(path.read_bytes(), size=(int(row.height), int(row.width)))
        except CodecError:
            raise
        except Exception as exc:  # a missing file or the library's own error, named with its image
            raise CodecError(f"{self._name()}, image {row.image_id!r} ({path}): {type(exc).__name__}: {exc}") from exc

    def _codec(self, quality: Any):
        codecs = self._local.__dict__.setdefault("codecs", {})
        if quality not in codecs:
            codecs[quality] = self.point.make_codec(quality)
        return codecs[quality]

    def _clip_frames(self, row, path: Path) -> list[np.ndarray]:
        clip = getattr(self._local, "clip", None)
        if clip is None or clip[0] != row.clip:
            size = (int(row.height), int(row.width))
            frames = self._codec(None).decode_sequence(path.read_bytes(), size, int(self.clip_sizes[row.clip]))
            clip = self._local.clip = (row.clip, frames)
        return clip[1]


def point_rows(rates: pd.DataFrame, quality: Any) -> pd.DataFrame:
    """The rows of one point (``quality`` as in the tables) of a ladder's rate table."""
    from ..config.plan import normalise_quality

    wanted = str(normalise_quality(quality))
    return rates[rates.quality.map(lambda value: str(normalise_quality(value))) == wanted]


def stored_point(reading: dict[str, Any], dataset: str, codec: str, quality: Any) -> Point:
    """A ladder point of a config codec as a reading job sees it; ``reading`` is what the workflow's
    ``codec_reading`` gives (the codec's settings, ``keep_decoded``, a trained codec's model file per point)."""
    from .. import layout
    from ..config.plan import normalise_quality

    quality = normalise_quality(quality)
    return Point(
        quality=quality,
        folder=Path(layout.point_dir(dataset, codec, quality)),
        settings=reading["settings"],
        keep_decoded=reading["keep_decoded"],
        checkpoint=reading.get("checkpoints", {}).get(str(quality)),
    )


def ladder_images(
    reading: dict[str, Any], dataset: str, codec: str, quality: Any, rates: pd.DataFrame, where: str = ""
) -> PointImages:
    """The decoded images of one point of a ladder, from the ladder's rate rows (``rates``: its rates.csv)."""
    rows = point_rows(rates, quality)
    if rows.empty:
        raise CodecError(
            f"codec {codec!r} quality {quality} on {where or dataset}: no rate rows; rerun its compress job"
        )
    return PointImages(stored_point(reading, dataset, codec, quality), rows, where)
