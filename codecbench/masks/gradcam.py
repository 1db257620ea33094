"""Masks from a classifier's class-activation map: Grad-CAM (Selvaraju et al., ICCV 2017) by captum's LayerGradCam
at the network's last convolution, for the class the model predicts on the uncompressed image; the most activated
``coverage`` of the pixels is the region. The model is a classification task's (trained here, or a ready ImageNet
classifier); scoring the ROI codec with the same model flatters it, so the ROI tables label the mask ``model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import COVERAGE, MaskError, MaskSource, register_mask_source


def last_convolution(network: Any) -> Any:
    """The network's last ``Conv2d`` in module order (Grad-CAM's usual layer: the finest spatial map that still
    carries the class evidence)."""
    import torch

    convolutions = [module for module in network.modules() if isinstance(module, torch.nn.Conv2d)]
    if not convolutions:
        raise MaskError("gradcam: the task's network has no convolution to take its class-activation map at")
    return convolutions[-1]


def class_activation(network: Any, to_input: Any, image: np.ndarray, layer: Any) -> np.ndarray:
    """Grad-CAM of ``image`` for the class ``network`` predicts, ReLU'd and bilinearly resized to the image, as a
    float H x W map (captum's ``LayerGradCam`` and ``LayerAttribution.interpolate``)."""
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255.0)
    inputs = to_input(x).requires_grad_(True)
    with torch.no_grad():
        target = int(network(inputs).argmax(dim=1)[0])
    attribution = LayerGradCam(network, layer).attribute(inputs, target=target, relu_attributions=True)
    resized = LayerAttribution.interpolate(attribution, image.shape[:2], interpolate_mode="bilinear")
    return resized[0, 0].detach().cpu().numpy().astype(np.float64)


@register_mask_source
class GradCam(MaskSource):
    name = "gradcam"
    kind = "model"
    uses_task = True
    task_kinds = ("classification", "imagenet_agreement", "imagenet_classification")
    description = "a classification task's Grad-CAM (captum) for its predicted class: the most activated coverage"
    setting_schemas = {
        "task": {
            "type": "string",
            "default": "",
            "description": "the classification task (classification, imagenet_agreement or imagenet_classification)",
        },
        "coverage": {**COVERAGE, "default": 0.3},
    }

    @classmethod
    def task_problems(cls, name: str, task: str, task_entry: dict[str, Any]) -> list[str]:
        if task_entry.get("preprocess", "none") != "none":
            return [
                f"masks.{name}.task: {task!r} centre-crops its images (preprocess {task_entry['preprocess']!r}), so "
                "its class-activation map covers part of each image only; give the task preprocess: none"
            ]
        return []

    def prepare(self, dataset_dir: Path, task_checkpoint: Path | None, task_settings: dict[str, Any] | None) -> None:
        self.network, self.to_input = self.load_task(task_checkpoint, task_settings, "cpu").frozen_network()
        self.layer = last_convolution(self.network)

    def mask(self, image: np.ndarray, image_id: str) -> np.ndarray:
        from ..roi.saliency import saliency_mask

        return saliency_mask(
            class_activation(self.network, self.to_input, image, self.layer), self.settings["coverage"]
        )
