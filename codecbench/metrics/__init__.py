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
           instead: the two differ by ~2e-4 there, agree to 1e-5 when sides divide by 16). Needs both sides > 160 px;
           ``nan`` for smaller images.
vmaf       VMAF (Netflix; model vmaf_v0.6.1) by ffmpeg's libvmaf, per frame of each clip of a *video* dataset
           (:mod:`codecbench.vmaf`: both clips converted to Y'CbCr by the codecs' BT.601 full-range matrix). Its
           motion feature compares consecutive frames, so it is computed per clip, not per image; image datasets
           get ``nan``, and so do clips under 32 px a side.
vif        pixel-domain VIF (VIFp) of Sheikh & Bovik 2006 by ``piq.vif_p`` on luma, sigma_n^2 = 2, four scales:
           the authors' ``vifp_mscale.m``. Needs both sides >= 41 px; ``nan`` for smaller images.
=========  ===================================================================================================

SSIM, MS-SSIM and VIF are computed in float32 (differences to float64 are below 1e-5). Heavy libraries (torch)
are imported only when a metric that needs them runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..io import check_rgb

Metric = Callable[[np.ndarray, np.ndarray], float]
METRICS: dict[str, Metric] = {}
MS_SSIM_MIN_SIDE = 161
VIF_MIN_SIDE = 41


def register_metric(name: str) -> Callable[[Metric], Metric]:
    def decorator(func: Metric) -> Metric:
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        METRICS[name] = func
        return func

    return decorator


def _checked(reference: np.ndarray, decoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    check_rgb(reference)
    check_rgb(decoded)
    if reference.shape != decoded.shape:
        raise ValueError(f"reference {reference.shape} and decoded {decoded.shape} differ in shape")
    return reference.astype(np.float64), decoded.astype(np.float64)


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 full-range luma of an RGB array, as float64."""
    return image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


@register_metric("mse")
def mse(reference: np.ndarray, decoded: np.ndarray) -> float:
    ref, dec = _checked(reference, decoded)
    return float(np.mean((ref - dec) ** 2))


@register_metric("mae")
def mae(reference: np.ndarray, decoded: np.ndarray) -> float:
    ref, dec = _checked(reference, decoded)
    return float(np.mean(np.abs(ref - dec)))


@register_metric("psnr_rgb")
def psnr_rgb(reference: np.ndarray, decoded: np.ndarray) -> float:
    return psnr_from_mse(mse(reference, decoded))


@register_metric("psnr_y")
def psnr_y(reference: np.ndarray, decoded: np.ndarray) -> float:
    _checked(reference, decoded)
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
    _checked(reference, decoded)
    return _as_tensor(reference), _as_tensor(decoded)


@register_metric("ssim")
def ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    from pytorch_msssim import ssim as _ssim

    x, y = _torch_pair(reference, decoded)
    return float(_ssim(x, y, data_range=255.0, size_average=True))


@register_metric("ms_ssim")
def ms_ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    if min(reference.shape[:2]) < MS_SSIM_MIN_SIDE:
        return math.nan
    from pytorch_msssim import ms_ssim as _ms_ssim

    x, y = _torch_pair(reference, decoded)
    return float(_ms_ssim(x, y, data_range=255.0, size_average=True))


@register_metric("vif")
def vif(reference: np.ndarray, decoded: np.ndarray) -> float:
    if min(reference.shape[:2]) < VIF_MIN_SIDE:
        return math.nan
    import piq

    x, y = _torch_pair(reference, decoded)
    return float(piq.vif_p(y, x, sigma_n_sq=2.0, data_range=255.0))


def _vmaf(reference: list[np.ndarray], decoded: list[np.ndarray], fps: float) -> np.ndarray:
    from ..vmaf import vmaf_per_frame

    return vmaf_per_frame(reference, decoded, fps)


# Metrics of whole clips (reference frames, decoded frames, fps) -> one value per frame; nan for frames under
# SEQUENCE_METRIC_MIN_SIDE (VMAF's four scales; libvmaf fails on 16x16 frames).
SEQUENCE_METRIC_MIN_SIDE = 32
SEQUENCE_METRICS: dict[str, Callable[[list[np.ndarray], list[np.ndarray], float], np.ndarray]] = {"vmaf": _vmaf}


def compute_metrics(reference: np.ndarray, decoded: np.ndarray, names: list[str]) -> dict[str, float]:
    """Every metric in ``names`` for one image pair."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown} (known: {', '.join(sorted(METRICS))})")
    return {name: METRICS[name](reference, decoded) for name in names}


__all__ = [
    "METRICS",
    "SEQUENCE_METRICS",
    "SEQUENCE_METRIC_MIN_SIDE",
    "compute_metrics",
    "limit_threads",
    "luma",
    "psnr_from_mse",
    "register_metric",
]
