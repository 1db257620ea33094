"""Codec registry: one name -> one :class:`~codecbench.codecs.base.Codec` subclass.

Adding a codec is a small class decorated with :func:`register_codec`: its attributes (quality range,
``description``, ``option_schemas``, ...) also make its entry under ``codecs`` in the config schema
(:func:`fill_schema`).
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from .base import (
    Codec,
    CodecError,
    EncodedSequence,
    SequenceCodec,
    bits_per_pixel,
    kilobits_per_second,
    schema_ref,
)

CODECS: Registry[Codec] = Registry("codec")
register_codec = CODECS.register
unregister_codec = CODECS.unregister
get_codec_class = CODECS.get_class


def make_codec(name: str, quality: float, options: dict[str, Any] | None = None) -> Codec:
    """Instantiate codec ``name`` at ``quality`` with the config's ``options`` (defaults filled in)."""
    return get_codec_class(name)(quality, **(options or {}))


def fill_schema(schema: dict) -> None:
    """The registry's part of the config schema: one entry under ``codecs`` per registered codec, in registration
    order (the order in which an unknown codec's message lists the known ones)."""
    schema["properties"]["codecs"]["properties"] = {name: cls.schema_entry() for name, cls in CODECS.items()}


# Importing the modules registers their codecs: image codecs (lossless first), video codecs, learned codecs. Heavy
# libraries are imported lazily inside them.
# isort: off
from . import pillow_codecs, imagecodecs_codecs, ffmpeg, video, learned, learned_video, external  # noqa: E402,F401
# isort: on

__all__ = [
    "CODECS",
    "Codec",
    "CodecError",
    "EncodedSequence",
    "SequenceCodec",
    "bits_per_pixel",
    "fill_schema",
    "kilobits_per_second",
    "get_codec_class",
    "make_codec",
    "register_codec",
    "schema_ref",
    "unregister_codec",
]
