"""A saliency map that needs no trained weights: the spectral residual (Hou & Zhang, CVPR 2007).

Natural images share a smooth log amplitude spectrum; what departs from it (the "residual") is what stands out.
The recipe follows the paper's own MATLAB listing: a grey image resized to 64 pixels wide (here: ``side`` on its
longer side, so portrait images are treated alike), ``A = log |F|`` and ``P = angle F`` of its 2-D DFT (amplitudes
floored at that of 8-bit rounding noise, see the code), the residual ``R = A - h3 * A`` with ``h3`` the 3 x 3 mean
filter (edge-replicating borders), ``S = |F^-1 exp(R + iP)|^2``, smoothed by a Gaussian of sigma 2.5 at 64 px
(zero-padded borders, as MATLAB's ``imfilter``; an odd 11 x 11 support where the listing's ``fspecial([10, 10],
2.5)`` is even and shifts the map by half a pixel) and scaled to [0, 1]. It is a bottom-up cue for small salient
objects, not an object detector: large uniform objects light up at their edges. OpenCV's ``cv2.saliency``
(contrib) implements the same method but is not installed.
"""

from __future__ import annotations

import math

import numpy as np

SMOOTHING_SIGMA_AT_64 = 2.5  # the paper's Gaussian, in pixels of the 64-px map
_GREY = np.array([0.2989, 0.5870, 0.1140])  # MATLAB rgb2gray (ITU-R BT.601 luma)


def spectral_residual(image: np.ndarray, side: int = 64) -> np.ndarray:
    """The spectral-residual saliency of ``image`` (uint8 H x W x 3 RGB, or H x W grey) as float32 H x W in [0, 1]:
    computed at ``side`` pixels on the longer side, enlarged back bilinearly and min-max normalised. A flat image
    has no salient part: all zeros. Deterministic (NumPy's FFT, no randomness)."""
    from PIL import Image
    from scipy import ndimage

    image = np.asarray(image)
    if (
        image.dtype != np.uint8
        or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3))
        or 0 in image.shape
    ):
        raise ValueError(f"image must be uint8 H x W x 3 RGB or H x W grey, not {image.dtype} of shape {image.shape}")
    if isinstance(side, bool) or not isinstance(side, int | np.integer) or side < 8:
        raise ValueError(f"side must be an integer >= 8 (pixels), not {side!r}")
    height, width = image.shape[:2]
    grey = (image.astype(np.float64) @ _GREY if image.ndim == 3 else image.astype(np.float64)) / 255
    if np.ptp(grey) == 0:
        return np.zeros((height, width), dtype=np.float32)

    scale = side / max(height, width)
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(Image.fromarray(grey.astype(np.float32), "F").resize(small_size, Image.Resampling.BICUBIC))
    spectrum = np.fft.fft2(small.astype(np.float64))
    # Amplitudes are floored at that of 8-bit rounding noise (white, variance 1/12 level^2): a bin below it holds
    # nothing the image's levels resolve. Without it, synthetic images (flat areas, sharp boxes), whose spectra have
    # many exact or near zeros, give a residual made of those zeros' logarithms rather than of the image.
    floor = math.sqrt(small.size / 12) / 255
    log_amplitude = np.log(np.maximum(np.abs(spectrum), floor))
    residual = log_amplitude - ndimage.uniform_filter(log_amplitude, size=3, mode="nearest")
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sigma = SMOOTHING_SIGMA_AT_64 * side / 64
    saliency = ndimage.gaussian_filter(saliency, sigma, mode="constant", truncate=2.0)
    saliency = _normalised(saliency)
    enlarged = Image.fromarray(saliency.astype(np.float32), "F").resize((width, height), Image.Resampling.BILINEAR)
    return _normalised(np.asarray(enlarged, dtype=np.float64)).astype(np.float32)


def saliency_mask(saliency: np.ndarray, coverage: float) -> np.ndarray:
    """The ``coverage`` fraction (0..1) of pixels with the highest ``saliency`` (2-D) as a bool mask: exactly
    ``round(coverage * pixels)`` of them (halves up), ties broken in raster order (the earlier pixel wins), so the
    mask is reproducible even on flat maps."""
    saliency = np.asarray(saliency)
    if saliency.ndim != 2 or 0 in saliency.shape or not np.issubdtype(saliency.dtype, np.number):
        raise ValueError(f"saliency must be a non-empty 2-D numeric array, not {saliency.dtype} {saliency.shape}")
    if not np.isfinite(saliency).all():
        raise ValueError("saliency must be finite (no NaN or infinity)")
    if isinstance(coverage, bool) or not isinstance(coverage, int | float | np.number) or not 0 <= coverage <= 1:
        raise ValueError(f"coverage must be a number in 0..1, not {coverage!r}")
    count = math.floor(float(coverage) * saliency.size + 0.5)
    order = np.argsort(-saliency.ravel().astype(np.float64), kind="stable")
    mask = np.zeros(saliency.size, dtype=bool)
    mask[order[:count]] = True
    return mask.reshape(saliency.shape)


def _normalised(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0, 1)
