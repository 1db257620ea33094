"""The compression stage: run one codec at one quality (or one target bpp) over a prepared dataset.

Writes each image's bitstream (the real file a user would store) and its decoded image, and returns the rate
table: per image the bytes, bpp (= bytes x 8 / pixels of the original image), encode and decode seconds.
"""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ..codecs import CodecError, SequenceCodec, bits_per_pixel, get_codec_class, make_codec
from ..codecs.learned import MISMATCH_TOLERANCE_LEVELS
from ..datasets import read_split
from ..io import read_rgb, write_bytes_atomic, write_csv_atomic, write_rgb_png
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


def compress_dataset(
    manifest_path: str | Path,
    codec_name: str,
    quality: float | None,
    options: dict[str, Any],
    bitstream_dir: str | Path,
    decoded_dir: str | Path,
    rate_csv: str | Path,
    target_bpp: float | None = None,
    extra_columns: dict[str, Any] | None = None,
    split: str = "test",
    shard: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Encode and decode every image of one split of the manifest; write bitstreams, decoded PNGs and the rate CSV.

    ``split``: "test" (the images measured; all of a dataset without splits) or "train" (a task's compressed
    training set).
    ``shard``: ``(k, n)`` codes only shard k of n (:func:`codecbench.stages.shards.shard_rows`; whole clips for a video
    codec or dataset), possibly no image: the folders and a rate table without rows are written all the same.
    ``extra_columns`` are constant columns added to every row (a trained codec's lambda).
    With ``target_bpp`` instead of ``quality``, each image gets the quality whose rate is nearest the target
    (:func:`codecbench.stages.target_bpp.find_quality_for_bpp`); the rate table then records the chosen ``quality``
    per image, and ``encode_s`` times one encode at that quality (the search's probes are not counted).
    Any exception of the codec on an image becomes a :class:`CodecError` naming the codec, point, dataset and
    image, with the codec's exception as its ``__cause__``.
    """
    from tqdm import tqdm

    if (quality is None) == (target_bpp is None):
        raise ValueError("give exactly one of quality and target_bpp")
    manifest_path = Path(manifest_path)
    codec_class = get_codec_class(codec_name)
    if issubclass(codec_class, SequenceCodec):
        if target_bpp is not None:
            raise ValueError(f"{codec_name} is a video codec: it has no per-image target bpp")
        return compress_clips(
            manifest_path, codec_name, quality, options, bitstream_dir, decoded_dir, rate_csv, extra_columns, split,
            shard,
        )  # fmt: skip
    version = codec_class.version()
    label = f"{codec_name} quality={quality}" if target_bpp is None else f"{codec_name} target {target_bpp} bpp"
    log.info("%s (%s) with %s", label, options, version)
    manifest = _split_rows(manifest_path, split, shard, bitstream_dir, decoded_dir)
    job = _coding_job(label, manifest_path, split)
    host = platform.node()
    codecs: dict[Any, Any] = {}  # one instance per quality: learned codecs load their model once
    rows = []
    for item in tqdm(manifest.itertuples(), total=len(manifest), desc=label, mininterval=5):
        image = read_rgb(manifest_path.parent / item.file)
        height, width = image.shape[:2]
        try:
            if target_bpp is not None:
                quality_used = find_quality_for_bpp(codec_name, options, image, target_bpp).quality
            else:
                quality_used = quality
            if quality_used not in codecs:
                codecs[quality_used] = make_codec(codec_name, quality_used, options)
            codec = codecs[quality_used]
            start = time.perf_counter()
            data = codec.encode(image)
            encode_s = time.perf_counter() - start
            start = time.perf_counter()
            decoded = codec.decode(data, size=(height, width))
            decode_s = time.perf_counter() - start
        except Exception as exc:  # any codec's failure (a library's own exception too), named with its image
            raise CodecError(
                f"{job}, image {item.image_id!r} ({manifest_path.parent / item.file}): {type(exc).__name__}: {exc}"
            ) from exc
        if decoded.shape != image.shape:
            raise CodecError(f"{job}, image {item.image_id!r}: decoded to {decoded.shape}, expected {image.shape}")
        write_bytes_atomic(Path(bitstream_dir) / f"{item.image_id}.{codec.extension}", data)
        write_rgb_png(Path(decoded_dir) / f"{item.image_id}.png", decoded)
        bpp = bits_per_pixel(len(data), width, height)
        values = [item.image_id, width, height, len(data), bpp, encode_s, decode_s, version, host, codec.device]
        row = dict(zip(RATE_COLUMNS, values, strict=True)) | (extra_columns or {})
        if target_bpp is not None:
            row.update(quality_used=quality_used, target_bpp=target_bpp)
        # Codecs may report more per image (learned codecs: estimated bpp, encoder/decoder mismatch). A mismatch
        # beyond the tolerance gets here only with on_mismatch: record (else decoding failed); name its image.
        row.update(getattr(codec, "last_encode_info", None) or {})
        mismatch = row.get("reconstruction_mismatch", 0)
        if mismatch > MISMATCH_TOLERANCE_LEVELS:
            log.warning(
                "%s: image %s kept with reconstruction_mismatch %s (on_mismatch record)", label, item.image_id, mismatch
            )
        rows.append(row)
    rates = pd.DataFrame(rows)
    write_csv_atomic(rates, rate_csv)
    return rates


def compress_clips(
    manifest_path: Path,
    codec_name: str,
    quality: float,
    options: dict[str, Any],
    bitstream_dir: str | Path,
    decoded_dir: str | Path,
    rate_csv: str | Path,
    extra_columns: dict[str, Any] | None = None,
    split: str = "test",
    shard: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """:func:`compress_dataset` for a video codec: each clip of the split
    (:func:`codecbench.stages.sequences.split_clips`) is coded as one file ``<clip>.<extension>``; its frames are
    decoded to ``<image_id>.png`` as for images.

    The rate table keeps one row per frame, so every later stage reads frames like images: ``bytes`` is the frame's
    coded size (``frame_bytes``) plus an equal share of the file's container overhead, so that the bytes of a clip's
    frames add up to its file size and mean bpp is the file's bits over all its pixels. ``encode_s``/``decode_s``
    are the clip's times over its frames. Extra columns: ``clip``, ``frame``, ``frame_type`` (I/P/B),
    ``frame_bytes``, ``clip_bytes`` and ``fps``.
    """
    from .sequences import split_clips

    codec = make_codec(codec_name, quality, options)
    label = f"{codec_name} quality={quality}"
    version = codec.version()
    log.info("%s (%s) with %s", label, codec.options, version)
    manifest = _split_rows(manifest_path, split, shard, bitstream_dir, decoded_dir, sequence_codec=True)
    job = _coding_job(label, manifest_path, split)
    host = platform.node()
    rows = []
    for clip in split_clips(manifest_path, manifest) if len(manifest) else []:  # a shard may hold none
        frames = [read_rgb(manifest_path.parent / name) for name in clip.rows.file]
        height, width = frames[0].shape[:2]
        try:
            start = time.perf_counter()
            encoded = codec.encode_sequence(frames, clip.fps)
            encode_s = time.perf_counter() - start
            start = time.perf_counter()
            decoded = codec.decode_sequence(encoded.data, (height, width), len(frames))
            decode_s = time.perf_counter() - start
        except Exception as exc:  # as for images: the codec's failure, named with its clip
            raise CodecError(f"{job}, clip {clip.name!r}: {type(exc).__name__}: {exc}") from exc
        if len(encoded.frame_bytes) != len(frames) or len(encoded.frame_types) != len(frames):
            raise CodecError(
                f"{job}: clip {clip.name!r} has {len(frames)} frames but the codec described {len(encoded.frame_bytes)}"
            )
        write_bytes_atomic(Path(bitstream_dir) / f"{clip.name}.{codec.extension}", encoded.data)
        overhead = (len(encoded.data) - sum(encoded.frame_bytes)) / len(frames)
        for index, (item, image) in enumerate(zip(clip.rows.itertuples(), decoded, strict=True)):
            write_rgb_png(Path(decoded_dir) / f"{item.image_id}.png", image)
            n_bytes = encoded.frame_bytes[index] + overhead
            values = [
                item.image_id, width, height, n_bytes, bits_per_pixel(n_bytes, width, height),
                encode_s / len(frames), decode_s / len(frames), version, host, codec.device,
            ]  # fmt: skip
            row = dict(zip(RATE_COLUMNS, values, strict=True)) | (extra_columns or {})
            row.update(
                clip=clip.name, frame=index, frame_type=encoded.frame_types[index],
                frame_bytes=encoded.frame_bytes[index], clip_bytes=len(encoded.data), fps=clip.fps,
            )  # fmt: skip
            # Learned video codecs report per clip: key frames, decoder against encoder reconstruction.
            row.update(getattr(codec, "last_encode_info", None) or {})
            rows.append(row)
        log.info(
            "clip %s: %d frames, %d bytes, %.1f frames/s encoding",
            clip.name, len(frames), len(encoded.data), len(frames) / max(encode_s, 1e-9),
        )  # fmt: skip
    rates = pd.DataFrame(rows)
    write_csv_atomic(rates, rate_csv)
    return rates


def _coding_job(label: str, manifest_path: Path, split: str) -> str:
    """What a compression job's errors name first: codec, point and dataset (the manifest's folder), e.g.
    "jpeg quality=50 on dataset 'photos'" (a train split says so)."""
    split_note = "" if split == "test" else f" ({split} split)"
    return f"{label} on dataset {manifest_path.parent.name!r}{split_note}"


def _split_rows(
    manifest_path: Path,
    split: str,
    shard: tuple[int, int] | None,
    bitstream_dir: str | Path,
    decoded_dir: str | Path,
    sequence_codec: bool = False,
) -> pd.DataFrame:
    """The rows a compression job codes (all of ``split``, or one shard of it), its output folders created (a
    shard may hold no image). ``sequence_codec``: a video codec, which reads an image dataset as one clip."""
    from .shards import select_shard

    rows = select_shard(manifest_path, read_split(manifest_path, split), shard, sequence_codec)
    for folder in (bitstream_dir, decoded_dir):
        Path(folder).mkdir(parents=True, exist_ok=True)
    return rows
