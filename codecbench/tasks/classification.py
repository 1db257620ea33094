"""Image classification: a small CNN or a torchvision ResNet/DenseNet, trained reproducibly, scored with sklearn.

Models (``model`` setting): ``small_cnn`` (three conv-BN-ReLU-maxpool blocks of 32, 64 and 128 channels, global
average pooling, one linear layer; trains on ~1,400 32x32 images for 10 epochs in seconds on two CPU cores) and
torchvision's ``resnet18``, ``densenet121`` and ``densenet201`` with a new linear head. With ``pretrained`` (the
default) those start from ImageNet weights: from torch hub's cache (``$TORCH_HOME/hub/checkpoints``), downloaded
into it once when missing (sha256 prefix of the file name checked, as torchvision's ``check_hash``), the same way
as the learned codecs' zoo weights (:func:`codecbench.learned.models.fetch_weights`); offline, training fails at
once naming the file to place there and its URL. Only ``pretrained: false`` trains them from scratch. One log
line says which way the model started.

Every image is scaled to [0, 1], resized to ``image_px`` x ``image_px`` (bilinear, antialiased) and normalised
per channel (ImageNet statistics for the torchvision models, 0.5/0.5 for ``small_cnn``). Training uses Adam and
cross-entropy with optional random horizontal flips and random crops after zero padding (``augment``).

Reproducibility: with a given seed a CPU training is bit-for-bit repeatable (checkpoint file and train.csv
losses); the caller's random generators are left untouched.

Checkpoint (``torch.save`` of a dict, loadable with ``weights_only=True``)::

    format      "codecbench-classifier/1"
    model       one of MODELS
    classes     class names (strings) in output-unit order
    image_px    input side the model expects
    mean, std   per-channel normalisation (3 floats each)
    settings    the task settings it was trained with
    training    what :meth:`Classification.train` returns, less wall-clock timings (so files repeat bit for bit)
    state_dict  the network's weights

A model trained elsewhere can be evaluated (``checkpoint`` setting) by saving its state dict in that layout;
only ``format``, ``model``, ``classes`` and ``state_dict`` are required (``image_px``, ``mean`` and ``std``
default to the settings and the model's usual statistics).

Torch, torchvision and scikit-learn are imported only when first needed.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import time
import urllib.parse
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import check_rgb, read_torch_payload, write_csv_atomic
from ..workflow import written_by_another_process
from . import Task, register_task

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "codecbench-classifier/1"
MODELS = ("small_cnn", "resnet18", "densenet121", "densenet201")
TORCHVISION_HEADS = {"resnet18": "fc", "densenet121": "classifier", "densenet201": "classifier"}
# DenseNet's transitions pool three times after a stride-4 stem: smaller inputs shrink to nothing.
MIN_IMAGE_PX = {"small_cnn": 8, "resnet18": 32, "densenet121": 32, "densenet201": 32}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TRAIN_CSV_COLUMNS = ("epoch", "loss", "train_accuracy", "images_per_s")


def classification_metrics(
    labels: Sequence[str], predicted: Sequence[str], classes: Sequence[str] | None = None
) -> dict[str, Any]:
    """Accuracy, macro F1, Cohen's kappa, per-class accuracy and the confusion matrix, all by scikit-learn.

    ``classes`` (default: the sorted labels and predictions) orders ``per_class_accuracy`` and the confusion
    matrix (rows: true class, columns: predicted class); every label and prediction must be one of them. A class
    without true samples has a NaN per-class accuracy; kappa is NaN when undefined (one class in both lists).
    Macro F1 averages over the classes that occur in ``labels`` or ``predicted`` (scikit-learn's default), so
    that classes of the model absent from this sample do not count as zeros. Pure: the aggregation recomputes it
    on bootstrap resamples.
    """
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

    labels = np.asarray(labels, dtype=str)
    predicted = np.asarray(predicted, dtype=str)
    if labels.shape != predicted.shape or labels.ndim != 1:
        raise ValueError(f"labels and predictions must be flat lists of one length: {labels.shape}, {predicted.shape}")
    if len(labels) == 0:
        raise ValueError("no samples to score")
    classes = [str(c) for c in (sorted(set(labels) | set(predicted)) if classes is None else classes)]
    unknown = sorted((set(labels) | set(predicted)) - set(classes))
    if unknown:  # confusion_matrix would silently drop those samples
        raise ValueError(f"labels or predictions {unknown} are not among the classes {classes}")

    confusion = confusion_matrix(labels, predicted, labels=classes)
    true_counts = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(true_counts > 0, np.diag(confusion) / true_counts, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # undefined kappa is NaN, as documented
        kappa = cohen_kappa_score(labels, predicted, labels=classes)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
        "cohen_kappa": float(kappa),
        "per_class_accuracy": {c: float(v) for c, v in zip(classes, per_class, strict=True)},
        "confusion": confusion.astype(int).tolist(),
        "classes": list(classes),
        "n": int(len(labels)),
    }


def scores_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and Cohen's kappa of confusion matrices (..., true class, predicted class).

    Macro-F1 averages the classes that occur as truth or prediction (scikit-learn's default label set); a class
    whose F1 is undefined counts 0 (``zero_division=0``). Kappa is ``(p_o - p_e) / (1 - p_e)``; NaN when
    ``p_e`` is 1 (a single class everywhere).
    """
    confusion = np.asarray(confusion, dtype=float)
    total = confusion.sum(axis=(-2, -1))
    hits = np.trace(confusion, axis1=-2, axis2=-1)
    true_counts, predicted_counts = confusion.sum(axis=-1), confusion.sum(axis=-2)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    present = (true_counts + predicted_counts) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / (true_counts + predicted_counts), 0.0)
        accuracy = hits / total
        macro_f1 = f1.sum(axis=-1) / present.sum(axis=-1)
        expected = (true_counts * predicted_counts).sum(axis=-1) / total**2
        kappa = np.where(expected < 1, (accuracy - expected) / (1 - expected), np.nan)
    return {"accuracy": accuracy, "macro_f1": macro_f1, "cohen_kappa": kappa}


def weighted_confusion(true_index: np.ndarray, predicted_index: np.ndarray, counts: np.ndarray, n_classes: int):
    """Confusion matrices of one point under each row of image weights ``counts`` (replicates x images)."""
    cells = np.zeros((true_index.size, n_classes * n_classes))
    cells[np.arange(true_index.size), true_index * n_classes + predicted_index] = 1.0
    return (counts @ cells).reshape(counts.shape[0], n_classes, n_classes)


def images_sha256(images: Sequence[np.ndarray]) -> str:
    """sha256 over the raw bytes of every image array, in order: which pixels a model was trained on."""
    digest = hashlib.sha256()
    for image in images:
        digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


@register_task
class Classification(Task):
    """One label per image; see the module docstring for models, preprocessing and the checkpoint."""

    name = "classification"
    notes = """
        With `pretrained: true`, torchvision models start from ImageNet weights, handled the way the learned codecs
        handle their zoo weights. The weights are read from `$TORCH_HOME/hub/checkpoints` and downloaded into it
        once when missing, with the file's sha256 checked against the prefix in its name (as torchvision's
        `check_hash` does). Offline, the job fails at once. The error names the exact file to place there (e.g.
        `$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth`) and its URL. Only `pretrained: false` trains them from
        scratch, and the log says which way the model started. The optimizer is Adam.

        Accuracy, macro-F1 and Cohen's kappa are recomputed from resampled confusion matrices. An image *improved*
        when it went from wrong to right against the same model on the uncompressed image, *worsened* when it went
        from right to wrong; `confusion.csv` holds the confusion counts.
    """
    annotation_kind = "classes"
    scores = ("accuracy", "macro_f1", "cohen_kappa")
    score_labels = {"accuracy": "accuracy", "macro_f1": "macro-F1", "cohen_kappa": "Cohen's kappa"}
    sample_quality, sample_quality_label = "correct", "accuracy"
    text_columns = ("label", "predicted")
    setting_schemas = {
        "model": {
            "enum": list(MODELS),
            "default": "small_cnn",
            "description": "small_cnn trains in seconds on a CPU; torchvision models start from ImageNet weights",
        },
        "pretrained": {
            "type": "boolean",
            "default": True,
            "description": "torchvision models: ImageNet weights from the torch hub cache, downloaded when missing "
            "(the job fails naming the file to place when offline); false = train from scratch",
        },
        "image_px": {
            "type": "integer",
            "minimum": 8,
            "default": 32,
            "description": "images are resized to this square size",
        },
        "epochs": {"type": "integer", "minimum": 1, "default": 10},
        "batch_size": {"type": "integer", "minimum": 1, "default": 64},
        "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 0.001},
        "augment": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                # no flips by default: a mirrored digit is another symbol
                "hflip": {"type": "boolean", "default": False, "description": "random horizontal flips"},
                "pad_crop": {
                    "type": "integer",
                    "minimum": 0,
                    "default": 2,
                    "description": "random crops after padding by N px",
                },
            },
        },
        "seed": {"type": "integer", "minimum": 0, "default": 0},
        "checkpoint": {
            "type": ["string", "null"],
            "default": None,
            "description": "a model file to evaluate without training",
        },
    }

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self._network = None  # set by train() or load(), with _torch_device and the base class's device
        self._torch_device = None
        self.classes: list[str] = []
        self.image_px = self.settings["image_px"]
        self.mean, self.std = _normalisation(self.settings["model"])

    def check_settings(self) -> None:
        s = self.settings
        if s["model"] not in MODELS:
            raise ValueError(f"classification: setting 'model' is {s['model']!r}; known models: {', '.join(MODELS)}")
        for key, value in (("pretrained", s["pretrained"]), ("augment.hflip", s["augment"]["hflip"])):
            if not isinstance(value, bool):
                raise ValueError(f"classification: setting {key!r} must be true or false, got {value!r}")
        for key in ("image_px", "epochs", "batch_size"):
            s[key] = _checked_int(key, s[key], minimum=1)
        s["seed"] = _checked_int("seed", s["seed"], minimum=0)
        s["augment"]["pad_crop"] = _checked_int("augment.pad_crop", s["augment"]["pad_crop"], minimum=0)
        if s["image_px"] < MIN_IMAGE_PX[s["model"]]:
            raise ValueError(
                f"classification: setting 'image_px' must be at least {MIN_IMAGE_PX[s['model']]} for {s['model']}, "
                f"got {s['image_px']}"
            )
        rate = s["learning_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise ValueError(f"classification: setting 'learning_rate' must be a positive number, got {rate!r}")
        s["learning_rate"] = float(rate)
        if s["checkpoint"] is not None:
            if not isinstance(s["checkpoint"], str | os.PathLike):
                raise ValueError(f"classification: setting 'checkpoint' must be a file path, got {s['checkpoint']!r}")
            s["checkpoint"] = os.fspath(s["checkpoint"])  # settings stay JSON-like (they go into checkpoints)

    @classmethod
    def resampled_scores(cls, rows: pd.DataFrame, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Accuracy, macro-F1 and kappa from the weighted confusion matrix of each row of ``weights``."""
        classes = sorted(set(rows.label) | set(rows.predicted))
        index = {name: i for i, name in enumerate(classes)}
        confusion = weighted_confusion(
            rows.label.map(index).to_numpy(), rows.predicted.map(index).to_numpy(), weights, len(classes)
        )
        return scores_from_confusion(confusion)

    @classmethod
    def describe_sample(cls, row: pd.Series) -> str:
        return f"predicted {row['predicted']} (true {row['label']})"

    @classmethod
    def per_class(cls, rows: pd.DataFrame) -> pd.DataFrame:
        """Accuracy per true class."""
        grouped = rows.groupby("label", sort=True)["correct"]
        table = grouped.agg(value="mean", n_objects="size").reset_index().rename(columns={"label": "class"})
        return table.assign(score="accuracy")[["class", "score", "value", "n_objects"]]

    def train(
        self,
        images: list[np.ndarray],
        annotations: pd.DataFrame,
        out_dir: Path,
        device: str = "auto",
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Train a fresh model on ``images`` labelled by ``annotations['label']`` (row i labels image i).

        Writes ``out_dir/checkpoint.pt`` (FileExistsError, before any work, if it exists) and
        ``out_dir/train.csv`` (one row per epoch: epoch, loss, train_accuracy, images_per_s; loss and accuracy
        are over that epoch's augmented batches in training mode). Classes are the sorted unique labels, as
        strings. ``device``: auto (CUDA when available), cpu or cuda. ``log`` gets progress lines (default:
        this module's logger). Afterwards the task predicts with the trained model. Returns the training info.
        """
        import torch
        import torch.nn.functional as F
        from torch.optim.swa_utils import update_bn

        from ..learned.models import pick_device, save_torch_atomic
        from ..learned.train import _cuda_devices, _deterministic  # the codec training's determinism helpers

        say = log if log is not None else logger.info
        out_dir = Path(out_dir)
        checkpoint = out_dir / "checkpoint.pt"
        s = self.settings
        if s["checkpoint"] is not None:
            raise ValueError(
                f"classification: settings give checkpoint {s['checkpoint']!r}, a model to evaluate: call load() "
                "with it instead of training"
            )
        if checkpoint.exists():  # fail before spending the training time
            raise written_by_another_process(checkpoint, "would be overwritten", "train_task.py")
        labels = _training_labels(images, annotations)
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"training a classifier needs at least two classes, the annotations have {classes}")

        dev = pick_device(device)
        if dev.type == "cuda":
            # cuBLAS is only deterministic with a fixed workspace; this takes effect if no cuBLAS handle exists yet.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        px, epochs, batch_size = s["image_px"], s["epochs"], s["batch_size"]
        hflip, pad = s["augment"]["hflip"], s["augment"]["pad_crop"]
        mean, std = _normalisation(s["model"])
        say(f"training {s['model']} on {len(images)} images, {len(classes)} classes, on {dev.type} for {epochs} epochs")

        with _deterministic(), torch.random.fork_rng(devices=_cuda_devices(dev)):
            # fork_rng: seeding here must not disturb the caller's random numbers.
            torch.manual_seed(s["seed"])
            network, pretrained_used, how = _build_network(s["model"], len(classes), s["pretrained"])
            say(how)
            network.to(dev).train()
            optimizer = torch.optim.Adam(network.parameters(), lr=s["learning_rate"])
            # One pass over the images (a lazy sequence may read each from disk): checked, hashed, resized once
            # and kept as 8-bit (4x less memory than floats; 25,000 images at 224 px are 3.8 GB).
            pixels, trained_sha256 = _stored_images(images, annotations, px)
            class_index = {name: i for i, name in enumerate(classes)}
            targets = torch.tensor([class_index[label] for label in labels])
            mean_t, std_t = (torch.tensor(v, device=dev).view(1, 3, 1, 1) for v in (mean, std))
            rng = np.random.default_rng(s["seed"])  # shuffling and augmentation
            rows: list[dict[str, float]] = []
            epoch_seconds: list[float] = []
            for epoch in range(1, epochs + 1):
                started = time.perf_counter()
                loss_sum, correct = 0.0, 0
                for batch in _batches(rng.permutation(len(images)), batch_size):
                    index = torch.from_numpy(batch)
                    x = _augment(pixels[index].float() / 255, rng, hflip, pad).to(dev)
                    y = targets[index].to(dev)
                    logits = network((x - mean_t) / std_t)
                    loss = F.cross_entropy(logits, y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    loss_sum += loss.item() * len(batch)  # .item() waits for the GPU: the timing is honest
                    correct += int((logits.argmax(dim=1) == y).sum())
                epoch_seconds.append(time.perf_counter() - started)
                row = {
                    "epoch": epoch,
                    "loss": loss_sum / len(images),
                    "train_accuracy": correct / len(images),
                    "images_per_s": len(images) / epoch_seconds[-1],
                }
                rows.append(row)
                say(
                    f"epoch {epoch}/{epochs}: loss {row['loss']:.4f}, train accuracy {row['train_accuracy']:.4f}, "
                    f"{row['images_per_s']:.0f} images/s"
                )
            # Batch norm's running statistics trail weights that move fast in a short training (eval accuracy fell
            # 4-6 points below the batch-statistics one on digits): recompute them for the final weights from the
            # unaugmented training images, which is what eval mode uses them on.
            update_bn(
                (
                    (pixels[batch].to(dev).float() / 255 - mean_t) / std_t
                    for batch in _batches(np.arange(len(images)), batch_size)
                ),
                network,
            )
            network.eval()

        training = {
            "task": self.name,
            "model": s["model"],
            "settings": copy.deepcopy(s),
            "device": dev.type,
            "classes": classes,
            "num_images": len(images),
            "images_sha256": trained_sha256,
            "pretrained_used": pretrained_used,
            "epochs_done": epochs,
            "final_loss": rows[-1]["loss"],
            "final_train_accuracy": rows[-1]["train_accuracy"],
        }
        payload = {
            "format": CHECKPOINT_FORMAT,
            "model": s["model"],
            "classes": classes,
            "image_px": px,
            "mean": list(mean),
            "std": list(std),
            "settings": copy.deepcopy(s),
            "training": training,
            "state_dict": {key: value.detach().cpu() for key, value in network.state_dict().items()},
        }
        write_csv_atomic(pd.DataFrame(rows, columns=list(TRAIN_CSV_COLUMNS)), out_dir / "train.csv")
        save_torch_atomic(payload, checkpoint)  # the same bytes for the same training
        say(f"saved {checkpoint} (trained on {dev.type})")

        self._network, self._torch_device, self.device, self.classes = network, dev, dev.type, classes
        self.image_px, self.mean, self.std = px, mean, std
        train_seconds = sum(epoch_seconds)
        return {**training, "images_per_s": len(images) * epochs / train_seconds, "train_seconds": train_seconds}

    def load(self, checkpoint: Path | str, device: str = "auto") -> None:
        """Load a checkpoint (see the module docstring) onto ``device`` for :meth:`predict`.

        FileNotFoundError when the file is missing, ValueError when it is not a usable classifier checkpoint;
        both name the file.
        """
        import torch

        from ..learned.models import pick_device

        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"classifier checkpoint {path} does not exist")
        advice = (
            f" To evaluate your own weights, save a dict with format {CHECKPOINT_FORMAT!r}, model "
            f"({', '.join(MODELS)}), classes and state_dict"
        )
        payload = read_torch_payload(
            path, CHECKPOINT_FORMAT, "classifier checkpoint", ("model", "classes", "state_dict"), advice=advice
        )
        model, classes = payload["model"], [str(c) for c in payload["classes"]]
        if model not in MODELS:
            raise ValueError(f"classifier checkpoint {path}: unknown model {model!r} (known: {', '.join(MODELS)})")
        mean, std = _normalisation(model)
        try:
            with torch.random.fork_rng(devices=[]):  # the throwaway random initialisation leaves the caller's RNG be
                network, _, _ = _build_network(model, len(classes), pretrained=False)
            network.load_state_dict(payload["state_dict"])
        except (RuntimeError, ValueError, TypeError) as error:
            raise ValueError(
                f"classifier checkpoint {path}: its weights do not fit {model} with {len(classes)} classes "
                f"({type(error).__name__}: {error})"
            ) from error
        dev = pick_device(device)
        self._network, self._torch_device, self.device = network.to(dev).eval(), dev, dev.type
        self.classes = classes
        self.image_px = int(payload.get("image_px", self.settings["image_px"]))
        self.mean = tuple(float(v) for v in payload.get("mean", mean))
        self.std = tuple(float(v) for v in payload.get("std", std))

    def frozen_network(self) -> tuple[Any, Callable[[Any], Any]]:
        """A frozen copy of the loaded network, and the map from a float NCHW [0, 1] RGB batch to its input.

        For training something else against this classifier, e.g. a learned codec whose reconstructions must stay
        recognisable (:class:`codecbench.learned.task_loss.TaskLoss`). The copy is in eval mode (batch norm uses
        its stored statistics, which a codec's batches must not move) with ``requires_grad`` off, so gradients
        flow through it into its input but never into its weights; the task's own network is left as it was.
        The map is :meth:`predict`'s preprocessing on a tensor instead of uint8 images (the same resize to
        ``image_px`` and per-channel normalisation), differentiable, on the batch's device.
        """
        if self._network is None:
            raise RuntimeError("classification: no model yet; call train() or load() first")
        network = copy.deepcopy(self._network).eval().requires_grad_(False)
        return network, normalising_input(self.mean, self.std, self.image_px)

    def counted_network(self) -> tuple[Any, tuple[int, int]] | None:
        """The loaded network at its input size (every image is resized to ``image_px`` square)."""
        if self._network is None:
            raise RuntimeError("classification: no model yet; call train() or load() first")
        return self._network, (self.image_px, self.image_px)

    def predict(self, images: list[np.ndarray], image_ids: list[str]) -> pd.DataFrame:
        """``image_id, predicted, confidence``: the most probable class and its softmax probability."""
        import torch

        if self._network is None:
            raise RuntimeError("classification: no model yet; call train() or load() first")
        if len(images) != len(image_ids):
            raise ValueError(f"{len(images)} images but {len(image_ids)} image ids")
        mean, std = (torch.tensor(v, device=self._torch_device).view(1, 3, 1, 1) for v in (self.mean, self.std))
        predicted, confidence = [], []
        with torch.inference_mode():
            for start in range(0, len(images), self.settings["batch_size"]):
                batch = list(images[start : start + self.settings["batch_size"]])  # read once (may be lazy)
                for image_id, image in zip(image_ids[start:], batch, strict=False):
                    try:
                        check_rgb(image)
                    except ValueError as error:
                        raise ValueError(f"image {image_id}: {error}") from None
                x = _unit_tensor(batch, self.image_px).to(self._torch_device)
                probabilities = torch.softmax(self._network((x - mean) / std).float(), dim=1)
                best, index = probabilities.max(dim=1)
                predicted += [self.classes[i] for i in index.tolist()]
                confidence += best.tolist()
        return pd.DataFrame(
            {"image_id": [str(i) for i in image_ids], "predicted": predicted, "confidence": confidence},
            columns=["image_id", "predicted", "confidence"],
        )

    def score(self, predictions: pd.DataFrame, annotations: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Per sample ``image_id, label, predicted, confidence, correct``, in prediction order, and
        :func:`classification_metrics` over them.

        Every prediction needs an annotation (annotations of images not predicted are ignored). The classes are
        the model's (when one is loaded) plus any other label or prediction, sorted, so that tables from different
        compression settings line up.
        """
        for name, frame, columns in (
            ("predictions", predictions, ("image_id", "predicted")),
            ("annotations", annotations, ("image_id", "label")),
        ):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise ValueError(f"{name} lack the column(s) {', '.join(missing)}")
        truth = annotations[["image_id", "label"]].astype(str)
        duplicated = truth["image_id"][truth["image_id"].duplicated()].unique().tolist()
        if duplicated:
            raise ValueError(f"annotations list image(s) {duplicated[:5]} more than once")
        table = predictions.astype({"image_id": str, "predicted": str})
        if "confidence" not in table.columns:
            table = table.assign(confidence=np.nan)
        table = table[["image_id", "predicted", "confidence"]].merge(truth, on="image_id", how="left", validate="1:1")
        unannotated = table["image_id"][table["label"].isna()].tolist()
        if unannotated:
            raise ValueError(f"{len(unannotated)} predicted image(s) have no annotation, e.g. {unannotated[:5]}")
        table = table[["image_id", "label", "predicted", "confidence"]]
        table = table.assign(correct=table["label"] == table["predicted"])
        classes = sorted(set(self.classes) | set(table["label"]) | set(table["predicted"]))
        return table, classification_metrics(table["label"], table["predicted"], classes)


def _checked_int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"classification: setting {key!r} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _normalisation(model: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-channel mean and std the model's inputs are normalised with."""
    return ((0.5,) * 3, (0.5,) * 3) if model == "small_cnn" else (IMAGENET_MEAN, IMAGENET_STD)


def _training_labels(images: Sequence[np.ndarray], annotations: pd.DataFrame) -> list[str]:
    if len(images) == 0:
        raise ValueError("no training images given")
    missing = [c for c in ("image_id", "label") if c not in annotations.columns]
    if missing:
        raise ValueError(f"training annotations lack the column(s) {', '.join(missing)}")
    if len(annotations) != len(images):
        raise ValueError(f"{len(images)} training images but {len(annotations)} annotation rows (row i labels image i)")
    unlabelled = annotations["image_id"][annotations["label"].isna() | (annotations["label"].astype(str) == "")]
    if len(unlabelled):
        raise ValueError(f"training images without a label: {unlabelled.astype(str).tolist()[:5]}")
    return annotations["label"].astype(str).tolist()


def imagenet_weights_file(model: str) -> tuple[Any, Path]:
    """torchvision's ImageNet weights for ``model`` and the file torch hub caches them as."""
    import torch
    import torchvision.models

    weights = torchvision.models.get_model_weights(model).DEFAULT
    name = os.path.basename(urllib.parse.urlparse(weights.url).path)
    return weights, Path(torch.hub.get_dir()) / "checkpoints" / name


def _build_network(model: str, n_classes: int, pretrained: bool):
    """(network, whether ImageNet weights were loaded, a log line saying how it starts and why)."""
    import torch.nn as nn

    if model == "small_cnn":

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        layers = [*block(3, 32), nn.MaxPool2d(2), *block(32, 64), nn.MaxPool2d(2), *block(64, 128), nn.MaxPool2d(2)]
        network = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, n_classes))
        return network, False, "small_cnn trains from scratch (there are no ImageNet weights for it)"

    import torchvision.models

    from ..learned.models import fetch_weights

    if not pretrained:
        network = torchvision.models.get_model(model, weights=None, num_classes=n_classes)
        return network, False, f"{model} trains from scratch (pretrained is false)"
    weights, path = imagenet_weights_file(model)
    downloaded = fetch_weights(
        weights.url, path, f"classification: {model}'s ImageNet weights",
        "set pretrained: false to train it from scratch", error=FileNotFoundError,
    )  # fmt: skip
    try:  # the file is cached now, so torchvision reads it (fixing DenseNet's old key names) without downloading
        network = torchvision.models.get_model(model, weights=weights)
    except Exception as error:
        raise ValueError(
            f"{model}: the cached ImageNet weights {path} cannot be loaded ({type(error).__name__}: {error}); "
            f"delete the file or replace it with {weights.url}"
        ) from error
    head = TORCHVISION_HEADS[model]
    setattr(network, head, nn.Linear(getattr(network, head).in_features, n_classes))
    how = f"{model} starts from ImageNet weights ({path}) with a new {n_classes}-class head"
    return network, True, how + (f"; the file was downloaded from {weights.url}" if downloaded else "")


def _unit_tensor(images: Sequence[np.ndarray], px: int):
    """Float NCHW in [0, 1], resized to px x px (bilinear, antialiased) where the size differs."""
    import torch

    resized = []
    for image in images:
        # contiguous NCHW: permuted (channels-last) tensors crash torch 2.14's CPU backward in some layers
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).contiguous().float() / 255
        resized.append(_resized(x, px))
    return torch.cat(resized).contiguous()


def normalising_input(mean, std, px: int | None = None):
    """The differentiable map from a float NCHW [0, 1] RGB batch to a network's input: resized to ``px`` square
    (:func:`_resized`; None: as it is), then normalised per channel by ``mean`` and ``std``, on the batch's device."""
    import torch

    def to_input(x: torch.Tensor) -> torch.Tensor:
        shift, scale = (torch.tensor(v, device=x.device, dtype=x.dtype).view(1, 3, 1, 1) for v in (mean, std))
        return ((x if px is None else _resized(x, px)) - shift) / scale

    return to_input


def _resized(x, px: int):
    """A float NCHW batch resized to px x px (bilinear, antialiased) where its size differs: the one resize that
    :meth:`Classification.predict` (through :func:`_unit_tensor`) and :meth:`Classification.frozen_network`'s input
    map share, so that a network trained against through the latter sees what it is evaluated on."""
    import torch.nn.functional as F

    if x.shape[-2:] != (px, px):
        x = F.interpolate(x, size=(px, px), mode="bilinear", antialias=True, align_corners=False)
    return x


def _stored_images(images: Sequence[np.ndarray], annotations: pd.DataFrame, px: int):
    """The training images as uint8 NCHW at px x px, and :func:`images_sha256` of the originals, in one pass."""
    import torch

    digest = hashlib.sha256()
    stored = torch.empty((len(images), 3, px, px), dtype=torch.uint8)
    for index, image in enumerate(images):
        try:
            check_rgb(image)
        except ValueError as error:
            raise ValueError(f"training image {index} ({annotations['image_id'].iloc[index]}): {error}") from None
        digest.update(np.ascontiguousarray(image).tobytes())
        stored[index] = (_unit_tensor([image], px)[0] * 255).round().to(torch.uint8)
    return stored, digest.hexdigest()


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive batches of ``order``; a last batch of one joins the one before (batch norm needs two)."""
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def _augment(x, rng: np.random.Generator, hflip: bool, pad: int):
    """Random horizontal flips and random px x px crops of the zero-padded batch, all randomness from ``rng``."""
    import torch
    import torch.nn.functional as F

    n, _, height, width = x.shape
    if hflip:
        flip = torch.from_numpy(rng.random(n) < 0.5).view(n, 1, 1, 1)
        x = torch.where(flip, x.flip(3), x)
    if pad:
        padded = F.pad(x, (pad, pad, pad, pad))
        offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
        x = torch.stack([padded[i, :, dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets)])
    return x.contiguous()
