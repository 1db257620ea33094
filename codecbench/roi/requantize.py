"""Region-of-interest JPEG: the background's DCT coefficients requantised coarser, in one standard baseline file.

A JPEG component has a single quantisation table for all its blocks, so the file keeps the tables of ``quality``
(every decoder reads it unchanged) and the background is made coarser in the coefficients themselves: a block whose
footprint holds no mask pixel has each stored integer ``c`` (in units of the file's step ``q_f``) rounded to a
multiple of ``k = max(1, round(q_b / q_f))`` (ties of ``c / k`` towards zero, see :func:`_requantised`), ``q_b``
being the step libjpeg uses at ``background_quality``.

Why ``k * round(c / k)`` and not ``round(c * q_f / q_b) * q_b / q_f``: the decoder multiplies the stored integer
by ``q_f``, so only multiples of ``q_f`` can be reconstructed; the latter is an integer only when ``q_f`` divides
``q_b``, and rounding it again gives uneven steps. ``k * q_f`` is the representable step nearest ``q_b``. Two honest
costs follow (both measured in the tests): the background's effective step is ``k * q_f``, within ``q_f / 2`` of
``q_b``, and it is a requantisation of already rounded values (double rounding, slightly worse than quantising the
DCT at ``q_b``); and a nonzero background coefficient is stored as ``m * k``, not ``m``, so it costs about
``log2(k)`` more amplitude bits than in a true ``background_quality`` file. Zeros, which dominate a coarse
background, cost the same; the file is then entropy coded again by jpeglib's libjpeg, with libjpeg's standard
Huffman tables or, with ``optimize`` (as the plain codec's own option), optimised ones (``OPTIMIZE_CODING``, what
``jpegtran -optimize`` does), so that a variant and its plain codec differ in the background's coefficients only.

A block "outside the mask" is judged per component at its own resolution: a 4:2:0 chroma block covers 16 x 16
pixels, so a chroma block next to the region is requantised only if none of its 256 pixels is in the mask. Decoders
that upsample chroma smoothly (libjpeg's "fancy" upsampling, ffmpeg's scaler) blend neighbouring chroma samples,
so the mask's pixels on its very edge (one pixel wide) can change slightly although all their blocks are untouched.

libjpeg errors: jpeglib 1.0.2's compiled library replaces libjpeg's ``exit()`` with a C++ exception that surfaces
as ``OSError`` (its docs still warn that libjpeg may exit the program). Our calls cannot raise it: the source file
is Pillow's own output, and requantised coefficients are kept within baseline range (|coefficient| <= 1023, so DC
differences fit their 11 bits; see :func:`_requantised`), the one error that depends on the data we write.
(A failed jpeglib call would also leave its copy of the file in the system's temporary folder: jpeglib keeps its
own ``NamedTemporaryFile(delete=False)`` and deletes it only on success.)
"""

from __future__ import annotations

import io
import tempfile
import threading
from pathlib import Path

import numpy as np

_JPEGLIB_LOCK = threading.Lock()

# Chroma block footprint in pixels (rows, columns) per Pillow subsampling; a luma block is always 8 x 8.
CHROMA_FOOTPRINT = {"4:4:4": (8, 8), "4:2:2": (8, 16), "4:2:0": (16, 16)}
SUBSAMPLINGS = tuple(CHROMA_FOOTPRINT)

# ITU-T T.81 Annex K tables K.1 (luminance) and K.2 (chrominance), natural (row-major) order.
ANNEX_K_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int64,
)
ANNEX_K_CHROMA = np.array(
    [
        [17, 18, 24, 47, 99, 99, 99, 99],
        [18, 21, 26, 66, 99, 99, 99, 99],
        [24, 26, 56, 99, 99, 99, 99, 99],
        [47, 66, 99, 99, 99, 99, 99, 99],
        *[[99] * 8] * 4,
    ],
    dtype=np.int64,
)
_MAX_COEFFICIENT = 1023  # baseline: AC amplitudes have at most 10 bits; DC within +-1023 keeps differences in 11


def standard_quant_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """The (luma, chroma) 8 x 8 quantisation steps libjpeg's ``jpeg_set_quality(quality, force_baseline=TRUE)``
    writes, in natural order: the Annex K tables scaled by IJG's rule (``5000 / q`` below 50, ``200 - 2q`` from
    50), rounded as libjpeg does (``(t * scale + 50) // 100``) and clamped to 1..255 (baseline 8-bit tables)."""
    quality = _checked_quality(quality, "quality")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(np.clip((table * scale + 50) // 100, 1, 255) for table in (ANNEX_K_LUMA, ANNEX_K_CHROMA))


def background_requantized_jpeg(
    image: np.ndarray,
    mask: np.ndarray,
    quality: int,
    background_quality: int,
    subsampling: str = "4:2:0",
    optimize: bool = False,
) -> bytes:
    """A baseline JPEG of ``image`` at ``quality`` whose blocks outside ``mask`` are requantised to about the steps
    of ``background_quality`` (see the module's docstring for the method and its costs). ``mask``: bool H x W, True
    = region of interest; ``background_quality`` must not exceed ``quality`` (it is the coarser one). Returns the
    file's bytes; an all-True mask gives exactly Pillow's coefficients at ``quality``. ``optimize``: optimised
    Huffman tables (as Pillow's ``optimize``), else libjpeg's standard ones, as the plain file it is compared with
    has them."""
    import jpeglib
    from PIL import Image

    image, mask = _checked_image_mask(image, mask)
    quality = _checked_quality(quality, "quality")
    background_quality = _checked_quality(background_quality, "background_quality")
    if background_quality > quality:
        raise ValueError(
            f"background_quality {background_quality} is finer than quality {quality}: it must be <= quality"
        )
    _checked_subsampling(subsampling)

    plain = io.BytesIO()
    Image.fromarray(image, "RGB").save(plain, "JPEG", quality=quality, subsampling=subsampling)
    luma_b, chroma_b = standard_quant_tables(background_quality)
    # jpeglib keeps a file's marker data in C globals: one call at a time in a process (a job codes in threads).
    with _JPEGLIB_LOCK, tempfile.TemporaryDirectory(prefix="codecbench-roi-") as folder:
        source, target = Path(folder) / "plain.jpg", Path(folder) / "roi.jpg"
        source.write_bytes(plain.getvalue())
        jpeg = jpeglib.read_dct(str(source))
        for index, name in enumerate(("Y", "Cb", "Cr")):
            coefficients = getattr(jpeg, name)
            rows, columns = (8, 8) if index == 0 else CHROMA_FOOTPRINT[subsampling]
            background = _background_blocks(mask, rows, columns)
            if background.shape != coefficients.shape[:2]:
                raise RuntimeError(f"{name}: {coefficients.shape[:2]} blocks where {background.shape} were expected")
            step_file = jpeg.get_component_qt(index).astype(np.int64)
            step_background = luma_b if index == 0 else chroma_b
            factor = np.maximum(1, np.floor(step_background / step_file + 0.5).astype(np.int64))
            setattr(jpeg, name, _requantised(coefficients, background, factor))
        jpeg.markers = []  # libjpeg writes its own JFIF APP0; copying Pillow's would store it twice
        jpeg.write_dct(str(target), flags=["OPTIMIZE_CODING"] if optimize else [])
        data = target.read_bytes()
    if _frame_marker(data) != 0xC0:
        raise RuntimeError(f"jpeglib wrote frame marker {_frame_marker(data):#x}, not baseline SOF0 (0xc0)")
    return data


def background_block_fraction(mask: np.ndarray, subsampling: str = "4:2:0", component: str = "luma") -> float:
    """The fraction of a component's blocks that :func:`background_requantized_jpeg` requantises (no mask pixel in
    the block's footprint), for the record. ``component`` "luma" (8 x 8 pixels, the same for every subsampling) or
    "chroma" (the footprint ``subsampling`` gives, e.g. 16 x 16 for 4:2:0)."""
    mask = _checked_mask(mask)
    _checked_subsampling(subsampling)
    if component not in ("luma", "chroma"):
        raise ValueError(f"component must be 'luma' or 'chroma', not {component!r}")
    rows, columns = (8, 8) if component == "luma" else CHROMA_FOOTPRINT[subsampling]
    return float(_background_blocks(mask, rows, columns).mean())


def _background_blocks(mask: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Bool (block rows, block columns): True where a ``rows`` x ``columns`` footprint holds no mask pixel. The
    edge blocks' padding beyond the image counts as background."""
    height, width = mask.shape
    grid = (-(-height // rows), -(-width // columns))
    padded = np.zeros((grid[0] * rows, grid[1] * columns), dtype=bool)
    padded[:height, :width] = mask
    return ~padded.reshape(grid[0], rows, grid[1], columns).any(axis=(1, 3))


def _requantised(coefficients: np.ndarray, background: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``coefficients`` (blocks, blocks, 8, 8) with the ``background`` blocks rounded to multiples of ``factor``
    (8 x 8), ties towards zero. Ties are common here (an odd value with an even factor), unlike in libjpeg's
    quantiser of raw DCT values: the raw value behind a tie lies evenly on both sides, and coefficients' peaked
    (Laplacian) distribution puts more of it nearer zero, so towards zero is the likelier level and the cheaper
    (rounding 1 to 2 with factor 2 would turn the commonest nonzero into a dearer one, not into zero). A value
    that rounding would push past the baseline limit (possible only with fine file steps, e.g. a black block's DC
    at quality 100) is rounded towards zero instead, so the writer never meets an out-of-range coefficient."""
    out = coefficients.copy()
    values = coefficients[background].astype(np.int64)
    magnitude = np.abs(values)
    rounded = (magnitude + (factor - 1) // 2) // factor * factor
    rounded = np.where(rounded > _MAX_COEFFICIENT, magnitude // factor * factor, rounded)
    out[background] = (np.sign(values) * rounded).astype(coefficients.dtype)
    return out


def _frame_marker(data: bytes) -> int | None:
    """The SOFn marker byte of a JPEG (0xc0 = baseline), walking the marker segments before the first scan."""
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        if marker == 0xDA:
            return None
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def _checked_quality(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= value <= 100:
        raise ValueError(f"{name} must be an integer in 1..100, not {value!r}")
    return int(value)


def _checked_subsampling(subsampling: str) -> None:
    if subsampling not in CHROMA_FOOTPRINT:
        raise ValueError(f"subsampling must be one of {SUBSAMPLINGS}, not {subsampling!r}")


def _checked_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.ndim != 2 or 0 in mask.shape:
        raise ValueError(f"mask must be a non-empty 2-D bool array, not {mask.dtype} of shape {mask.shape}")
    return mask


def _checked_image_mask(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(f"image must be a uint8 H x W x 3 RGB array, not {image.dtype} of shape {image.shape}")
    mask = _checked_mask(mask)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask has shape {mask.shape}, the image {image.shape[:2]}: they must match")
    return np.ascontiguousarray(image), mask
