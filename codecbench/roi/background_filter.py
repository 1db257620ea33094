"""ROI strategy prefilter: the background (outside the mask) is blurred or downscaled before any codec codes the
image, so that the codec spends fewer bits there; the universal baseline, for every image or video codec."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import RoiStrategy, register_strategy


@register_strategy
class Prefilter(RoiStrategy):
    name = "prefilter"
    description = "the background blurred (or downscaled) before the codec codes the image: any codec"
    setting_schemas = {
        "method": {"enum": ["blur", "downscale"], "default": "blur", "description": "how the background is simplified"},
        "strength": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 64,
            "default": 3,
            "description": "blur: the Gaussian's sigma in pixels; downscale: the factor",
        },
    }

    @classmethod
    def problem(cls, codec_class: type, options: dict[str, Any]) -> str | None:
        return None

    @classmethod
    def settings_problem(cls, settings: dict[str, Any]) -> str | None:
        if settings.get("method") == "downscale" and settings.get("strength", 3) < 1:
            return f"downscale needs a factor strength >= 1, got {settings['strength']}"
        return None

    def _filtered(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from .prefilter import prefiltered

        return prefiltered(image, mask, method=self.settings["method"], strength=self.settings["strength"])

    def encode(self, codec: Any, image: np.ndarray, mask: np.ndarray) -> bytes:
        return codec.encode(self._filtered(image, mask))

    def encode_sequence(self, codec: Any, frames: list[np.ndarray], masks: list[np.ndarray], fps: float):
        filtered = [self._filtered(frame, mask) for frame, mask in zip(frames, masks, strict=True)]
        return codec.encode_sequence(filtered, fps)
