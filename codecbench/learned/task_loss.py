"""A frozen task model's loss on a learned codec's reconstruction, for fine-tuning the codec towards the task.

:func:`codecbench.learned.train.train_codec` with ``task=`` and ``gamma=`` minimises
``bpp + lambda * distortion + gamma * task_loss``, where ``task_loss`` is what :class:`TaskLoss` returns: the
cross-entropy of a trained classifier (:mod:`codecbench.tasks.classification`) on the codec's reconstruction
against each image's true label. The classifier is frozen: eval mode (its batch-norm statistics stay those it was
trained with) and no gradients into its weights, but gradients flow through it into the reconstruction, so only
the codec learns what the classifier needs to see. ``gamma = 0`` is the fair control: the same code path, the
loss computed and logged, but adding nothing.

:attr:`TaskLoss.digest` (the classifier checkpoint's sha256) goes into the training's settings, so a resumable
state or a finished checkpoint made against another classifier is never taken for this training's.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..io import file_digest


class TaskLoss:
    """The cross-entropy of a frozen classification network on reconstructions, against class indices.

    ``network`` maps ``to_input(x)`` to one logit per class of ``classes`` (in output-unit order); ``to_input``
    maps a float NCHW [0, 1] RGB batch to the network's input (resize, normalisation) and must be differentiable.
    ``digest`` identifies the model (a checkpoint's sha256): trainings record it. Usually made by
    :meth:`from_classification`.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        to_input: Callable[[torch.Tensor], torch.Tensor],
        classes: Sequence[str],
        digest: str,
        name: str = "classification",
    ):
        self.network = network.eval().requires_grad_(False)
        self.to_input = to_input
        self.classes = [str(c) for c in classes]
        self.digest = str(digest)
        self.name = name
        self._index = {c: i for i, c in enumerate(self.classes)}

    @classmethod
    def from_classification(cls, checkpoint: str | os.PathLike, settings: dict[str, Any] | None = None) -> TaskLoss:
        """The classifier of a :class:`codecbench.tasks.classification.Classification` checkpoint, frozen.

        Loaded by the task's own :meth:`~codecbench.tasks.classification.Classification.load` and preprocessed
        by its :meth:`~codecbench.tasks.classification.Classification.frozen_network`, so the codec is trained
        against exactly what the benchmark evaluates it with. ``settings``: the task settings (defaults suffice;
        the checkpoint brings the input size and normalisation).
        """
        from ..tasks.classification import Classification

        task = Classification(settings)
        task.load(checkpoint, device="cpu")
        network, to_input = task.frozen_network()
        return cls(network, to_input, task.classes, file_digest(checkpoint), name=task.name)

    def to(self, device: torch.device | str) -> TaskLoss:
        """Move the network to ``device`` (in place; returns self)."""
        self.network.to(device)
        return self

    def targets(self, labels: Sequence[str]) -> torch.Tensor:
        """Class indices (int64) of ``labels``; ValueError naming the labels the classifier does not know."""
        labels = [str(label) for label in labels]
        unknown = sorted(set(labels) - set(self._index))
        if unknown:
            raise ValueError(
                f"labels {unknown[:5]} are not among the task model's classes {self.classes}: the {self.name} "
                "model cannot be scored on them"
            )
        return torch.tensor([self._index[label] for label in labels], dtype=torch.int64)

    def logits(self, x_hat: torch.Tensor) -> torch.Tensor:
        """The network's logits for reconstructions ``x_hat`` (float NCHW, clamped to [0, 1] first).

        Clamped because the decoder's pictures are: the classifier is evaluated on 8-bit decoded images, never
        on the overshoots of a training-mode reconstruction, so it should be trained against on what it sees.
        """
        if self.network.training:  # someone called .train() on it: its batch-norm statistics would drift
            self.network.eval()
        return self.network(self.to_input(x_hat.clamp(0, 1)))

    def __call__(self, x_hat: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the classifier on ``x_hat`` against class indices ``targets``."""
        return F.cross_entropy(self.logits(x_hat).float(), targets)

    def describe(self) -> dict[str, str]:
        """What a training records about this loss (its settings and the resume guard)."""
        return {"task": self.name, "task_checkpoint_sha256": self.digest}


def labels_digest(labels: Sequence[str]) -> str:
    """sha256 of the labels in order (as a JSON list of strings): which labels a task-loss training followed."""
    return hashlib.sha256(json.dumps([str(label) for label in labels]).encode()).hexdigest()


__all__ = ["TaskLoss", "labels_digest"]
