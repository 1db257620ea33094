"""Region-of-interest coding: codec variants that spend the bits where a vision model looks.

An ROI variant is a config codec with an ``roi`` entry: a mask id (:mod:`codecbench.masks`, one mask per image,
made by its own stage) and a strategy. One name -> one :class:`RoiStrategy` subclass, registered with
:func:`register_strategy`; each strategy declares its settings (schema fragments with defaults) and which codecs it
works with (:meth:`RoiStrategy.problem` says why not, e.g. AV1 encoders ignore ROI side data). Every strategy makes
a standard bitstream that the codec's own decoder reads without the mask: the mask is used by the encoder only and
costs no bits, so a variant's bpp is its stored files, as for any codec.

The building blocks (:mod:`.requantize`, :mod:`.prefilter`, :mod:`.saliency`) are plain functions of arrays.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from ..registry import Registry, SettingsPlugin


class RoiStrategy(SettingsPlugin, abc.ABC):
    """How an ROI variant codes an image (or clip) with its mask. Subclasses set ``name``, ``description`` and
    ``setting_schemas`` and implement :meth:`problem` and :meth:`encode` (and :meth:`encode_sequence` when they
    work with video codecs)."""

    name: ClassVar[str]
    selector = "strategy"
    description: ClassVar[str]

    def __init__(self, settings: dict[str, Any] | None = None):
        given = {k: v for k, v in (settings or {}).items() if k in self.setting_schemas}
        self.settings = {**self.default_settings(), **given}

    @classmethod
    @abc.abstractmethod
    def problem(cls, codec_class: type, options: dict[str, Any]) -> str | None:
        """Why this strategy cannot work with a codec class at these options (None: it can)."""

    @classmethod
    def settings_problem(cls, settings: dict[str, Any]) -> str | None:
        """What is wrong with a combination of settings the schema cannot express (None: nothing)."""
        return None

    @abc.abstractmethod
    def encode(self, codec: Any, image: np.ndarray, mask: np.ndarray) -> bytes:
        """The bitstream of ``image`` coded by ``codec`` (an instance at one point) with ``mask``."""

    def encode_sequence(self, codec: Any, frames: list[np.ndarray], masks: list[np.ndarray], fps: float):
        """A video codec's clip with one mask per frame (an :class:`~codecbench.codecs.EncodedSequence`)."""
        raise NotImplementedError(f"ROI strategy {self.name!r} codes no clips")


STRATEGIES: Registry[RoiStrategy] = Registry("ROI strategy")
register_strategy = STRATEGIES.register
get_strategy = STRATEGIES.get_class


def fill_schema(schema: dict) -> None:
    """The registry's part of the config schema: ``$defs.roi``'s strategy names and each strategy's settings."""
    entry = schema["$defs"]["roi"]
    entry["properties"]["strategy"]["enum"] = list(STRATEGIES)
    entry["allOf"] = [cls.schema_branch() for cls in STRATEGIES.values()]


def make_strategy(roi: dict[str, Any]) -> RoiStrategy:
    return get_strategy(roi["strategy"])(roi)


# Importing the modules registers their strategies, in the order the schema lists them.
from . import background_jpeg, background_filter, qp_offset  # noqa: E402,F401,I001

__all__ = ["STRATEGIES", "RoiStrategy", "fill_schema", "get_strategy", "make_strategy", "register_strategy"]
