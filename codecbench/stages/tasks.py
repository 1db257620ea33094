"""The task stage: train a task's model on one training variant, and evaluate a model on the test split.

A training variant is the dataset's train split as prepared (``original``) or as decoded from a codec point's
bitstreams (the compress job of the dataset view ``<dataset>-train``). An evaluation reads the test split as
prepared (``uncompressed``, 24 bpp) or each stored point of its codecs (:mod:`codecbench.stages.points`), and
writes one row per (point, image): the task's per-sample scores plus the image's bytes and bpp.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..config.plan import UNCOMPRESSED
from ..datasets import OBJECTS_FILE, read_classes, read_objects, read_split
from ..datasets.edges import EDGES_DIR, edges_file
from ..io import read_rgb, write_csv_atomic, write_text_atomic
from ..tasks import get_task_class
from . import prepend_columns
from .points import PointImages

log = logging.getLogger(__name__)


class TaskError(RuntimeError):
    """A task's model failed on a point; the message names the task, model, dataset, point and, where one image
    alone fails, that image."""


class ImageFiles(Sequence):
    """Images read from disk when indexed: a training set need not fit in memory at its stored size."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ImageFiles(self.paths[index])
        return read_rgb(self.paths[index])


def _read_images(folder: Path, rows: pd.DataFrame) -> ImageFiles:
    """The prepared images of ``rows`` (``file`` column)."""
    return ImageFiles([folder / name for name in rows.file])


def _predict_naming_failures(task, images: ImageFiles, image_ids: list[str], where: str):
    """``task.predict`` of a batch; on failure, the image that fails alone is found (one image at a time, only then)
    and named with ``where`` (task, model, dataset and point), the library's error kept as the cause."""
    try:
        return task.predict(images, image_ids)
    except Exception as exc:
        culprit = ""
        if len(image_ids) > 1:
            for index, image_id in enumerate(image_ids):
                try:
                    task.predict(images[index : index + 1], [image_id])
                except Exception:
                    culprit = f", image {image_id!r} ({images.paths[index]})"
                    break
        raise TaskError(f"{where}{culprit}: {type(exc).__name__}: {exc}") from exc


def read_annotations(manifest_path: str | Path, split: str) -> pd.DataFrame:
    """The manifest rows of ``split``, with an ``objects`` column (per image, a list of (class, x_min, y_min,
    x_max, y_max) boxes) and ``attrs["classes"]`` when the dataset is annotated with objects, and an ``edges_file``
    column (the path of each image's boundary maps) when it has edge ground truth."""
    manifest_path = Path(manifest_path)
    rows = read_split(manifest_path, split)
    if (manifest_path.parent / EDGES_DIR).is_dir():
        rows = rows.assign(edges_file=[str(edges_file(manifest_path.parent, i)) for i in rows.image_id])
    if not (manifest_path.parent / OBJECTS_FILE).exists():
        return rows
    objects = read_objects(manifest_path.parent)
    boxes = {
        image_id: list(group[["class", "x_min", "y_min", "x_max", "y_max"]].itertuples(index=False, name=None))
        for image_id, group in objects.groupby("image_id", sort=False)
    }
    rows = rows.assign(objects=[boxes.get(image_id, []) for image_id in rows.image_id])
    rows.attrs["classes"] = read_classes(manifest_path.parent)
    return rows


def train_task_variant(
    task_settings: dict[str, Any],
    manifest_path: str | Path,
    decoded: PointImages | None,
    out_dir: str | Path,
    info_json: str | Path,
    device: str = "auto",
) -> dict[str, Any]:
    """Train the task's model on the train split (prepared images, or ``decoded``: a stored point's).

    ``task_settings`` is ``{"task": name, "settings": {...}}``. The task writes ``out_dir/checkpoint.pt`` and
    ``out_dir/train.csv``; ``info_json`` gets its training info plus which images it read.
    """
    manifest_path = Path(manifest_path)
    rows = read_annotations(manifest_path, "train")
    if decoded is not None:
        images = decoded.subset(list(rows.image_id))
        source = decoded.point.folder
    else:
        images = _read_images(manifest_path.parent, rows)
        source = manifest_path.parent
    task = get_task_class(task_settings["task"])(task_settings["settings"])
    log.info("training %s on %d images from %s", task_settings["task"], len(images), source)
    info = task.train(images, rows, Path(out_dir), device=device)
    info = {**info, "images_dir": str(source)}
    write_text_atomic(info_json, json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def evaluate_task_model(
    task_settings: dict[str, Any],
    manifest_path: str | Path,
    checkpoint: str | Path | None,
    points: Sequence[tuple[str, Any, PointImages | None]],
    keys: dict[str, Any],
    out_csv: str | Path,
    device: str = "auto",
    shard: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Evaluate one model on the test split at every given point and write one row per (point, image).

    ``points`` holds ``(codec, quality, stored images)``; the codec ``"uncompressed"`` (quality 0, no images)
    reads the prepared test images, whose rate is the raw 24 bits per pixel. ``keys`` are constant
    columns put first (task, train_variant). The model is loaded once for all points.
    ``shard``: ``(k, n)`` evaluates only the images of shard k of n (:func:`codecbench.stages.shards.shard_rows`); an
    empty shard writes a table without rows (the model is not even loaded).
    """
    from .shards import select_shard

    manifest_path = Path(manifest_path)
    rows = select_shard(manifest_path, read_annotations(manifest_path, "test"), shard)
    if rows.empty:  # an empty shard (a split has at least one test image)
        write_csv_atomic(pd.DataFrame(), out_csv)
        return pd.DataFrame()
    task = get_task_class(task_settings["task"])(task_settings["settings"])
    task.load(checkpoint, device=device)  # None: the ready model the settings name (a pretrained variant)
    uncompressed_predictions = None
    model = f"task {task_settings['task']} ({', '.join(f'{k} {v}' for k, v in keys.items())})"
    where = f"{model} on dataset {manifest_path.parent.name!r}"
    if task.reference_from_uncompressed:  # the model's reading of the uncompressed images is the ground truth
        uncompressed = _read_images(manifest_path.parent, rows)
        uncompressed_predictions = _predict_naming_failures(
            task, uncompressed, list(rows.image_id), f"{where}, uncompressed (the reference)"
        )
        rows = task.reference_annotations(uncompressed_predictions, rows)
    frames = []
    for codec, quality, stored in points:
        start = time.perf_counter()
        if codec == UNCOMPRESSED:
            images = _read_images(manifest_path.parent, rows)
            rates = pd.DataFrame({"image_id": rows.image_id, "bytes": rows.width * rows.height * 3, "bpp": 24.0})
        else:
            images = stored.subset(list(rows.image_id))
            rates = stored.rows[["image_id", "bytes", "bpp"]]
        if codec == UNCOMPRESSED and uncompressed_predictions is not None:
            predictions = uncompressed_predictions
        else:
            point = f"{where}, codec {codec!r} quality {quality}"
            predictions = _predict_naming_failures(task, images, list(rows.image_id), point)
        per_sample, aggregate = task.score(predictions, rows)
        frame = per_sample.merge(rates, on="image_id", how="left", validate="1:1")
        if frame.bpp.isna().any():
            raise ValueError(
                f"{codec} quality {quality} lacks test images {list(frame.image_id[frame.bpp.isna()])[:5]}"
            )
        frames.append(prepend_columns(frame, {"codec": codec, "quality": quality}))
        log.info(
            "%s quality %s: %s (%d images, %.1f s)",
            codec,
            quality,
            {k: round(v, 4) for k, v in aggregate.items() if isinstance(v, float)},
            len(frame),
            time.perf_counter() - start,
        )
    table = prepend_columns(pd.concat(frames, ignore_index=True), keys)
    table["device"] = task.device
    write_csv_atomic(table, out_csv)
    return table
