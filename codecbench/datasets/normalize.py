"""Turn any image file into the pipeline's one image type: 8-bit RGB, upright, no alpha.

The rules (also in docs/datasets.md), applied in this order:

* **Unreadable or truncated files** are rejected with the file's name; nothing is guessed.
* **Size**: a file whose header declares more than ``max_pixels`` pixels (default Pillow's own decompression-bomb
  limit, 178,956,970) is rejected with its name and size before anything is decoded; Pillow's checks inside its
  decoders (TIFF tiles, GIF frames) use the same limit.
* **Several frames** (animated GIF, WebP or PNG, multi-page TIFF) are rejected with the file's name and frame count,
  unless ``multi_frame: first``, which takes the first frame and records it in the source mode ("P, frame 1 of
  12"). An MPO (a camera JPEG carrying extra pictures: previews, a stereo view) always gives its primary picture,
  as every JPEG decoder does, and the source mode says so ("RGB, MPO picture 1 of 2").
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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Pillow's own limit: above 2 x Image.MAX_IMAGE_PIXELS it refuses to open a file as a decompression bomb.
DEFAULT_MAX_PIXELS = 178_956_970
MULTI_FRAME_CHOICES = ("refuse", "first")


class ImageFileError(ValueError):
    """An input image cannot be used; the message names the file and the remedy."""


@dataclass(frozen=True)
class ImageOptions:
    """How a dataset's files are read: the most pixels a file may declare, what to do with files of several frames
    (``refuse`` or take the ``first``), and where these are set (for the messages)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    multi_frame: str = "refuse"
    setting: str = "datasets.<dataset>"


def image_options(dataset: str, cfg: dict[str, Any]) -> ImageOptions:
    """The ``max_pixels`` and ``multi_frame`` of a dataset config entry (defaults for what it leaves out), checked."""
    from . import DatasetError  # imported here: the package imports this module first

    max_pixels = cfg.get("max_pixels", DEFAULT_MAX_PIXELS)
    multi_frame = cfg.get("multi_frame", "refuse")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise DatasetError(f"dataset {dataset!r}: max_pixels must be an integer from 1, not {max_pixels!r}")
    if multi_frame not in MULTI_FRAME_CHOICES:
        raise DatasetError(
            f"dataset {dataset!r}: multi_frame must be one of {', '.join(MULTI_FRAME_CHOICES)}, not {multi_frame!r}"
        )
    return ImageOptions(max_pixels, multi_frame, f"datasets.{dataset}")


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


def _check_pixels(path: str | Path, im: Image.Image, options: ImageOptions) -> None:
    width, height = im.size
    if width * height > options.max_pixels:
        raise ImageFileError(
            f"cannot use image {path}: it declares {width}x{height} = {width * height:,} pixels, above max_pixels "
            f"{options.max_pixels:,} (a decompression bomb?); if the file is genuine, raise "
            f"{options.setting}.max_pixels"
        )


def _frame_note(path: str | Path, im: Image.Image, options: ImageOptions) -> str:
    """What the source mode says about frames ("" for a still image); refuses several frames unless allowed."""
    frames = getattr(im, "n_frames", 1)
    if frames <= 1:
        return ""
    if im.format == "MPO":
        return f", MPO picture 1 of {frames}"
    if options.multi_frame != "first":
        raise ImageFileError(
            f"cannot use image {path}: it has {frames} frames (an animation or a multi-page file) and only still "
            f"images are prepared; set {options.setting}.multi_frame: first to take its first frame, or remove "
            "the file"
        )
    return f", frame 1 of {frames}"


def pillow_cause(error: ImportError) -> BaseException:
    """What Pillow said about a file when ``Image.open`` raised ``error``: ultralytics wraps Image.open and, when
    Pillow cannot identify a file, imports an optional HEIF plug-in that may be absent; the file is what is wrong,
    as Pillow's own error (the ImportError's context) says."""
    return error.__context__ if isinstance(error.__context__, UnidentifiedImageError) else error


def load_normalized(
    path: str | Path, data: bytes | None = None, upright: bool = True, options: ImageOptions | None = None
) -> tuple[np.ndarray, str]:
    """Read ``path`` (or ``data``, the content of the file ``path`` names, e.g. an archive member) and normalise it
    within ``options`` (default :class:`ImageOptions`); raise :class:`ImageFileError` naming the file if that is
    impossible. The mode returned notes the frame taken of a file with several."""
    options = options or ImageOptions()
    pillow_limit = Image.MAX_IMAGE_PIXELS
    try:
        # Pillow's global limit, for this read (datasets are prepared one file at a time): off while opening, as
        # _check_pixels names the file, then at max_pixels for the checks inside decoders (Pillow refuses above
        # twice its setting and only warns above it).
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # Pillow's, from half our limit
            with Image.open(io.BytesIO(data) if data is not None else Path(path)) as im:
                _check_pixels(path, im, options)
                Image.MAX_IMAGE_PIXELS = (options.max_pixels + 1) // 2
                note = _frame_note(path, im, options)
                im.load()  # decode now, so truncated data fails here and not later
                image, mode = normalize_image(im, upright)
                return image, mode + note
    except ImageFileError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageFileError(
            f"cannot use image {path}: {exc}; if the file is genuine, raise {options.setting}.max_pixels "
            f"(now {options.max_pixels:,})"
        ) from exc
    except ImportError as exc:
        raise ImageFileError(
            f"cannot use image {path}: {pillow_cause(exc)}. Replace or remove the file (it may be truncated or "
            "corrupt)."
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageFileError(
            f"cannot use image {path}: {exc}. Replace or remove the file (it may be truncated or corrupt)."
        ) from exc
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
