"""Full-reference quality metrics, one pinned implementation each, behind one registry.

Every metric takes the reference and the decoded image as uint8 HxWx3 RGB arrays and returns a float.

Each metric's definition and implementation, and why its minimum side (:data:`MIN_SIDE`, of the shorter side, in
pixels) is what it is, are the ``notes`` of its registration below, which docs/metrics.md shows (``make docs``).
A metric is ``nan`` for images under its minimum side, without an error or a warning.

SSIM, MS-SSIM and VIF are computed in float32 (differences to float64 are below 1e-5). Heavy libraries (torch)
are imported only when a metric that needs them runs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..io import check_rgb

PairFunction = Callable[[np.ndarray, np.ndarray], float]
ClipFunction = Callable[[list[np.ndarray], list[np.ndarray], float], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A quality metric's facts, declared once where it is registered; the config schema (its names, the default
    list, the BD-rate metrics), the figures' axis labels and CompressAI's JSON keys are read from here.

    ``per_clip`` metrics score whole clips of a video dataset (reference frames, decoded frames, fps -> one value
    per frame) and are ``nan`` on image datasets. ``rate_quality`` metrics (higher is better, per image) get
    rate-quality and spread figures and BD-rates. ``notes`` (optional, Markdown): its definition and
    implementation, and why its minimum side is what it is, as docs/metrics.md shows them."""

    name: str
    function: PairFunction | ClipFunction
    label: str
    higher_is_better: bool = True
    compressai_key: str | None = None
    min_side: int = 1
    per_clip: bool = False
    default: bool = True
    notes: str = ""

    @property
    def rate_quality(self) -> bool:
        return self.higher_is_better and not self.per_clip


REGISTRY: dict[str, Metric] = {}  # in registration order: the order of the default list and of the figures
# Views of the registry that the quality stage calls: pair metrics (checked, nan under their minimum side) and
# clip metrics, and every metric's minimum shorter side in pixels.
METRICS: dict[str, PairFunction] = {}
SEQUENCE_METRICS: dict[str, ClipFunction] = {}
MIN_SIDE: dict[str, int] = {}
SSIM_MIN_SIDE = 11  # the 11x11 Gaussian window
MS_SSIM_MIN_SIDE = 161  # the window after four 2x downsamplings (pytorch_msssim asserts > 160)
VIF_MIN_SIDE = 41  # piq.vif_p's own limit
VMAF_MIN_SIDE = 32  # libvmaf fails at 16 px; see the module docstring


class MetricError(ValueError):
    """A metric failed on an image pair; the message names the metric (and, in a quality job, the dataset, codec,
    point and image)."""


def _add(metric: Metric) -> None:
    if metric.name in REGISTRY:
        raise ValueError(f"metric {metric.name!r} registered twice")
    if not metric.name.isidentifier() or metric.name in ("bpp", "bytes", "compression_ratio"):
        raise ValueError(f"metric name {metric.name!r}: use a Python identifier that is no rate column's name")
    REGISTRY[metric.name] = metric
    MIN_SIDE[metric.name] = metric.min_side


def register_metric(
    name: str,
    *,
    label: str,
    higher_is_better: bool = True,
    compressai_key: str | None = None,
    min_side: int = 1,
    default: bool = True,
    notes: str = "",
) -> Callable[[PairFunction], PairFunction]:
    """Register a metric of one image pair (reference, decoded: uint8 HxWx3 RGB arrays -> float) with its facts
    (see :class:`Metric`). The registered function checks the pair (both uint8 RGB, one shape) and gives ``nan``
    for images under ``min_side`` pixels a side, so ``func`` sees only pairs it can score. A module outside the
    package registers its metrics the same way and is named under ``plugins`` in the config."""

    def decorator(func: PairFunction) -> PairFunction:
        @functools.wraps(func)
        def metric(reference: np.ndarray, decoded: np.ndarray) -> float:
            _check_pair(reference, decoded)  # a bad pair is an error at any size
            return math.nan if min(reference.shape[:2]) < min_side else func(reference, decoded)

        _add(Metric(name, metric, label, higher_is_better, compressai_key, min_side, default=default, notes=notes))
        METRICS[name] = metric
        return metric

    return decorator


def register_clip_metric(
    name: str,
    *,
    label: str,
    higher_is_better: bool = True,
    min_side: int = 1,
    default: bool = False,
    notes: str = "",
) -> Callable[[ClipFunction], ClipFunction]:
    """Register a metric of whole clips (reference frames, decoded frames, fps -> one value per frame); the
    quality stage gives ``nan`` to clips under ``min_side`` and to image datasets."""

    def decorator(func: ClipFunction) -> ClipFunction:
        _add(Metric(name, func, label, higher_is_better, None, min_side, per_clip=True, default=default, notes=notes))
        SEQUENCE_METRICS[name] = func
        return func

    return decorator


def unregister_metric(name: str) -> None:
    """Remove a registered metric (tests that register their own)."""
    REGISTRY.pop(name)
    for view in (METRICS, SEQUENCE_METRICS, MIN_SIDE):
        view.pop(name, None)


def rate_quality_metrics(names: Iterable[str]) -> list[str]:
    """Of ``names``, the metrics drawn against rate and BD-rated (higher is better, per image), in registry order."""
    wanted = set(names)
    return [name for name, metric in REGISTRY.items() if metric.rate_quality and name in wanted]


def metric_label(name: str) -> str:
    """A metric's axis label (its unit included); other columns keep their name."""
    return REGISTRY[name].label if name in REGISTRY else name


def fill_schema(schema: dict) -> None:
    """The registry's part of the config schema: the metric names, the default list and the BD-rate metrics."""
    listed = schema["properties"]["metrics"]
    listed["items"] = {"enum": list(REGISTRY)}
    listed["default"] = [name for name, metric in REGISTRY.items() if metric.default]
    schema["properties"]["bd"]["properties"]["metrics"]["items"] = {"enum": rate_quality_metrics(REGISTRY)}


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


@register_metric(
    "psnr_rgb",
    label="PSNR-RGB (dB)",
    compressai_key="psnr-rgb",
    notes="`10 log10(255^2 / mse)` on RGB; **`inf` for identical images** (mse = 0: lossless codecs), never an "
    "error; written as `null` in JSON and left out of PSNR figures.",
)
def psnr_rgb(reference: np.ndarray, decoded: np.ndarray) -> float:
    return psnr_from_mse(mse(reference, decoded))


@register_metric(
    "psnr_y",
    label="PSNR-Y (dB)",
    compressai_key="psnr-y",
    notes="the same on BT.601 luma `Y = 0.299 R + 0.587 G + 0.114 B` (full range, unrounded float).",
)
def psnr_y(reference: np.ndarray, decoded: np.ndarray) -> float:
    return psnr_from_mse(float(np.mean((luma(reference) - luma(decoded)) ** 2)))


def limit_threads(threads: int) -> None:
    """Let torch (the metrics, learned codecs) use at most ``threads`` CPU threads: Snakemake runs several jobs
    side by side, and oversubscribed cores made the metric jobs 2.5x slower here. torch is not imported for it: a
    job whose codec and metrics need no torch never pays its import (OMP_NUM_THREADS sets its threads if it is)."""
    import os
    import sys

    threads = max(1, int(threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _as_tensor(image: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)


def _torch_pair(reference: np.ndarray, decoded: np.ndarray):
    # float32: float64 convolutions are 3-30x slower on CPU for differences below 1e-5.
    return _as_tensor(reference), _as_tensor(decoded)


@register_metric(
    "ssim",
    label="SSIM (RGB)",
    compressai_key="ssim-rgb",
    min_side=SSIM_MIN_SIDE,
    notes="""
        SSIM of Wang et al. 2004 by `pytorch_msssim.ssim`: 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, no
        downsampling, 'valid' borders, mean over R, G and B. Equals scikit-image's
        `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`. Minimum side: the
        window must fit (pytorch_msssim would skip the smoothing with a warning, and fails on 1 px).
    """,
)
def ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    from pytorch_msssim import ssim as _ssim

    x, y = _torch_pair(reference, decoded)
    return float(_ssim(x, y, data_range=255.0, size_average=True))


@register_metric(
    "ms_ssim",
    label="MS-SSIM (RGB)",
    compressai_key="ms-ssim-rgb",
    min_side=MS_SSIM_MIN_SIDE,
    notes="""
        MS-SSIM of Wang et al. 2003 by `pytorch_msssim.ms_ssim` (5 scales, the paper's weights) on RGB, as
        CompressAI reports it (`ms-ssim-rgb`). Odd sides are padded before each 2x downsampling (piq crops instead:
        the two differ by ~2e-4 there, agree to 1e-5 when sides divide by 16). Minimum side: the window after four
        2x downsamplings (pytorch_msssim asserts sides > 160).
    """,
)
def ms_ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    from pytorch_msssim import ms_ssim as _ms_ssim

    x, y = _torch_pair(reference, decoded)
    return float(_ms_ssim(x, y, data_range=255.0, size_average=True))


@register_metric(
    "vif",
    label="VIFp",
    compressai_key="vif",
    min_side=VIF_MIN_SIDE,
    notes="""
        pixel-domain VIF (VIFp) of Sheikh & Bovik 2006 by `piq.vif_p` on luma, sigma_n^2 = 2, four scales: the
        authors' `vifp_mscale.m`. Minimum side: piq's own limit for its four scales. The slowest metric (0.35 s per
        photo, 65% of the metric time): `config.yaml`'s `metrics:` list leaves it out, though it is computed when a
        config gives none.
    """,
)
def vif(reference: np.ndarray, decoded: np.ndarray) -> float:
    import piq

    x, y = _torch_pair(reference, decoded)
    return float(piq.vif_p(y, x, sigma_n_sq=2.0, data_range=255.0))


@register_metric(
    "mse",
    label="MSE (RGB, 8-bit)",
    higher_is_better=False,
    compressai_key="mse",
    notes="mean squared error over all pixels and the three RGB channels (numpy, float64).",
)
def mse(reference: np.ndarray, decoded: np.ndarray) -> float:
    return float(np.mean((reference.astype(np.float64) - decoded) ** 2))


@register_metric(
    "mae",
    label="MAE (RGB, 8-bit)",
    higher_is_better=False,
    compressai_key="mae",
    notes="mean absolute error over all pixels and the three RGB channels (numpy, float64).",
)
def mae(reference: np.ndarray, decoded: np.ndarray) -> float:
    return float(np.mean(np.abs(reference.astype(np.float64) - decoded)))


@register_clip_metric(
    "vmaf",
    label="VMAF (v0.6.1)",
    min_side=VMAF_MIN_SIDE,
    notes="""
        VMAF (Netflix; model `vmaf_v0.6.1`, built into the ffmpeg of imageio-ffmpeg) by libvmaf, per frame of each
        clip of a video dataset: its motion feature compares consecutive frames, so it is computed per clip, not per
        image, and image datasets get `nan`. Both clips go in as `yuv444p`, converted by the codecs' BT.601
        full-range matrix (`codecbench/metrics/vmaf.py`). Minimum side, per frame: libvmaf fails at 16 px and runs
        from 17, where its four scales, each half the last, have a pixel or two left; 32 keeps clear of that edge.
        The whole clip is `nan` when its frames are too small.
    """,
)
def vmaf(reference: list[np.ndarray], decoded: list[np.ndarray], fps: float) -> np.ndarray:
    from .vmaf import vmaf_per_frame

    return vmaf_per_frame(reference, decoded, fps)


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
    "REGISTRY",
    "SEQUENCE_METRICS",
    "Metric",
    "MetricError",
    "compute_metrics",
    "fill_schema",
    "limit_threads",
    "luma",
    "metric_label",
    "psnr_from_mse",
    "rate_quality_metrics",
    "register_clip_metric",
    "register_metric",
    "unregister_metric",
]
