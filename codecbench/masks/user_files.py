"""Masks from a user's own files: one greyscale image per image id in a folder (e.g. a depth network's maps),
thresholded, so that an experiment with any mask maker is a config entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import MaskError, MaskSource, read_mask, register_mask_source

SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".pgm")


@register_mask_source
class UserFiles(MaskSource):
    name = "files"
    kind = "user"
    description = "a user's per-image mask files (<image id>.png in a folder, any grey image), thresholded"
    setting_schemas = {
        "path": {"type": "string", "default": "", "description": "the folder holding <image id>.png (or .tif, ...)"},
        "threshold": {
            "type": "integer",
            "minimum": 1,
            "maximum": 255,
            "default": 128,
            "description": "grey levels at or above it are the region (e.g. near pixels of a depth map)",
        },
        "invert": {"type": "boolean", "default": False, "description": "the region is below the threshold instead"},
    }

    @classmethod
    def problems(cls, name: str, entry: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
        if not Path(entry.get("path") or "").expanduser().is_dir():
            return [f"masks.{name}.path: folder {entry.get('path')!r} does not exist (the user's mask files)"]
        return []

    def prepare(self, dataset_dir: Path, task_checkpoint: Path | None, task_settings: dict[str, Any] | None) -> None:
        self.folder = Path(self.settings["path"]).expanduser()
        if not self.folder.is_dir():
            raise MaskError(f"mask source files: folder {self.folder} does not exist; set path to your masks' folder")

    def mask(self, image: np.ndarray, image_id: str) -> np.ndarray:
        found = [
            self.folder / f"{image_id}{suffix}"
            for suffix in SUFFIXES
            if (self.folder / f"{image_id}{suffix}").is_file()
        ]
        if not found:
            raise MaskError(
                f"mask source files: no mask for image {image_id!r} in {self.folder} (looked for "
                f"{image_id}.png, .tif, ...); give one file per test image"
            )
        mask = read_mask(found[0], image.shape[:2], self.settings["threshold"])
        return ~mask if self.settings["invert"] else mask
