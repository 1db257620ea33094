"""The codec interface: every codec, classical or learned, turns an RGB image into real bytes and back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


def bits_per_pixel(n_bytes: int, width: int, height: int) -> float:
    """The rate of a stored file: its bytes x 8 over the pixels of the original image."""
    return n_bytes * 8.0 / (width * height)


class CodecError(RuntimeError):
    """A codec failed on an input; the message names the codec and what went wrong."""


class LearnedCodecError(CodecError):
    """A learned codec cannot get its model (weights missing, bad checkpoint, no CUDA) or cannot code an image."""


class Codec(ABC):
    """One codec at one quality.

    Subclasses declare their registry ``name``, the file ``extension`` of their bitstream, the valid range of
    their native ``quality`` knob (``quality_min``..``quality_max``, integers unless ``quality_type`` is
    float) and what it means (``quality_doc``; ``higher_is_better`` says in which direction it improves).
    ``options`` are the codec's other settings from the config (e.g. ``method`` for WebP); every option has a
    default in ``default_options`` so a config only names what it changes.
    """

    name: ClassVar[str]
    extension: ClassVar[str]
    quality_min: ClassVar[float]
    quality_max: ClassVar[float]
    quality_type: ClassVar[type] = int
    higher_is_better: ClassVar[bool] = True
    quality_doc: ClassVar[str]
    default_options: ClassVar[dict[str, Any]] = {}
    device: ClassVar[str] = "cpu"  # where encode/decode run; learned codecs report "cuda" when they use it

    def __init__(self, quality: float, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            known = ", ".join(sorted(self.default_options)) or "none"
            raise ValueError(f"codec {self.name!r}: unknown option(s) {unknown} (known: {known})")
        if not (self.quality_min <= quality <= self.quality_max):
            raise ValueError(f"codec {self.name!r}: quality {quality} outside {self.quality_min}..{self.quality_max}")
        if self.quality_type is int and int(quality) != quality:
            raise ValueError(f"codec {self.name!r}: quality must be an integer, got {quality}")
        self.quality = self.quality_type(quality)
        self.options = {**self.default_options, **options}

    @abstractmethod
    def encode(self, image: np.ndarray) -> bytes:
        """Encode a uint8 HxWx3 RGB image into the bytes a user would store."""

    @abstractmethod
    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        """Decode bytes from :meth:`encode` into a uint8 HxWx3 RGB image.

        ``size`` is the (height, width) of the encoded image; only codecs whose streams cannot state odd sides
        (4:2:0 video codecs) need it, to crop their padding away. All others ignore it.
        """

    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """The library (and its version) that really does the coding, e.g. ``Pillow 12.0.0 libjpeg-turbo 3.1``."""

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.name} quality={self.quality}" + (f" ({opts})" if opts else "")


def kilobits_per_second(n_bytes: float, n_frames: int, fps: float) -> float:
    """The rate of a stored clip: its bytes x 8 over its duration (frames / frames per second), in kbit/s."""
    if n_frames <= 0 or fps <= 0:
        raise ValueError(f"a clip needs frames and a positive frame rate, got {n_frames} frames at {fps} fps")
    return n_bytes * 8.0 / (n_frames / fps) / 1000.0


@dataclass(frozen=True)
class EncodedSequence:
    """A coded clip: ``data`` is the whole file a user would store (container included). ``frame_bytes`` and
    ``frame_types`` describe each frame in display order: the bytes of its coded frame (packet payload; their sum
    is at most ``len(data)``, the rest being container overhead) and its picture type ("I", "P", "B", or "" when the
    codec does not say)."""

    data: bytes
    frame_bytes: list[int]
    frame_types: list[str]


class SequenceCodec(Codec):
    """A video codec: it codes a whole clip (a list of equally sized frames at a frame rate) into one file, so
    frames may be predicted from each other. ``extension`` is the container's (mp4, webm, ...).

    :meth:`encode` / :meth:`decode` code a single image as a one-frame clip, so a sequence codec also runs where an
    image codec is expected.
    """

    sequence: ClassVar[bool] = True

    @abstractmethod
    def encode_sequence(self, frames: list[np.ndarray], fps: float) -> EncodedSequence:
        """Encode uint8 HxWx3 RGB frames (all the same size) shown at ``fps`` frames per second."""

    @abstractmethod
    def decode_sequence(self, data: bytes, size: tuple[int, int], n_frames: int) -> list[np.ndarray]:
        """Decode :attr:`EncodedSequence.data` into ``n_frames`` uint8 HxWx3 RGB frames of ``size`` (height,
        width), in display order; CodecError if the stream holds another number of frames or another size."""

    def encode(self, image: np.ndarray) -> bytes:
        return self.encode_sequence([image], fps=1.0).data

    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        if size is None:
            raise CodecError(f"{self.describe()}: decoding needs the frame size")
        return self.decode_sequence(data, size, 1)[0]
