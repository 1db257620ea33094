"""The compression stage: code a prepared dataset at every point of one codec's ladder (or at one target bpp) and
measure each decoded image against its reference, in memory.

Per point it stores what a user would store, the bitstreams, with the rate rows (:mod:`codecbench.stages.points`):
per image the bytes, bpp (= bytes x 8 / pixels of the original image), encode and decode seconds. Decoded images
are kept only for a codec whose decoding is expensive; every other reader decodes the bitstreams again.

One job codes a whole ladder, since a job's start-up costs more than coding a point of a fast codec. A point
already stored with the same coding key (codec, options, quality, codec library, dataset, split and shard) and
intact bitstreams is reused, not coded again: adding a quality codes that point only, and changing the metrics
codes nothing.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..codecs import CodecError, bits_per_pixel, get_codec_class
from ..codecs.learned import MISMATCH_TOLERANCE_LEVELS
from ..datasets import read_split
from ..io import file_digest, read_rgb, write_bytes_atomic, write_csv_atomic, write_rgb_png
from . import prepend_columns
from .points import CODING_KEY, STORE_COLUMNS, Point, PointImages, pixels_sha256, rate_file, read_rates
from .target_bpp import find_quality_for_bpp

log = logging.getLogger(__name__)

RATE_COLUMNS = [
    "image_id",
    "width",
    "height",
    "bytes",
    "bpp",
    "encode_s",
    "decode_s",
    "codec_version",
    "host",
    "device",
]


@dataclass
class _Unit:
    """What the coding loop handles at once: one image, or one clip of a video codec (its frames in order)."""

    name: str
    rows: list  # the manifest rows, as namedtuples (pandas' per-row access costs more than coding a tiny image)
    fps: float | None = None


def compress_ladder(
    manifest_path: str | Path,
    points: list[Point],
    metrics: list[str],
    keys: dict[str, Any],
    rates_csv: str | Path,
    quality_csv: str | Path | None = None,
    split: str = "test",
    shard: tuple[int, int] | None = None,
    plugin_code: Any = None,
    threads: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Code (or reuse) every point of ``points`` on one split of the manifest and measure ``metrics``.

    Writes ``rates_csv``: every point's rate rows (``keys`` and ``quality`` first, then :data:`RATE_COLUMNS`,
    the codec's own columns and :data:`codecbench.stages.points.STORE_COLUMNS`), and, with ``quality_csv``, the
    tidy quality rows: the rate columns (without the store's), ``compression_ratio`` (raw 24-bit RGB bytes / coded
    bytes) and one column per metric. ``split``: "test" (the images measured) or "train" (a task's compressed
    training set, usually without metrics). ``shard``: ``(k, n)`` codes only shard k of n
    (:func:`codecbench.stages.shards.shard_rows`; whole clips), possibly no image. ``threads``: the job's cores;
    a codec with ``parallel_images`` codes and measures that many images (clips) at once, one thread each, with
    torch on one thread per image, else torch (a network, the metrics) gets them all. None leaves torch's
    threads as they are and codes one image at a time.

    A codec's failure on an image is a :class:`CodecError` naming codec, point, dataset and image; a metric's a
    :class:`codecbench.metrics.MetricError`.
    """
    from tqdm import tqdm

    from ..metrics import SEQUENCE_METRICS, limit_threads
    from .shards import select_shard

    manifest_path = Path(manifest_path)
    if not points:
        raise ValueError("compress_ladder needs at least one point")
    sequence_codec = points[0].sequence_codec
    rows = select_shard(manifest_path, read_split(manifest_path, split), shard, sequence_codec)
    image_metrics = [m for m in metrics if m not in SEQUENCE_METRICS]
    clip_metrics = [m for m in metrics if m in SEQUENCE_METRICS]
    video_dataset = _is_video_dataset(manifest_path)
    # Clip metrics see a video dataset's clips whole, whatever the codec: the loop then goes clip by clip.
    units = list(_units(manifest_path, rows, sequence_codec or (video_dataset and bool(clip_metrics))))
    dataset = _dataset_label(manifest_path, split)
    key_base = {
        # The manifest names each image's source and its sha256; the prepared files' sizes guard the rest.
        "manifest_sha256": file_digest(manifest_path),
        "image_bytes": [(manifest_path.parent / name).stat().st_size for name in rows.file],
        "split": split,
        "shard": list(shard) if shard else None,
        "plugin_code": plugin_code or {},
    }
    roi = _roi_coding(points[0])  # a job's points are of one codec: one strategy, one set of masks
    coders = [
        _PointCoder(point, manifest_path.parent, dataset, {**key_base, **_point_key(point, roi)}, shard, roi)
        for point in points
    ]
    first = points[0]
    log.info(
        "%s (%s) on %s with %s: %d points", first.codec_name, first.options(), dataset, coders[0].version, len(points)
    )
    for coder in coders:
        coder.prepare(rows)
        state = "stored already with this coding key: reused" if coder.reused is not None else "coding"
        log.info("%s %s: %s", coder.point.codec_name, coder._point_label(), state)
    reused = sum(coder.reused is not None for coder in coders)
    log.info("%d points reused, %d to code", reused, len(points) - reused)
    workers = 1
    if threads is not None:
        workers = max(1, int(threads)) if get_codec_class(first.codec_name).parallel_images else 1
        limit_threads(1 if workers > 1 else threads)
    need_pixels = bool(metrics) or any(coder.reused is None for coder in coders)
    need_masks = roi is not None and any(coder.reused is None for coder in coders)

    def code_unit(unit: _Unit) -> list[tuple[list[dict], list[dict]]]:
        """Per point: the unit's new rate rows and its measured rows."""
        references = [read_rgb(manifest_path.parent / item.file) for item in unit.rows] if need_pixels else []
        # An ROI variant's masks, read once for all its points and outside their coding times.
        masks = [roi[1][item.image_id] for item in unit.rows] if need_masks else None
        coded = []
        for coder in coders:
            decoded, rate_rows = coder.unit(unit, references, masks)
            measured_rows = []
            if metrics:
                measured_rows = _measure_unit(
                    unit, references, decoded, image_metrics, clip_metrics, video_dataset, coder, keys
                )
            coded.append((rate_rows, measured_rows))
        return coded

    measured: list[list[dict]] = [[] for _ in coders]
    progress = tqdm(total=len(units), desc=f"{points[0].codec_name} x {len(points)} points", mininterval=5)
    for coded in _in_order(code_unit, units, workers):  # the units' rows in order, however many threads
        for coder, point_rows, (rate_rows, measured_rows) in zip(coders, measured, coded, strict=True):
            coder.rows.extend(rate_rows)
            point_rows.extend(measured_rows)
        progress.update()
    progress.close()
    rates = []
    tables = []
    order = None if sequence_codec else list(rows.image_id)  # an image codec's rows in manifest order
    for coder, point_rows in zip(coders, measured, strict=True):
        point_rates = coder.finish(order)
        rates.append(prepend_columns(point_rates.copy(), {**keys, "quality": coder.point.quality}))
        if quality_csv is not None:
            tables.append(_quality_rows(point_rates, point_rows, [*image_metrics, *clip_metrics], coder, keys))
    rate_table = pd.concat(rates, ignore_index=True) if rates else pd.DataFrame()
    write_csv_atomic(rate_table, rates_csv)
    quality = None
    if quality_csv is not None:
        quality = pd.concat(tables, ignore_index=True)
        write_csv_atomic(quality, quality_csv)
    return rate_table, quality


def _in_order(function: Callable, items: Iterable, workers: int) -> Iterator:
    """``map(function, items)`` on ``workers`` threads, results in the items' order; the first error stops the
    rest (those not started yet are cancelled)."""
    if workers <= 1:
        yield from map(function, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coding")
    try:
        yield from pool.map(function, items)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dataset_label(manifest_path: Path, split: str) -> str:
    """What a compression job's errors name after the codec and point: "dataset 'photos'" (a train split says so)."""
    return f"dataset {manifest_path.parent.name!r}" + ("" if split == "test" else f" ({split} split)")


def _is_video_dataset(manifest_path: Path) -> bool:
    from ..datasets import read_frames

    return read_frames(manifest_path.parent) is not None


def _units(manifest_path: Path, rows: pd.DataFrame, sequence_codec: bool) -> Iterator[_Unit]:
    """The split's images one by one, or for a video codec its clips (an image dataset is one clip)."""
    if not sequence_codec:
        for item in rows.itertuples(index=False):
            yield _Unit(item.image_id, [item])
        return
    from .sequences import split_clips

    for clip in split_clips(manifest_path, rows) if len(rows) else []:
        yield _Unit(clip.name, list(clip.rows.itertuples(index=False)), clip.fps)


def _roi_coding(point: Point) -> tuple[Any, Any] | None:
    """An ROI variant's strategy and stored masks (:mod:`codecbench.roi`, :mod:`codecbench.masks`); None for
    every other codec."""
    if not point.settings.get("roi"):
        return None
    from ..masks import StoredMasks
    from ..roi import make_strategy

    return make_strategy(point.settings["roi"]), StoredMasks(point.masks)


def _point_key(point: Point, roi: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """What a point's bitstreams depend on beyond the dataset: codec, options, quality, the codec's library and
    code, a trained codec's model file, an ROI variant's masks and strategy code (``roi``: :func:`_roi_coding`)."""
    codec_class = get_codec_class(point.codec_name)
    roi_key = {}
    if roi is not None:
        strategy, masks = roi
        roi_key = {"masks": masks.digest, "roi_code": _code_sha256(type(strategy))}
    return {
        **roi_key,
        "settings": point.settings,
        "quality": str(point.quality),
        "target_bpp": point.target_bpp,
        "keep_decoded": point.keep_decoded,
        "extra": point.extra,
        "version": codec_class.version(),
        "code": _code_sha256(codec_class),
        "checkpoint": file_digest(point.checkpoint) if point.checkpoint else None,
    }


def _code_sha256(cls: type) -> str:
    """The sha256 of the source file that defines a codec class (an edit of the codec re-codes its points)."""
    import inspect

    try:
        return file_digest(inspect.getsourcefile(cls) or "")
    except (OSError, TypeError):
        return ""


def coding_key(key: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


class _PointCoder:
    """One point of a compression job: reuses its stored rows when they hold, else codes each unit."""

    def __init__(
        self,
        point: Point,
        root: Path,
        dataset: str,
        key: dict[str, Any],
        shard: tuple[int, int] | None,
        roi: tuple[Any, Any] | None = None,
    ):
        self.point = point
        self.root = root  # the prepared dataset's folder
        self.dataset = dataset
        self.key = coding_key(key)
        self.shard = shard
        self.rate_path = rate_file(point.folder, shard)
        self.reused: pd.DataFrame | None = None
        self.reader: PointImages | None = None
        self.rows: list[dict] = []  # the new rate rows, in the units' order
        self._local = threading.local()  # each coding thread its own codec instances
        self.version = get_codec_class(point.codec_name).version()
        self.host = platform.node()
        # An ROI variant's strategy codes each image with its mask (``roi``: :func:`_roi_coding`).
        self.strategy = roi[0] if roi is not None else None

    def name(self) -> str:
        return f"{self.point.describe()} on {self.dataset}"

    def prepare(self, rows: pd.DataFrame) -> None:
        """Reuse the point's stored rows if they carry this coding key, list exactly ``rows``' images and their
        files are intact; else clear what this job will write."""
        stored = self._stored(rows)
        if stored is not None:
            self.reused = stored
            self.reader = PointImages(self.point, stored, self.dataset)
            return
        self.rate_path.unlink(missing_ok=True)
        if self.shard is None:  # a whole point: nothing of an earlier coding stays (shards share the folders)
            for folder in (self.point.bitstream_dir(), self.point.decoded_dir()):
                shutil.rmtree(folder, ignore_errors=True)
        self.point.bitstream_dir().mkdir(parents=True, exist_ok=True)
        if self.point.keep_decoded:
            self.point.decoded_dir().mkdir(parents=True, exist_ok=True)

    def _stored(self, rows: pd.DataFrame) -> pd.DataFrame | None:
        if not self.rate_path.exists():
            return None
        try:
            stored = read_rates(self.rate_path)
        except (pd.errors.EmptyDataError, ValueError):
            return None
        if CODING_KEY not in stored or set(stored[CODING_KEY]) != {self.key}:
            return None
        if sorted(stored.image_id) != sorted(rows.image_id):
            return None
        for name, digest in stored[["bitstream", "bitstream_sha256"]].drop_duplicates().itertuples(index=False):
            path = self.point.bitstream_dir() / name
            if not path.exists() or file_digest(path) != digest:
                log.warning("%s: stored %s is missing or changed: coding the point again", self.name(), path)
                return None
        if self.point.keep_decoded and not all(
            (self.point.decoded_dir() / f"{image_id}.png").exists() for image_id in stored.image_id
        ):
            return None
        return stored.drop(columns=[CODING_KEY])

    def unit(
        self, unit: _Unit, references: list[np.ndarray], masks: list[np.ndarray] | None = None
    ) -> tuple[list[np.ndarray] | None, list[dict]]:
        """The decoded images of one unit (None when reused and nothing needs them) and its new rate rows;
        ``masks``: an ROI variant's mask of each of the unit's images."""
        if self.reused is not None:
            if not references:
                return None, []
            return [self.reader[self.reader.image_index(item.image_id)] for item in unit.rows], []
        if self.point.sequence_codec:
            return self._code_clip(unit, references, masks)
        per_image = masks if masks is not None else [None] * len(references)
        coded = [
            self._code_image(item, image, mask)
            for item, image, mask in zip(unit.rows, references, per_image, strict=True)
        ]
        return [decoded for decoded, _ in coded], [row for _, row in coded]

    def _codec(self, quality: Any):
        codecs = self._local.__dict__.setdefault("codecs", {})
        if quality not in codecs:
            codecs[quality] = self.point.make_codec(quality)
        return codecs[quality]

    def _code_image(self, item, image: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        height, width = image.shape[:2]
        point = self.point
        try:
            if point.target_bpp is not None:
                found = find_quality_for_bpp(point.codec_name, point.options(), image, point.target_bpp)
                codec = self._codec(found.quality)
            else:
                codec = self._codec(None)
            start = time.perf_counter()
            if self.strategy is None:
                data = codec.encode(image)
            else:
                data = self.strategy.encode(codec, image, mask)
            encode_s = time.perf_counter() - start
            start = time.perf_counter()
            decoded = codec.decode(data, size=(height, width))
            decode_s = time.perf_counter() - start
        except Exception as exc:  # any codec's failure (a library's own exception too), named with its image
            raise CodecError(
                f"{point.codec_name} {self._point_label()} on {self.dataset}, image {item.image_id!r} "
                f"({self.root / item.file}): {type(exc).__name__}: {exc}"
            ) from exc
        _check_decoded_shape(decoded, image, f"{self.name()}, image {item.image_id!r}")
        name = f"{item.image_id}.{codec.extension}"
        write_bytes_atomic(point.bitstream_dir() / name, data)
        if point.keep_decoded:
            write_rgb_png(point.decoded_dir() / f"{item.image_id}.png", decoded)
        values = [
            item.image_id, width, height, len(data), bits_per_pixel(len(data), width, height), encode_s, decode_s,
            self.version, self.host, codec.device,
        ]  # fmt: skip
        row = dict(zip(RATE_COLUMNS, values, strict=True)) | point.extra
        if point.target_bpp is not None:
            row.update(quality_used=codec.quality, target_bpp=point.target_bpp)
        # Codecs may report more per image (learned codecs: estimated bpp, encoder/decoder mismatch). A mismatch
        # beyond the tolerance gets here only with on_mismatch: record (else decoding failed); name its image.
        row.update(getattr(codec, "last_encode_info", None) or {})
        if row.get("reconstruction_mismatch", 0) > MISMATCH_TOLERANCE_LEVELS:
            log.warning(
                "%s: image %s kept with reconstruction_mismatch %s (on_mismatch record)",
                self.name(), item.image_id, row["reconstruction_mismatch"],
            )  # fmt: skip
        row.update(bitstream=name, bitstream_sha256=_sha256(data), decoded_sha256=pixels_sha256(decoded))
        return decoded, row

    def _code_clip(
        self, unit: _Unit, frames: list[np.ndarray], masks: list[np.ndarray] | None = None
    ) -> tuple[list[np.ndarray], list[dict]]:
        """A video codec codes each clip as one file ``<clip>.<extension>``; its rows stay one per frame:
        ``bytes`` is the frame's coded size (``frame_bytes``) plus an equal share of the file's container overhead,
        so that a clip's frames add up to its file size; ``encode_s``/``decode_s`` are the clip's over its frames.
        Extra columns: ``clip``, ``frame``, ``frame_type`` (I/P/B), ``frame_bytes``, ``clip_bytes`` and ``fps``."""
        height, width = frames[0].shape[:2]
        codec = self._codec(None)
        try:
            start = time.perf_counter()
            if self.strategy is None:
                encoded = codec.encode_sequence(frames, unit.fps)
            else:
                encoded = self.strategy.encode_sequence(codec, frames, masks, unit.fps)
            encode_s = time.perf_counter() - start
            start = time.perf_counter()
            decoded = codec.decode_sequence(encoded.data, (height, width), len(frames))
            decode_s = time.perf_counter() - start
        except Exception as exc:  # as for images: the codec's failure, named with its clip
            raise CodecError(f"{self.name()}, clip {unit.name!r}: {type(exc).__name__}: {exc}") from exc
        if len(encoded.frame_bytes) != len(frames) or len(encoded.frame_types) != len(frames):
            raise CodecError(
                f"{self.name()}: clip {unit.name!r} has {len(frames)} frames but the codec described "
                f"{len(encoded.frame_bytes)}"
            )
        name = f"{unit.name}.{codec.extension}"
        write_bytes_atomic(self.point.bitstream_dir() / name, encoded.data)
        digest = _sha256(encoded.data)
        overhead = (len(encoded.data) - sum(encoded.frame_bytes)) / len(frames)
        rows = []
        for index, (item, image) in enumerate(zip(unit.rows, decoded, strict=True)):
            if self.point.keep_decoded:
                write_rgb_png(self.point.decoded_dir() / f"{item.image_id}.png", image)
            n_bytes = encoded.frame_bytes[index] + overhead
            values = [
                item.image_id, width, height, n_bytes, bits_per_pixel(n_bytes, width, height),
                encode_s / len(frames), decode_s / len(frames), self.version, self.host, codec.device,
            ]  # fmt: skip
            row = dict(zip(RATE_COLUMNS, values, strict=True)) | self.point.extra
            row.update(
                clip=unit.name, frame=index, frame_type=encoded.frame_types[index],
                frame_bytes=encoded.frame_bytes[index], clip_bytes=len(encoded.data), fps=unit.fps,
            )  # fmt: skip
            # Learned video codecs report per clip: key frames, decoder against encoder reconstruction.
            row.update(getattr(codec, "last_encode_info", None) or {})
            row.update(bitstream=name, bitstream_sha256=digest, decoded_sha256=pixels_sha256(image))
            rows.append(row)
        log.info(
            "clip %s: %d frames, %d bytes, %.1f frames/s encoding",
            unit.name, len(frames), len(encoded.data), len(frames) / max(encode_s, 1e-9),
        )  # fmt: skip
        return decoded, rows

    def _point_label(self) -> str:
        if self.point.target_bpp is not None:
            return f"target {self.point.target_bpp} bpp"
        return f"quality={self.point.quality}"

    def finish(self, order: list[str] | None) -> pd.DataFrame:
        """The point's rate rows (in ``order`` of image ids, if given); newly coded ones are stored with their
        coding key."""
        if self.reused is not None:
            return self.reused
        rates = pd.DataFrame(self.rows)
        if not len(rates):
            rates = pd.DataFrame(columns=[*RATE_COLUMNS, *STORE_COLUMNS])
        elif order is not None:
            position = {image_id: index for index, image_id in enumerate(order)}
            rates = rates.iloc[np.argsort(rates.image_id.map(position).to_numpy(), kind="stable")]
            rates = rates.reset_index(drop=True)
        write_csv_atomic(rates.assign(**{CODING_KEY: self.key}), self.rate_path)
        return rates


def _check_decoded_shape(decoded: np.ndarray, image: np.ndarray, where: str) -> None:
    if decoded.shape != image.shape:
        raise CodecError(f"{where}: decoded to {decoded.shape}, expected {image.shape}")


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _measure_unit(
    unit: _Unit,
    references: list[np.ndarray],
    decoded: list[np.ndarray],
    image_metrics: list[str],
    clip_metrics: list[str],
    video_dataset: bool,
    coder: _PointCoder,
    keys: dict[str, Any],
) -> list[dict]:
    """One row per image of a unit: its image metrics, and its clip metrics (VMAF: video datasets only; an image
    is no clip, and VMAF's motion feature would read unrelated images as motion). Errors name the point like
    "dataset 'photos', codec 'jpeg', quality 50" and the image (its bitstream) or clip."""
    from ..metrics import MIN_SIDE, SEQUENCE_METRICS, MetricError, compute_metrics

    where = ", ".join(f"{column} {value!r}" for column, value in {**keys, "quality": coder.point.quality}.items())
    bitstreams = coder.point.bitstream_dir()
    rows = []
    for item, reference, image in zip(unit.rows, references, decoded, strict=True):
        values = compute_metrics(reference, image, image_metrics, f"{where}, image {item.image_id!r} ({bitstreams})")
        rows.append({"image_id": item.image_id, **values})
    for name in clip_metrics:
        scores = [float("nan")] * len(rows)
        small = min(min(item.width, item.height) for item in unit.rows) < MIN_SIDE[name]
        if video_dataset and unit.fps is not None and not small:
            try:
                scores = list(SEQUENCE_METRICS[name](references, decoded, unit.fps))
            except Exception as exc:  # the metric's failure, named with its clip
                raise MetricError(
                    f"{name} of {where}, clip {unit.name!r} ({bitstreams}): {type(exc).__name__}: {exc}"
                ) from exc
        elif video_dataset and small:
            log.info("%s: clip %s is under %d px a side: nan", name, unit.name, MIN_SIDE[name])
        for row, score in zip(rows, scores, strict=True):
            row[name] = score
    return rows


def _quality_rows(
    rates: pd.DataFrame, measured: list[dict], metrics: list[str], coder: _PointCoder, keys: dict[str, Any]
) -> pd.DataFrame:
    """A point's tidy quality rows: its rate rows (without the store's columns) joined to its metrics."""
    rates = rates.drop(columns=[c for c in STORE_COLUMNS if c in rates])
    table = rates.merge(pd.DataFrame(measured, columns=["image_id", *metrics]), on="image_id", validate="1:1")
    table["compression_ratio"] = table.width * table.height * 3 / table.bytes
    table["metrics_device"] = "cpu"  # the metrics run their torch code on the CPU
    return prepend_columns(table, {**keys, "quality": coder.point.quality})


def compress_point(
    manifest_path: str | Path,
    codec_name: str,
    quality: Any,
    options: dict[str, Any],
    folder: str | Path,
    metrics: list[str] | None = None,
    target_bpp: float | None = None,
    keep_decoded: bool | None = None,
    split: str = "test",
    shard: tuple[int, int] | None = None,
    keys: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """:func:`compress_ladder` of one point stored in ``folder`` (``quality`` None with ``target_bpp``): its rate
    rows and, with ``metrics``, its quality rows (``folder/quality.csv``)."""
    from .points import keeps_decoded

    if (quality is None) == (target_bpp is None):
        raise ValueError("give exactly one of quality and target_bpp")
    codec_class = get_codec_class(codec_name)
    if target_bpp is not None and not codec_class.supports_target_bpp:
        raise ValueError(f"{codec_name} has no per-image target bpp")
    from ..layout import target_label

    point = Point(
        quality=target_label(target_bpp) if target_bpp is not None else quality,
        folder=Path(folder),
        settings={"codec": codec_name, "options": dict(options)},
        keep_decoded=keeps_decoded(codec_name, keep_decoded),
        target_bpp=target_bpp,
    )
    folder = Path(folder)
    quality_csv = folder / "quality.csv" if metrics else None
    return compress_ladder(
        manifest_path, [point], list(metrics or []), keys or {}, folder / "points.csv", quality_csv, split, shard
    )
