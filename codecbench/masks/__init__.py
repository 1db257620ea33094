"""Region-of-interest masks: per image, a map of what a vision model needs, made once and reused by every ROI codec.

A mask is a bool H x W array (True = the region of interest) stored as an 8-bit PNG (0 / 255) in
``results/masks/{dataset}/{mask}/`` beside ``masks.csv``: per image its file, its coverage (the fraction of pixels
inside the region) and how it was made. One name -> one :class:`MaskSource` subclass, registered with
:func:`register_mask_source`; each source declares its own facts: its settings as schema fragments with defaults,
the annotation kind a dataset needs for it, and its ``kind``, which every ROI table carries, so that a mask made
from the ground truth is labelled an oracle wherever its gains are shown:

- ``oracle``: the dataset's own annotations (object boxes, edge maps);
- ``model``: a task's model run on the uncompressed image (a detector's boxes, a classifier's Grad-CAM);
- ``weight-free``: a saliency method without weights (spectral residual);
- ``user``: a user's own per-image mask files (e.g. a depth network's maps, thresholded).

Heavy libraries (scipy, a task's model) are imported only by the sources that use them.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..registry import Registry, SettingsPlugin

MASKS_FILE = "masks.csv"
MASK_COLUMNS = ["image_id", "file", "width", "height", "coverage", "mask_source", "mask_kind", "mask_sha256"]
MASK_KINDS = ("oracle", "model", "weight-free", "user")


# The settings fragment of a source whose region is the top fraction of a per-pixel score (saliency, Grad-CAM).
COVERAGE = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": 1,
    "description": "the fraction of each image's pixels in the region",
}


class MaskError(ValueError):
    """A mask cannot be made or read; the message names the mask, the image or file and what to do."""


class MaskSource(SettingsPlugin, abc.ABC):
    """How one mask id's masks are made.

    Subclasses set ``name``, ``description``, ``kind`` (one of :data:`MASK_KINDS`), ``setting_schemas`` (each
    setting a JSON-schema fragment with its ``default``) and, when they read annotations, ``annotation`` (the
    dataset annotation kind they need: ``objects`` or ``edges``); ``uses_task`` says the source runs a task's model
    (whose trained checkpoint is then an input of the mask job), one of ``task_kinds``. :meth:`prepare` loads what
    every image shares; :meth:`mask` makes one image's mask from the uncompressed image.
    """

    name: ClassVar[str]
    selector = "source"
    description: ClassVar[str]
    kind: ClassVar[str]
    annotation: ClassVar[str | None] = None
    uses_task: ClassVar[bool] = False
    task_kinds: ClassVar[tuple[str, ...]] = ()  # the tasks whose model a source that uses one can run

    def __init__(self, settings: dict[str, Any] | None = None):
        unknown = sorted(set(settings or {}) - set(self.setting_schemas) - {"source"})
        if unknown:
            raise ValueError(f"mask source {self.name!r}: unknown setting(s) {unknown} (known: {self.known()})")
        self.settings = {**self.default_settings(), **{k: v for k, v in (settings or {}).items() if k != "source"}}

    @classmethod
    def known(cls) -> str:
        return ", ".join(sorted(cls.setting_schemas)) or "none"

    @classmethod
    def problems(cls, name: str, entry: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
        """What is wrong with mask ``name``'s config ``entry`` beyond its schema: for a source that runs a task's
        model, that ``task`` names a task of one of its ``task_kinds`` (:meth:`task_problems` adds the source's
        own demands on it)."""
        if not cls.uses_task:
            return []
        tasks = cfg.get("tasks", {})
        task = entry.get("task") or ""
        kinds = " or ".join(cls.task_kinds)
        if task not in tasks:
            return [
                f"masks.{name}.task: {task!r} is not a task under tasks; name the {kinds} task whose model draws "
                f"the mask (tasks: {', '.join(tasks) or 'none'})"
            ]
        if tasks[task]["task"] not in cls.task_kinds:
            return [f"masks.{name}.task: {task!r} is a {tasks[task]['task']} task, not {kinds}"]
        return cls.task_problems(name, task, tasks[task])

    @classmethod
    def task_problems(cls, name: str, task: str, task_entry: dict[str, Any]) -> list[str]:
        """What this source needs of the task ``task`` (its config ``task_entry``) beyond its kind; default none."""
        return []

    def load_task(
        self, task_checkpoint: Path | None, task_settings: dict[str, Any] | None, device: str = "auto"
    ) -> Any:
        """The task whose model draws the masks, loaded on ``device``: from ``task_checkpoint``, or for None the
        ready model its settings name. ``task_settings``: :func:`codecbench.config.plan.task_job_settings`."""
        from ..tasks import get_task_class

        if task_settings is None:
            raise MaskError(f"mask source {self.name} needs the settings of task {self.settings['task']!r}")
        task = get_task_class(task_settings["task"])(task_settings["settings"])
        task.load(task_checkpoint, device=device)
        return task

    def prepare(self, dataset_dir: Path, task_checkpoint: Path | None, task_settings: dict[str, Any] | None) -> None:  # noqa: B027
        """Load what every image's mask shares (annotations, a model); default: nothing."""

    @abc.abstractmethod
    def mask(self, image: np.ndarray, image_id: str) -> np.ndarray:
        """The bool H x W mask of one uncompressed RGB image."""


MASK_SOURCES: Registry[MaskSource] = Registry("mask source")
register_mask_source = MASK_SOURCES.register
get_mask_source = MASK_SOURCES.get_class


def fill_schema(schema: dict) -> None:
    """The registry's part of the config schema: the source names and each source's settings branch."""
    entry = schema["properties"]["masks"]["additionalProperties"]
    entry["properties"]["source"]["enum"] = list(MASK_SOURCES)
    entry["allOf"] = [cls.schema_branch() for cls in MASK_SOURCES.values()]


def dilated(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` grown by ``pixels`` in every direction (a square neighbourhood: boxes stay boxes)."""
    if pixels <= 0 or not mask.any():
        return mask
    from scipy import ndimage

    return ndimage.binary_dilation(mask, structure=np.ones((2 * pixels + 1, 2 * pixels + 1), dtype=bool))


def box_mask(boxes, height: int, width: int, dilate_px: int = 0) -> np.ndarray:
    """The union of boxes (x_min, y_min, x_max, y_max in pixels, far edges exclusive), each grown by ``dilate_px``
    and clipped to the image."""
    mask = np.zeros((height, width), dtype=bool)
    for x_min, y_min, x_max, y_max in boxes:
        top, left = max(0, int(np.floor(y_min)) - dilate_px), max(0, int(np.floor(x_min)) - dilate_px)
        bottom, right = min(height, int(np.ceil(y_max)) + dilate_px), min(width, int(np.ceil(x_max)) + dilate_px)
        mask[top:bottom, left:right] = True
    return mask


def regions(mask: np.ndarray, max_regions: int = 16) -> list[tuple[int, int, int, int]]:
    """The mask as rectangles (x, y, width, height) for an encoder's ROI side data: the bounding box of each
    connected part, largest first; beyond ``max_regions`` the smallest parts share one box that covers them all
    (an encoder takes a handful of rectangles, and a region may only grow, never lose a part of the mask)."""
    from scipy import ndimage

    labelled, count = ndimage.label(mask)
    boxes = []
    for found in ndimage.find_objects(labelled)[:count]:
        rows, columns = found
        boxes.append((columns.start, rows.start, columns.stop - columns.start, rows.stop - rows.start))
    boxes.sort(key=lambda box: (-box[2] * box[3], box[1], box[0]))
    if len(boxes) > max_regions:
        rest = boxes[max_regions - 1 :]
        left, top = min(b[0] for b in rest), min(b[1] for b in rest)
        right, bottom = max(b[0] + b[2] for b in rest), max(b[1] + b[3] for b in rest)
        boxes = [*boxes[: max_regions - 1], (left, top, right - left, bottom - top)]
    return boxes


def write_mask(path: Path, mask: np.ndarray) -> None:
    import io

    from PIL import Image

    from ..io import write_bytes_atomic

    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


def read_mask(path: str | Path, shape: tuple[int, int] | None = None, threshold: int = 128) -> np.ndarray:
    """The bool mask in a PNG (or any greyscale image Pillow reads): True where the grey level is at least
    ``threshold``. MaskError naming the file when it is missing, unreadable or not of ``shape`` (height, width)."""
    from PIL import Image, UnidentifiedImageError

    from ..datasets.normalize import pillow_cause

    path = Path(path)
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"))
    except ImportError as exc:
        raise MaskError(f"cannot read mask {path}: {pillow_cause(exc)}") from exc
    except (OSError, UnidentifiedImageError) as exc:
        raise MaskError(f"cannot read mask {path}: {exc}") from exc
    if shape is not None and grey.shape != tuple(shape):
        raise MaskError(
            f"mask {path} is {grey.shape[1]}x{grey.shape[0]}, but its image is {shape[1]}x{shape[0]}; give a mask "
            "of the image's size"
        )
    return grey >= threshold


def make_masks(
    manifest_path: str | Path,
    mask_id: str,
    settings: dict[str, Any],
    out_dir: str | Path,
    task_checkpoint: str | Path | None = None,
    task_settings: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Make the masks of a prepared dataset's test images with the mask source ``settings['source']``: one PNG per
    image and ``masks.csv`` (:data:`MASK_COLUMNS`) in ``out_dir``, which is returned as a table. A source that runs
    a task's model gets ``task_settings`` (:func:`codecbench.config.plan.task_job_settings`) and its
    ``task_checkpoint`` (None: the ready model the settings name)."""
    from ..datasets import read_split
    from ..io import file_digest, read_rgb, write_csv_atomic

    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    source = get_mask_source(settings["source"])(settings)
    source.prepare(manifest_path.parent, Path(task_checkpoint) if task_checkpoint else None, task_settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for item in read_split(manifest_path, "test").itertuples(index=False):
        image = read_rgb(manifest_path.parent / item.file)
        try:
            mask = np.asarray(source.mask(image, item.image_id), dtype=bool)
        except MaskError:
            raise
        except Exception as exc:  # any source's failure, named with its mask and image
            raise MaskError(f"mask {mask_id!r} ({source.name}), image {item.image_id!r}: {exc}") from exc
        if mask.shape != image.shape[:2]:
            raise MaskError(
                f"mask {mask_id!r} ({source.name}), image {item.image_id!r}: the mask is {mask.shape}, the image "
                f"{image.shape[:2]}"
            )
        path = out_dir / f"{item.image_id}.png"
        write_mask(path, mask)
        rows.append(
            [item.image_id, path.name, image.shape[1], image.shape[0], float(mask.mean()), source.name, source.kind,
             file_digest(path)]
        )  # fmt: skip
    table = pd.DataFrame(rows, columns=MASK_COLUMNS)
    write_csv_atomic(table, out_dir / MASKS_FILE)
    return table


class StoredMasks:
    """The masks of one mask id, read from its ``masks.csv`` folder: ``[image_id]`` gives the bool mask, checked
    against the size of its image and against the digest the mask job recorded (an edited mask file is refused)."""

    def __init__(self, masks_csv: str | Path):
        self.path = Path(masks_csv)
        try:
            self.table = pd.read_csv(self.path, dtype={"image_id": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise MaskError(f"cannot read {self.path}: {exc}; make the masks again") from exc
        missing = [column for column in MASK_COLUMNS if column not in self.table]
        if missing:
            raise MaskError(f"{self.path} lacks columns {missing}; make the masks again")
        self._rows = {row.image_id: row for row in self.table.itertuples(index=False)}

    def __getitem__(self, image_id: str) -> np.ndarray:
        from ..io import file_digest

        row = self._rows.get(image_id)
        if row is None:
            raise MaskError(f"{self.path} has no mask for image {image_id!r}; make the masks again")
        path = self.path.parent / row.file
        if not path.is_file() or file_digest(path) != row.mask_sha256:
            raise MaskError(f"mask file {path} is missing or changed since {self.path} was written; make it again")
        return read_mask(path, (int(row.height), int(row.width)))

    @property
    def digest(self) -> str:
        """What the masks' content is, for a coding key: the digests of every mask file."""
        import hashlib

        joined = ",".join(f"{row.image_id}:{row.mask_sha256}" for row in self.table.itertuples(index=False))
        return hashlib.sha256(joined.encode()).hexdigest()


# Importing the modules registers their sources, in the order the schema lists them.
from . import ground_truth, detector, gradcam, saliency, user_files  # noqa: E402,F401,I001

__all__ = [
    "COVERAGE",
    "MASKS_FILE",
    "MASK_COLUMNS",
    "MASK_KINDS",
    "MASK_SOURCES",
    "MaskError",
    "MaskSource",
    "StoredMasks",
    "box_mask",
    "dilated",
    "fill_schema",
    "get_mask_source",
    "make_masks",
    "read_mask",
    "regions",
    "register_mask_source",
    "write_mask",
]
