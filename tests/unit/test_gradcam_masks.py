"""Grad-CAM masks: captum's class-activation map of a classification task's model at its last convolution, for the
class it predicts, checked against Grad-CAM computed here by hand with forward and backward hooks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from codecbench.masks import MaskError, StoredMasks, make_masks
from codecbench.masks.gradcam import class_activation, last_convolution


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A small CNN trained for 2 epochs on 200 digits, and a prepared digits dataset (4 test images)."""
    from codecbench.datasets import prepare_dataset
    from codecbench.datasets.builtin import digits
    from codecbench.tasks.classification import Classification

    records = [record for record, _ in zip(digits(), range(200), strict=False)]
    annotations = pd.DataFrame(
        {"image_id": [f"d{i}" for i in range(len(records))], "label": [r.label for r in records]}
    )
    folder = tmp_path_factory.mktemp("classifier")
    settings = {"epochs": 2, "batch_size": 32}
    Classification(settings).train([r.image for r in records], annotations, folder, log=_quiet)
    data = tmp_path_factory.mktemp("digits")
    prepare_dataset("digits", {"source": "builtin", "max_images": 4}, data, data / "downloads")
    return folder / "checkpoint.pt", {"task": "classification", "settings": settings}, data


def _hand_gradcam(network, inputs: torch.Tensor, layer, size) -> np.ndarray:
    """Grad-CAM by its definition: the layer's activations A and the gradients of the predicted class's score,
    weights = spatial mean of the gradients per channel, ReLU(sum_k w_k A_k), bilinearly resized."""
    store = {}
    forward = layer.register_forward_hook(lambda _m, _i, output: store.__setitem__("A", output))
    try:
        inputs = inputs.clone().requires_grad_(True)
        scores = network(inputs)
        target = int(scores.argmax(dim=1)[0])
        (gradient,) = torch.autograd.grad(scores[0, target], store["A"])
    finally:
        forward.remove()
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * store["A"]).sum(dim=1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=size, mode="bilinear", align_corners=False)
    return cam[0, 0].detach().numpy()


def test_the_map_is_grad_cam_at_the_last_convolution_for_the_predicted_class(digits_model):
    from codecbench.io import read_rgb
    from codecbench.tasks.classification import Classification

    checkpoint, settings, data = digits_model
    task = Classification(settings["settings"])
    task.load(checkpoint, device="cpu")
    network, to_input = task.frozen_network()
    layer = last_convolution(network)
    assert layer is [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    manifest = pd.read_csv(data / "manifest.csv", dtype={"image_id": str})
    for file in manifest[manifest.split == "test"].file:
        image = read_rgb(data / file)
        ours = class_activation(network, to_input, image, layer)
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        expected = _hand_gradcam(network, to_input(x), layer, image.shape[:2])
        assert ours.shape == image.shape[:2]
        np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)


def test_gradcam_masks_cover_the_asked_fraction_where_the_map_is_highest(digits_model, tmp_path):
    checkpoint, settings, data = digits_model
    table = make_masks(
        data / "manifest.csv", "cam", {"source": "gradcam", "task": "cnn", "coverage": 0.25}, tmp_path / "cam",
        task_checkpoint=checkpoint, task_settings=settings,
    )  # fmt: skip
    assert set(table.mask_kind) == {"model"} and set(table.mask_source) == {"gradcam"}
    np.testing.assert_allclose(table.coverage, 0.25, atol=1 / (32 * 32))
    stored = StoredMasks(tmp_path / "cam" / "masks.csv")
    assert all(stored[image_id].shape == (32, 32) for image_id in table.image_id)


def test_gradcam_needs_a_task_model(digits_model, tmp_path):
    _, _, data = digits_model
    with pytest.raises(MaskError, match="mask source gradcam needs the settings of task 'cnn'"):
        make_masks(data / "manifest.csv", "cam", {"source": "gradcam", "task": "cnn"}, tmp_path / "cam")
