"""Codecs that the imagecodecs package provides: JPEG XL (libjxl)."""

from __future__ import annotations

import numpy as np

from ..io import check_rgb
from . import register_codec
from .base import Codec, CodecError


def jxl_distance_from_quality(quality: float) -> float:
    """libjxl's ``JxlEncoderDistanceFromQuality`` (the mapping behind ``cjxl --quality``); 100 means lossless."""
    if quality >= 100:
        return 0.0
    if quality >= 30:
        return 0.1 + (100 - quality) * 0.09
    return 53.0 / 3000.0 * quality * quality - 23.0 / 20.0 * quality + 25.0


@register_codec
class JpegXl(Codec):
    name = "jpegxl"
    extension = "jxl"
    quality_min, quality_max = 0, 100
    quality_doc = "cjxl-style quality 0..100 mapped to a Butteraugli distance as libjxl does (90 = distance 1)"
    description = "imagecodecs JPEG XL (libjxl); quality 0..100 mapped to a distance as cjxl does"
    notes = (
        "The quality maps to a distance as `cjxl --quality` does (100 = lossless). The stored file is a JPEG XL "
        "codestream."
    )
    supports_target_bpp = True
    option_schemas = {"effort": {"type": "integer", "minimum": 1, "maximum": 10, "default": 7}}

    def encode(self, image: np.ndarray) -> bytes:
        import imagecodecs

        check_rgb(image)
        distance = jxl_distance_from_quality(self.quality)
        try:
            return bytes(
                imagecodecs.jpegxl_encode(
                    image,
                    distance=distance,
                    lossless=distance == 0.0,
                    effort=self.options["effort"],
                    numthreads=1,
                )
            )
        except (imagecodecs.JpegxlError, ValueError) as exc:
            raise CodecError(f"{self.describe()}: libjxl could not encode: {exc}") from exc

    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        import imagecodecs

        try:
            decoded = imagecodecs.jpegxl_decode(data, numthreads=1)
        except (imagecodecs.JpegxlError, ValueError) as exc:
            raise CodecError(f"{self.describe()}: libjxl could not decode: {exc}") from exc
        if decoded.dtype != np.uint8 or decoded.ndim != 3 or decoded.shape[2] != 3:
            raise CodecError(f"{self.describe()}: decoded {decoded.dtype} {decoded.shape}, expected uint8 RGB")
        return decoded

    @classmethod
    def version(cls) -> str:
        import imagecodecs

        return f"imagecodecs {imagecodecs.__version__} ({imagecodecs.jpegxl_version()})"
