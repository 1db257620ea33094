"""Task registry: the downstream vision tasks whose accuracy the benchmark tracks as images are compressed.

One name -> one :class:`Task` subclass, registered with :func:`register_task`. Every task has the same life
cycle, so the pipeline treats classification, detection, OCR or edge detection alike:

1. ``task = get_task_class(name)(settings)``: defaults filled in, settings checked (ValueError naming the key);
2. ``task.train(images, annotations, out_dir)`` writes ``out_dir/checkpoint.pt`` and ``out_dir/train.csv``,
   or ``task.load(checkpoint)`` takes a finished (or the user's own) model;
3. ``task.predict(images, image_ids)`` gives one row per image;
4. ``task.score(predictions, annotations)`` gives a per-sample table and the aggregate metrics; before scoring the
   other points, ``annotations = task.reference_annotations(uncompressed_predictions, annotations)`` lets a task
   whose ground truth is its own output on the uncompressed images (edges with ``ground_truth: original``) put
   that in the annotations (default: annotations unchanged).

This module imports neither torch nor scikit-learn: tasks import them when a model is first needed, so that the
registry is cheap to consult (config checks, the Snakefile).
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..registry import Registry


def _setting_default(name: str, key: str, fragment: dict[str, Any]) -> Any:
    """A setting's default from its schema fragment; a nested object's is the dict of its properties' defaults."""
    if "properties" in fragment:
        return {sub: _setting_default(name, f"{key}.{sub}", spec) for sub, spec in fragment["properties"].items()}
    if "default" not in fragment:
        raise TypeError(f"task {name!r}: setting {key!r} has no default (a config names only what it changes)")
    return fragment["default"]


class _SettingDefaults:
    """``Task.default_settings``: the ``default`` of each setting's schema fragment (a fresh copy each time)."""

    def __get__(self, instance: Task | None, owner: type[Task]) -> dict[str, Any]:
        return {key: _setting_default(owner.name, key, spec) for key, spec in owner.setting_schemas.items()}


class Task(abc.ABC):
    """A downstream vision task: train (or load) a model, predict on images, score predictions.

    Subclasses set ``name`` and ``setting_schemas`` (each setting as a JSON-schema fragment with its
    ``default``: the task's branch of the config schema, :meth:`schema_branch`, and ``default_settings`` are
    derived from them) and implement the four methods; :meth:`check_settings` validates the merged settings.
    Images are always uint8 HxWx3 RGB arrays; annotations are manifest rows with at least an ``image_id`` column
    and the task's own columns (``label`` for classification). ``device`` is where the model runs ("cpu" or
    "cuda") once :meth:`train` or :meth:`load` has set it, else None.
    """

    name: ClassVar[str]
    setting_schemas: ClassVar[dict[str, dict[str, Any]]]
    default_settings: ClassVar[dict[str, Any]] = _SettingDefaults()  # type: ignore[assignment]
    annotation_kind: ClassVar[str]  # what the dataset must be annotated with: classes, objects or text

    # How the task tables summarise the per-sample rows that :meth:`score` writes (pure pandas: no model needed).
    scores: ClassVar[tuple[str, ...]]  # the summary's scores, the headline one first
    # Figure axis labels of score columns (the summary's and other aggregates'), e.g. "map50": "mAP@0.5"; a column
    # without one is labelled with its name, '_' shown as ' ' (codecbench.report.task_figures.score_label).
    score_labels: ClassVar[dict[str, str]] = {}
    lower_is_better: ClassVar[frozenset[str]] = frozenset()  # scores where less is better (error rates)
    # A per-sample column where higher is better: an image "improved" or "worsened" against the same model on the
    # uncompressed image by it, and BD-rate compares codecs on its mean over images (named ``sample_quality_label``).
    sample_quality: ClassVar[str]
    sample_quality_label: ClassVar[str]
    text_columns: ClassVar[tuple[str, ...]] = ()  # per-sample columns read back as strings (labels, readings)
    notes: ClassVar[str] = ""  # Markdown for docs/tasks.md (make docs): models, scoring, what a user should know

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "default_settings" in cls.__dict__:
            raise TypeError(
                f"task class {cls.__name__}: give each setting's default in setting_schemas, not in default_settings "
                "(derived from them)"
            )

    @classmethod
    def schema_branch(cls) -> dict[str, Any]:
        """The task's branch of the config schema's ``tasks`` entry: its settings, when ``task`` names it."""
        return {
            "if": {"properties": {"task": {"const": cls.name}}},
            "then": {"properties": copy.deepcopy(cls.setting_schemas)},
        }

    def __init__(self, settings: dict[str, Any] | None = None):
        self.settings = merge_settings(self.default_settings, settings or {}, self.name)
        self.check_settings()
        self.device: str | None = None

    def check_settings(self) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Raise ValueError naming the offending key if ``self.settings`` is unusable (default: accept)."""

    @classmethod
    def is_pretrained(cls, settings: dict[str, Any]) -> bool:
        """Whether these settings name a ready model (nothing to train: the one variant ``pretrained``)."""
        return False

    @classmethod
    def needed_annotation(cls, settings: dict[str, Any]) -> str | None:
        """The annotation kind a dataset needs for these settings (default :attr:`annotation_kind`; None: any
        dataset will do, e.g. edges scored against the detector's own reading of the uncompressed image)."""
        return cls.annotation_kind

    # True when the ground truth is the model's own prediction on the uncompressed image: the pipeline then
    # predicts on the uncompressed images first and passes them to reference_annotations before scoring.
    reference_from_uncompressed: bool = False

    @classmethod
    @abc.abstractmethod
    def resampled_scores(cls, rows: pd.DataFrame, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Each of :attr:`scores` of one point's per-sample ``rows`` under each row of ``weights`` (replicates x
        images, in the order of ``rows``; a row of ones is the plain estimate). Recomputed per replicate, not
        averaged, so that ratio scores (F1, mAP, corpus CER) get honest bootstrap intervals."""

    @classmethod
    def describe_sample(cls, row: pd.Series) -> str:
        """A short caption of one per-sample row for the example gallery (default: its sample quality)."""
        return f"{cls.sample_quality_label} {float(row[cls.sample_quality]):.2f}"

    @classmethod
    def per_class(cls, rows: pd.DataFrame) -> pd.DataFrame:
        """One point's score per class: columns ``class``, ``score`` (its name), ``value``, ``n_objects``; empty
        for tasks without classes."""
        return pd.DataFrame(columns=["class", "score", "value", "n_objects"])

    def counted_network(self) -> tuple[Any, tuple[int, int]] | None:
        """The loaded model's torch network and the (height, width) of the input it sees, for the complexity
        table's parameters and kMAC/px (:mod:`codecbench.stats.complexity`); None (the default) where the task runs
        no torch network (Canny, HED through OpenCV, OCR's ONNX or Paddle models)."""
        return None

    @abc.abstractmethod
    def train(
        self,
        images: list[np.ndarray],
        annotations: pd.DataFrame,
        out_dir: Path,
        device: str = "auto",
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Train on ``images`` (row i of ``annotations`` describes image i); write ``out_dir/checkpoint.pt`` (never
        overwriting one) and ``out_dir/train.csv``; return a JSON-able description of the training."""

    @abc.abstractmethod
    def load(self, checkpoint: Path | str, device: str = "auto") -> None:
        """Load a checkpoint written by :meth:`train` (or the user's own in the same format) for :meth:`predict`."""

    @abc.abstractmethod
    def predict(self, images: list[np.ndarray], image_ids: list[str]) -> pd.DataFrame:
        """One row per image, starting with ``image_id``."""

    def reference_annotations(self, uncompressed_predictions: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
        """The annotations to score every point against, given :meth:`predict` on the uncompressed test images
        (default: ``annotations`` unchanged; a task without human ground truth puts its reference here)."""
        return annotations

    @abc.abstractmethod
    def score(self, predictions: pd.DataFrame, annotations: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Compare ``predictions`` with ``annotations``: (per-sample table, aggregate metrics)."""


def merge_settings(defaults: dict[str, Any], settings: dict[str, Any], task: str) -> dict[str, Any]:
    """``defaults`` overridden by ``settings``; nested dicts (such as ``augment``) are merged key by key.

    Unknown keys are errors rather than ignored: a typo must not silently run the default.
    """
    merged = copy.deepcopy(defaults)
    for key, value in settings.items():
        if key not in defaults:
            raise ValueError(f"{task}: unknown setting {key!r} (known: {', '.join(sorted(defaults))})")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"{task}: setting {key!r} must be a mapping, got {value!r}")
            for sub_key, sub_value in value.items():
                if sub_key not in defaults[key]:
                    raise ValueError(
                        f"{task}: unknown setting '{key}.{sub_key}' (known: {', '.join(sorted(defaults[key]))})"
                    )
                merged[key][sub_key] = sub_value
        else:
            merged[key] = value
    return merged


TASKS: Registry[Task] = Registry("task")
register_task = TASKS.register
get_task_class = TASKS.get_class


def fill_schema(schema: dict) -> None:
    """The registry's part of the config schema: the task names and each task's settings branch."""
    entry = schema["properties"]["tasks"]["additionalProperties"]
    entry["properties"]["task"]["enum"] = list(TASKS)
    entry["allOf"] = [cls.schema_branch() for cls in TASKS.values()]


# Importing the modules registers their tasks. Heavy libraries are imported lazily inside them.
from . import classification, detection, edges, imagenet, ocr  # noqa: E402,F401

__all__ = ["TASKS", "Task", "fill_schema", "get_task_class", "merge_settings", "register_task"]
