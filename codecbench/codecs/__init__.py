"""Codec registry: one name -> one :class:`~codecbench.codecs.base.Codec` subclass.

Adding a codec is a small class decorated with :func:`register_codec` plus its entry in
``schemas/config.schema.yaml`` (a test checks that the two agree).
"""

from __future__ import annotations

from typing import Any

from .base import Codec, CodecError, bits_per_pixel

CODECS: dict[str, type[Codec]] = {}


def register_codec(cls: type[Codec]) -> type[Codec]:
    if cls.name in CODECS:
        raise ValueError(f"codec {cls.name!r} registered twice")
    CODECS[cls.name] = cls
    return cls


def get_codec_class(name: str) -> type[Codec]:
    try:
        return CODECS[name]
    except KeyError:
        raise KeyError(f"unknown codec {name!r} (known: {', '.join(sorted(CODECS))})") from None


def make_codec(name: str, quality: float, options: dict[str, Any] | None = None) -> Codec:
    """Instantiate codec ``name`` at ``quality`` with the config's ``options`` (defaults filled in)."""
    return get_codec_class(name)(quality, **(options or {}))


# Importing the modules registers their codecs. Heavy libraries are imported lazily inside them.
from . import ffmpeg, imagecodecs_codecs, learned, pillow_codecs  # noqa: E402,F401

__all__ = ["CODECS", "Codec", "CodecError", "bits_per_pixel", "get_codec_class", "make_codec", "register_codec"]
