"""Background pre-filtering: simplify the image outside the region of interest before any codec sees it.

This is the universal ROI baseline: every image or video codec spends fewer bits on a blurred or downscaled
background without knowing about the mask. The mask's pixels are returned exactly as they were; outside it the
filtered image is blended in over a short feathered ramp (``feather`` pixels), because a hard step from sharp to
smooth is itself an edge that a codec must pay for and that rings.
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("blur", "downscale")


def prefiltered(
    image: np.ndarray, mask: np.ndarray, method: str = "blur", strength: float = 3.0, feather: int = 3
) -> np.ndarray:
    """``image`` (uint8 H x W x 3) with its background (``mask`` False) simplified; the mask's pixels unchanged.

    ``method`` "blur": a Gaussian of sigma ``strength`` pixels, per channel (mirror-reflected at the borders);
    "downscale": the image reduced by the factor ``strength`` (box filter: each small pixel the mean of the area it
    covers) and enlarged back bicubically, which keeps ``1 / strength**2`` of the samples. The whole image is
    filtered, so the background next to the region blends in some of its colours; a background pixel at distance
    ``d`` (Euclidean) from the mask takes ``min(1, d / (feather + 1))`` of the filtered image, the rest of the
    original (``feather`` 0: a hard edge). Returns a new uint8 array."""
    from scipy import ndimage

    image, mask = _checked(image, mask)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if isinstance(strength, bool) or not isinstance(strength, int | float | np.number) or not math.isfinite(strength):
        raise ValueError(f"strength must be a finite number, not {strength!r}")
    least = 1 if method == "downscale" else 0
    if strength <= 0 or strength < least:
        raise ValueError(f"strength ({method}) must be {'>= 1' if least else '> 0'}, not {strength!r}")
    if isinstance(feather, bool) or not isinstance(feather, int | np.integer) or feather < 0:
        raise ValueError(f"feather must be an integer >= 0 (pixels), not {feather!r}")

    if mask.all():
        return image.copy()
    original = image.astype(np.float64)
    if method == "blur":
        filtered = ndimage.gaussian_filter(original, sigma=(strength, strength, 0), mode="reflect")
    else:
        filtered = _down_up(image, float(strength)).astype(np.float64)
    if mask.any():
        weight = np.minimum(1.0, ndimage.distance_transform_edt(~mask) / (feather + 1))[:, :, None]
    else:
        weight = np.ones((*mask.shape, 1))
    out = np.clip(np.rint(weight * filtered + (1 - weight) * original), 0, 255).astype(np.uint8)
    out[mask] = image[mask]  # exact by construction (weight 0); kept explicit
    return out


def _down_up(image: np.ndarray, factor: float) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    picture = Image.fromarray(image, "RGB")
    small = picture.resize((max(1, round(width / factor)), max(1, round(height / factor))), Image.Resampling.BOX)
    return np.asarray(small.resize((width, height), Image.Resampling.BICUBIC))


def _checked(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image, mask = np.asarray(image), np.asarray(mask)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(f"image must be a uint8 H x W x 3 RGB array, not {image.dtype} of shape {image.shape}")
    if mask.dtype != bool or mask.shape != image.shape[:2]:
        raise ValueError(
            f"mask must be a bool array of the image's shape {image.shape[:2]}, not {mask.dtype} {mask.shape}"
        )
    return image, mask
