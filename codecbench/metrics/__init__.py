"""Full-reference quality metrics, one pinned implementation each, behind one registry.

Every metric takes the reference and the decoded image as uint8 HxWx3 RGB arrays and returns a float.

=========  ===================================================================================================
name       definition and implementation
=========  ===================================================================================================
mse        mean squared error over all pixels and the three RGB channels (numpy, float64)
mae        mean absolute error, likewise
psnr_rgb   10 log10(255^2 / mse) on RGB; ``inf`` for identical images (mse = 0), never an error
psnr_y     the same on luma Y = 0.299 R + 0.587 G + 0.114 B (BT.601, full range, unrounded float)
ssim       SSIM of Wang et al. 2004 by ``pytorch_msssim.ssim``: 11x11 Gaussian window (sigma 1.5), K1 0.01,
           K2 0.03, no downsampling, 'valid' borders, mean over R, G and B. Equals scikit-image's
           ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
ms_ssim    MS-SSIM of Wang et al. 2003 by ``pytorch_msssim.ms_ssim`` (5 scales, the paper's weights), as
           CompressAI reports it ("ms-ssim-rgb"). Odd sides are padded before each 2x downsampling (piq crops
           instead: the two differ by ~2e-4 there, agree to 1e-5 when sides divide by 16).
vmaf       VMAF (Netflix; model vmaf_v0.6.1) by ffmpeg's libvmaf, per frame of each clip of a *video* dataset
           (:mod:`codecbench.vmaf`: both clips converted to Y'CbCr by the codecs' BT.601 full-range matrix). Its
           motion feature compares consecutive frames, so it is computed per clip, not per image; image datasets
           get ``nan``.
vif        pixel-domain VIF (VIFp) of Sheikh & Bovik 2006 by ``piq.vif_p`` on luma, sigma_n^2 = 2, four scales:
           the authors' ``vifp_mscale.m``.
=========  ===================================================================================================

Each metric has a minimum side (:data:`MIN_SIDE`, of the shorter side, in pixels) and is ``nan`` for smaller
images, without an error or a warning: mse, mae, psnr_rgb and psnr_y 1 (any image); ssim 11 (its 11x11 window
must fit: pytorch_msssim would skip the smoothing with a warning, and fails on 1 px); ms_ssim 161 (the window
after four 2x downsamplings: pytorch_msssim asserts sides > 160); vif 41 (piq's own limit for its four scales);
vmaf 32 (libvmaf fails at 16 px and runs from 17, where its four scales, each half the last, have a pixel or
two left: 32 keeps clear of that edge).

SSIM, MS-SSIM and VIF are computed in float32 (differences to float64 are below 1e-5). Heavy libraries (torch)
are imported only when a metric that needs them runs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from ..io import check_rgb

Metric = Callable[[np.ndarray, np.ndarray], float]
METRICS: dict[str, Metric] = {}
SSIM_MIN_SIDE = 11  # the 11x11 Gaussian window
MS_SSIM_MIN_SIDE = 161  # the window after four 2x downsamplings (pytorch_msssim asserts > 160)
VIF_MIN_SIDE = 41  # piq.vif_p's own limit
VMAF_MIN_SIDE = 32  # libvmaf fails at 16 px; see the module docstring
# The shorter side (pixels) below which each metric is nan; filled by register_metric, plus the clip metrics.
MIN_SIDE: dict[str, int] = {"vmaf": VMAF_MIN_SIDE}


class MetricError(ValueError):
    """A metric failed on an image pair; the message names the metric (and, in a quality job, the dataset, codec,
    point and image)."""


def register_metric(name: str, min_side: int = 1) -> Callable[[Metric], Metric]:
    """Register a metric of one image pair. The registered function checks the pair (both uint8 RGB, one shape)
    and gives ``nan`` for images under ``min_side`` pixels a side, so ``func`` sees only pairs it can score."""

    def decorator(func: Metric) -> Metric:
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")

        @functools.wraps(func)
        def metric(reference: np.ndarray, decoded: np.ndarray) -> float:
            _check_pair(reference, decoded)  # a bad pair is an error at any size
            return math.nan if min(reference.shape[:2]) < min_side else func(reference, decoded)

        METRICS[name], MIN_SIDE[name] = metric, min_side
        return metric

    return decorator


def _check_pair(reference: np.ndarray, decoded: np.ndarray) -> None:
    check_rgb(reference)
    check_rgb(decoded)
    if reference.shape != decoded.shape:
        raise ValueError(f"reference {reference.shape} and decoded {decoded.shape} differ in shape")


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 full-range luma of an RGB array, as float64."""
    return image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


@register_metric("mse")
def mse(reference: np.ndarray, decoded: np.ndarray) -> float:
    return float(np.mean((reference.astype(np.float64) - decoded) ** 2))


@register_metric("mae")
def mae(reference: np.ndarray, decoded: np.ndarray) -> float:
    return float(np.mean(np.abs(reference.astype(np.float64) - decoded)))


@register_metric("psnr_rgb")
def psnr_rgb(reference: np.ndarray, decoded: np.ndarray) -> float:
    return psnr_from_mse(mse(reference, decoded))


@register_metric("psnr_y")
def psnr_y(reference: np.ndarray, decoded: np.ndarray) -> float:
    return psnr_from_mse(float(np.mean((luma(reference) - luma(decoded)) ** 2)))


def limit_threads(threads: int) -> None:
    """Let torch's metrics use at most ``threads`` CPU threads: Snakemake runs several jobs side by side, and
    oversubscribed cores made the metric jobs 2.5x slower here."""
    import torch

    torch.set_num_threads(max(1, int(threads)))


def _as_tensor(image: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)


def _torch_pair(reference: np.ndarray, decoded: np.ndarray):
    # float32: float64 convolutions are 3-30x slower on CPU for differences below 1e-5.
    return _as_tensor(reference), _as_tensor(decoded)


@register_metric("ssim", min_side=SSIM_MIN_SIDE)
def ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    from pytorch_msssim import ssim as _ssim

    x, y = _torch_pair(reference, decoded)
    return float(_ssim(x, y, data_range=255.0, size_average=True))


@register_metric("ms_ssim", min_side=MS_SSIM_MIN_SIDE)
def ms_ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    from pytorch_msssim import ms_ssim as _ms_ssim

    x, y = _torch_pair(reference, decoded)
    return float(_ms_ssim(x, y, data_range=255.0, size_average=True))


@register_metric("vif", min_side=VIF_MIN_SIDE)
def vif(reference: np.ndarray, decoded: np.ndarray) -> float:
    import piq

    x, y = _torch_pair(reference, decoded)
    return float(piq.vif_p(y, x, sigma_n_sq=2.0, data_range=255.0))


def _vmaf(reference: list[np.ndarray], decoded: list[np.ndarray], fps: float) -> np.ndarray:
    from ..vmaf import vmaf_per_frame

    return vmaf_per_frame(reference, decoded, fps)


# Metrics of whole clips (reference frames, decoded frames, fps) -> one value per frame; the quality stage gives
# nan to clips under their MIN_SIDE.
SEQUENCE_METRICS: dict[str, Callable[[list[np.ndarray], list[np.ndarray], float], np.ndarray]] = {"vmaf": _vmaf}


def compute_metrics(
    reference: np.ndarray, decoded: np.ndarray, names: list[str], where: str | None = None
) -> dict[str, float]:
    """Every metric in ``names`` for one image pair; a failing metric raises :class:`MetricError` naming it and
    ``where`` (the dataset, codec, point and image), the library's exception as its cause."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown} (known: {', '.join(sorted(METRICS))})")
    values = {}
    for name in names:
        try:
            values[name] = METRICS[name](reference, decoded)
        except Exception as exc:
            raise MetricError(f"{name} of {where or 'an image pair'}: {type(exc).__name__}: {exc}") from exc
    return values


__all__ = [
    "METRICS",
    "MIN_SIDE",
    "SEQUENCE_METRICS",
    "MetricError",
    "compute_metrics",
    "limit_threads",
    "luma",
    "psnr_from_mse",
    "register_metric",
]
