"""Masks from a dataset's own annotations: its object boxes or its edge maps. The ground truth is an oracle, which
no deployed system has: every table labels these masks so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import MaskError, MaskSource, box_mask, dilated, register_mask_source

_DILATE = {
    "type": "integer",
    "minimum": 0,
    "maximum": 256,
    "default": 4,
    "description": "pixels the region grows by on every side (a detector also reads the context of an object)",
}


@register_mask_source
class Boxes(MaskSource):
    name = "boxes"
    kind = "oracle"
    annotation = "objects"
    description = "the dataset's object boxes (ground truth: an oracle), each grown by dilate_px"
    setting_schemas = {"dilate_px": _DILATE}

    def prepare(self, dataset_dir: Path, task_checkpoint: Path | None, task_settings: dict[str, Any] | None) -> None:
        from ..datasets import read_objects

        objects = read_objects(dataset_dir)
        self.boxes = {
            image_id: group[["x_min", "y_min", "x_max", "y_max"]].to_numpy()
            for image_id, group in objects.groupby("image_id")
        }

    def mask(self, image: np.ndarray, image_id: str) -> np.ndarray:
        height, width = image.shape[:2]
        return box_mask(self.boxes.get(image_id, ()), height, width, self.settings["dilate_px"])


@register_mask_source
class Edges(MaskSource):
    name = "edges"
    kind = "oracle"
    annotation = "edges"
    description = "the dataset's edge maps (any annotator's boundary; ground truth: an oracle), grown by dilate_px"
    setting_schemas = {"dilate_px": {**_DILATE, "default": 2}}

    def prepare(self, dataset_dir: Path, task_checkpoint: Path | None, task_settings: dict[str, Any] | None) -> None:
        self.dataset_dir = dataset_dir

    def mask(self, image: np.ndarray, image_id: str) -> np.ndarray:
        from ..datasets.edges import edges_file, read_edges

        path = edges_file(self.dataset_dir, image_id)
        if not path.is_file():
            raise MaskError(f"image {image_id!r} has no edge map ({path}); prepare the dataset again")
        return dilated(read_edges(path).any(axis=0), self.settings["dilate_px"])
