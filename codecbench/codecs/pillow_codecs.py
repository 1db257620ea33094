"""Codecs that Pillow provides: the lossless reference, PNG, JPEG, JPEG 2000, WebP and AVIF."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
import PIL
from PIL import Image, features

from ..io import check_rgb
from . import register_codec
from .base import Codec, CodecError


class PillowCodec(Codec):
    """A codec that is one ``Image.save`` call in a Pillow format; subclasses give its save arguments."""

    pillow_format: ClassVar[str]
    pillow_feature: ClassVar[str | None] = None  # the PIL.features name of the underlying library

    def save_kwargs(self) -> dict[str, Any]:
        return {}

    def encode(self, image: np.ndarray) -> bytes:
        check_rgb(image)
        buf = io.BytesIO()
        try:
            Image.fromarray(image, "RGB").save(buf, format=self.pillow_format, **self.save_kwargs())
        except (OSError, ValueError, KeyError) as exc:
            raise CodecError(f"{self.describe()}: Pillow could not encode: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
        except (OSError, ValueError) as exc:
            raise CodecError(f"{self.describe()}: Pillow could not decode: {exc}") from exc

    @classmethod
    def version(cls) -> str:
        text = f"Pillow {PIL.__version__}"
        if cls.pillow_feature:
            lib = features.version(cls.pillow_feature)
            if lib is None:
                raise CodecError(f"codec {cls.name!r}: this Pillow build lacks {cls.pillow_feature} support")
            text += f" ({cls.pillow_feature} {lib})"
        return text


@register_codec
class Original(PillowCodec):
    """Lossless passthrough stored as binary PPM: the uncompressed reference point of every curve.

    Its bytes are the raw 24 bits per pixel plus the PPM header (about 15 bytes).
    """

    name = "original"
    extension = "ppm"
    pillow_format = "PPM"
    quality_min, quality_max = 0, 0
    quality_doc = "no knob: use the single quality 0"
    description = "lossless passthrough (binary PPM), the reference point; its only quality is 0"
    notes = "Written by Pillow. The stored file is a binary PPM: 24 bpp plus a header of about 15 bytes."


@register_codec
class Png(PillowCodec):
    name = "png"
    extension = "png"
    pillow_format = "PNG"
    pillow_feature = "zlib"
    quality_min, quality_max = 0, 9
    quality_doc = "zlib compress_level 0 (none) .. 9 (smallest); lossless at every level"
    description = "Pillow PNG; quality = zlib compress_level 0..9 (lossless at every level)"

    def save_kwargs(self) -> dict[str, Any]:
        return {"compress_level": self.quality}


@register_codec
class Jpeg(PillowCodec):
    name = "jpeg"
    extension = "jpg"
    pillow_format = "JPEG"
    pillow_feature = "jpg"
    quality_min, quality_max = 1, 100
    quality_doc = "libjpeg quality factor 1..100 (Pillow's default 4:2:0 chroma subsampling below 100)"
    description = "Pillow JPEG (libjpeg-turbo); quality = libjpeg quality factor 1..100"
    notes = "The stored file is a JFIF JPEG."
    supports_target_bpp = True
    option_schemas = {
        "subsampling": {
            "enum": [None, "4:4:4", "4:2:2", "4:2:0"],
            "default": None,
            "description": "chroma subsampling; null = Pillow's default (4:2:0 below quality 100)",
        },
        "optimize": {"type": "boolean", "default": False, "description": "optimised Huffman tables"},
        "progressive": {"type": "boolean", "default": False},
    }

    @classmethod
    def version(cls) -> str:
        turbo = features.version("libjpeg_turbo")
        return super().version() + (f" libjpeg-turbo {turbo}" if turbo else "")

    def save_kwargs(self) -> dict[str, Any]:
        kwargs = {"quality": self.quality, "optimize": self.options["optimize"]}
        kwargs["progressive"] = self.options["progressive"]
        if self.options["subsampling"] is not None:
            kwargs["subsampling"] = self.options["subsampling"]
        return kwargs


@register_codec
class Jpeg2000(PillowCodec):
    name = "jpeg2000"
    extension = "j2k"
    pillow_format = "JPEG2000"
    pillow_feature = "jpg_2000"
    quality_min, quality_max = 15, 80
    quality_doc = "target PSNR in dB of OpenJPEG's fixed-quality mode (quality_mode='dB'), 15..80"
    description = "Pillow JPEG 2000 (OpenJPEG), raw codestream; quality = target PSNR in dB, 15..80"
    supports_target_bpp = True
    option_schemas = {
        "irreversible": {"type": "boolean", "default": True, "description": "9/7 wavelet (true) or 5/3 (false)"},
        "mct": {"type": "boolean", "default": True, "description": "RGB -> YCbCr component transform before coding"},
    }

    def save_kwargs(self) -> dict[str, Any]:
        # A raw J2K codestream (no JP2 box wrapper): the bytes are the coded image alone. Pillow leaves the
        # colour transform off unless asked; without it RGB costs about twice the bits at the same PSNR.
        return {
            "quality_mode": "dB",
            "quality_layers": [self.quality],
            "irreversible": self.options["irreversible"],
            "mct": int(self.options["mct"]),
            "no_jp2": True,
        }


@register_codec
class Webp(PillowCodec):
    name = "webp"
    extension = "webp"
    pillow_format = "WEBP"
    pillow_feature = "webp"
    quality_min, quality_max = 0, 100
    quality_doc = "libwebp lossy quality 0..100"
    description = "Pillow WebP (libwebp), lossy; quality 0..100"
    notes = "The stored file is a WebP (RIFF) file."
    supports_target_bpp = True
    option_schemas = {
        "method": {"type": "integer", "minimum": 0, "maximum": 6, "default": 4, "description": "effort, 6 = slowest"}
    }

    def save_kwargs(self) -> dict[str, Any]:
        return {"quality": self.quality, "method": self.options["method"], "lossless": False}


@register_codec
class Avif(PillowCodec):
    name = "avif"
    extension = "avif"
    pillow_format = "AVIF"
    pillow_feature = "avif"
    quality_min, quality_max = 0, 100
    quality_doc = "libavif quality 0..100 (100 = lossless in Pillow's mapping)"
    description = "Pillow AVIF (libavif); quality 0..100"
    notes = "Pillow's libavif encodes with libaom. The stored file is an AVIF file."
    supports_target_bpp = True
    option_schemas = {
        "speed": {"type": "integer", "minimum": 0, "maximum": 10, "default": 6, "description": "0 = slowest, best"},
        "subsampling": {"enum": ["4:4:4", "4:2:2", "4:2:0", "4:0:0"], "default": "4:2:0"},
    }

    def save_kwargs(self) -> dict[str, Any]:
        return {
            "quality": self.quality,
            "speed": self.options["speed"],
            "subsampling": self.options["subsampling"],
            "max_threads": 1,  # one job per core: Snakemake parallelises across jobs
        }
