"""Turn any image file into the pipeline's one image type: 8-bit RGB, upright, no alpha.

The rules (also in the README), applied in this order:

* **Unreadable or truncated files** are rejected with the file's name; nothing is guessed.
* **EXIF orientation** is applied, so the stored pixels are upright and the tag is dropped (except where a
  dataset's annotations refer to the stored pixels, as COCO's do: ``upright=False``).
* **16-bit** samples (grayscale ``I;16``/``I`` and 48/64-bit RGB(A)) keep their high byte (``v >> 8``), the
  truncation Pillow itself uses for 16-bit RGB PNGs, so both paths agree.
* **CMYK** is converted to RGB through the file's ICC profile when it has one (LittleCMS, to sRGB), otherwise
  with Pillow's naive conversion.
* **Palette** images are expanded to their colours (and their transparency, which then follows the alpha rule).
* **Alpha** (RGBA, LA, PA) is composited over white: the codecs under test code RGB only, and white matches how
  most viewers show transparent regions.
* **Grayscale** (L, 1-bit) is replicated into three equal channels.
* Any other mode (e.g. floating-point ``F``) is rejected with the file's name.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError


class ImageFileError(ValueError):
    """An input image cannot be used; the message names the file and the remedy."""


def _to_8bit_gray(im: Image.Image) -> Image.Image:
    values = np.asarray(im, dtype=np.int64)
    if values.min() < 0 or values.max() > 65535:
        raise ValueError(f"mode {im.mode} values outside 0..65535")
    return Image.fromarray((values >> 8).astype(np.uint8), "L")


def _composite_on_white(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    return im.convert("RGB")


def normalize_image(im: Image.Image, upright: bool = True) -> tuple[np.ndarray, str]:
    """Return (uint8 HxWx3 array, the original mode) for an opened Pillow image, applying the module's rules
    (``upright=False``: all but the EXIF orientation)."""
    original_mode = im.mode
    if upright:
        im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        im = _to_8bit_gray(im)
    if im.mode == "CMYK":
        im = _cmyk_to_rgb(im)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = _composite_on_white(im)
    if im.mode in ("L", "1"):
        im = im.convert("RGB")
    if im.mode != "RGB":
        raise ValueError(f"unsupported image mode {im.mode}")
    return np.asarray(im, dtype=np.uint8).copy(), original_mode


def load_normalized(path: str | Path, data: bytes | None = None, upright: bool = True) -> tuple[np.ndarray, str]:
    """Read ``path`` (or ``data``, the content of the file ``path`` names, e.g. an archive member) and normalise it;
    raise :class:`ImageFileError` naming the file if that is impossible."""
    try:
        with Image.open(io.BytesIO(data) if data is not None else Path(path)) as im:
            im.load()  # decode now, so truncated data fails here and not later
            return normalize_image(im, upright)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageFileError(
            f"cannot use image {path}: {exc}. Replace or remove the file (it may be truncated or corrupt)."
        ) from exc
