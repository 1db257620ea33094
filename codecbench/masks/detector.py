"""Masks from a detection task's model run on the uncompressed image: its boxes (above a confidence), grown by a
margin. The model is the task's model trained on the uncompressed train split (or its pretrained or own
checkpoint). Scoring the ROI codec with the same model that drew the mask flatters it: the ROI tables then also
report the oracle's or a second scorer's result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import MaskSource, box_mask, register_mask_source


@register_mask_source
class Detector(MaskSource):
    name = "detector"
    kind = "model"
    uses_task = True
    task_kinds = ("detection",)
    description = "a detection task's boxes on the uncompressed image (its model, run once), grown by dilate_px"
    setting_schemas = {
        "task": {
            "type": "string",
            "default": "",
            "description": "the detection task (under tasks) whose model draws the boxes",
        },
        "min_confidence": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 0.25,
            "description": "boxes of lower confidence are not part of the region",
        },
        "dilate_px": {
            "type": "integer",
            "minimum": 0,
            "maximum": 256,
            "default": 4,
            "description": "pixels each box grows by on every side",
        },
    }

    def prepare(self, dataset_dir: Path, task_checkpoint: Path | None, task_settings: dict[str, Any] | None) -> None:
        self.model = self.load_task(task_checkpoint, task_settings)

    def mask(self, image: np.ndarray, image_id: str) -> np.ndarray:
        predicted = self.model.predict([image], [image_id])
        boxes = [
            detection[2:6]
            for detection in json.loads(predicted.detections.iloc[0])
            if detection[1] >= self.settings["min_confidence"]
        ]
        height, width = image.shape[:2]
        return box_mask(boxes, height, width, self.settings["dilate_px"])
