"""Masks from a weight-free saliency method: spectral residual (Hou & Zhang, CVPR 2007), its most salient
``coverage`` of the pixels. No model, no ground truth: what a sender without either could do."""

from __future__ import annotations

import numpy as np

from . import COVERAGE, MaskSource, register_mask_source


@register_mask_source
class SpectralResidual(MaskSource):
    name = "saliency"
    kind = "weight-free"
    description = "spectral-residual saliency (no weights): the most salient coverage of each image's pixels"
    setting_schemas = {
        "coverage": {**COVERAGE, "default": 0.25},
        "side": {
            "type": "integer",
            "minimum": 16,
            "maximum": 1024,
            "default": 64,
            "description": "the longer side (pixels) the image is analysed at (the method's scale)",
        },
    }

    def mask(self, image: np.ndarray, image_id: str) -> np.ndarray:
        from ..roi.saliency import saliency_mask, spectral_residual

        return saliency_mask(spectral_residual(image, side=self.settings["side"]), self.settings["coverage"])
