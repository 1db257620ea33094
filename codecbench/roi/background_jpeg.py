"""ROI strategy background_jpeg: one standard JPEG whose background blocks are requantised to a coarser quality
(:func:`codecbench.roi.requantize.background_requantized_jpeg`); every JPEG decoder reads it as it is."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import RoiStrategy, register_strategy


@register_strategy
class BackgroundJpeg(RoiStrategy):
    name = "background_jpeg"
    description = "JPEG at the point's quality inside the mask, the background's DCT blocks requantised coarser"
    setting_schemas = {
        "background_quality": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100,
            "default": 10,
            "description": "the libjpeg quality whose quantiser steps the blocks outside the mask get",
        },
    }

    @classmethod
    def problem(cls, codec_class: type, options: dict[str, Any]) -> str | None:
        if codec_class.name != "jpeg":
            return f"background_jpeg requantises JPEG's DCT blocks; {codec_class.name} is no JPEG (use prefilter)"
        if options.get("progressive"):
            return "background_jpeg writes baseline JPEG; set the codec's progressive to false"
        return None

    def encode(self, codec: Any, image: np.ndarray, mask: np.ndarray) -> bytes:
        from .requantize import background_requantized_jpeg

        quality = int(codec.quality)
        background = min(self.settings["background_quality"], quality)  # never finer than the point itself
        subsampling = codec.options.get("subsampling") or ("4:4:4" if quality == 100 else "4:2:0")
        return background_requantized_jpeg(
            image, mask, quality, background, subsampling=subsampling, optimize=bool(codec.options.get("optimize"))
        )
