"""Codec registry: one name -> one :class:`~codecbench.codecs.base.Codec` subclass.

Adding a codec is a small class decorated with :func:`register_codec` plus its entry in
``schemas/config.schema.yaml`` (a test checks that the two agree).
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from .base import Codec, CodecError, EncodedSequence, SequenceCodec, bits_per_pixel, kilobits_per_second

CODECS: Registry[Codec] = Registry("codec")
register_codec = CODECS.register
get_codec_class = CODECS.get_class


def make_codec(name: str, quality: float, options: dict[str, Any] | None = None) -> Codec:
    """Instantiate codec ``name`` at ``quality`` with the config's ``options`` (defaults filled in)."""
    return get_codec_class(name)(quality, **(options or {}))


# Importing the modules registers their codecs. Heavy libraries are imported lazily inside them.
from . import ffmpeg, imagecodecs_codecs, learned, learned_video, pillow_codecs, video  # noqa: E402,F401

__all__ = [
    "CODECS",
    "Codec",
    "CodecError",
    "EncodedSequence",
    "SequenceCodec",
    "bits_per_pixel",
    "kilobits_per_second",
    "get_codec_class",
    "make_codec",
    "register_codec",
]
