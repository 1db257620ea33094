"""Learned image codecs: which architectures exist, what their quality knob means, and their errors.

This package's ``__init__`` holds plain tables only and imports neither torch nor CompressAI, so that the codec
registry (:mod:`codecbench.codecs.learned`) can declare quality ranges without paying for those imports. The
models, weights and checkpoints live in :mod:`codecbench.learned.models`.
"""

from __future__ import annotations

from dataclasses import dataclass

METRICS = ("mse", "ms-ssim")  # the distortion the zoo's pretrained weights were optimised for


@dataclass(frozen=True)
class Architecture:
    name: str
    quality_min: int
    quality_max: int
    quality_doc: str
    reference: str
    metrics: tuple[str, ...] = METRICS


_ZOO_QUALITY = (
    "CompressAI zoo quality index {lo}..{hi}: one pretrained model per rate-distortion trade-off, {lo} = fewest bits"
)

# The six image models of CompressAI's zoo with pretrained weights for both metrics (compressai.zoo.image).
ZOO_ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture("bmshj2018-factorized", 1, 8, _ZOO_QUALITY.format(lo=1, hi=8), "Balle et al. 2018, ICLR"),
        Architecture("bmshj2018-hyperprior", 1, 8, _ZOO_QUALITY.format(lo=1, hi=8), "Balle et al. 2018, ICLR"),
        Architecture("mbt2018-mean", 1, 8, _ZOO_QUALITY.format(lo=1, hi=8), "Minnen et al. 2018, NeurIPS"),
        Architecture("mbt2018", 1, 8, _ZOO_QUALITY.format(lo=1, hi=8), "Minnen et al. 2018, NeurIPS"),
        Architecture("cheng2020-anchor", 1, 6, _ZOO_QUALITY.format(lo=1, hi=6), "Cheng et al. 2020, CVPR"),
        Architecture("cheng2020-attn", 1, 6, _ZOO_QUALITY.format(lo=1, hi=6), "Cheng et al. 2020, CVPR"),
    )
}

CAE = "cae"
# Compressive autoencoder model-size presets: quality -> (N hidden channels, M latent channels). The rate of a
# trained CAE is set by its training trade-off (lambda), not by this knob; the knob only sizes the network.
CAE_PRESETS: dict[int, tuple[int, int]] = {1: (32, 24), 2: (48, 36), 3: (64, 48), 4: (96, 72)}

ARCHITECTURES: dict[str, Architecture] = {
    **ZOO_ARCHITECTURES,
    CAE: Architecture(
        CAE,
        1,
        4,
        "model size preset 1..4 (hidden/latent channels 32/24, 48/36, 64/48, 96/72); the rate comes from the "
        "checkpoint's training, so with a checkpoint the quality is only a label",
        "Theis et al. 2017, ICLR (compressive autoencoder)",
    ),
}


def architecture_info(name: str) -> Architecture:
    """The table entry of ``name``; a ValueError lists the known architectures."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown learned-codec architecture {name!r} (known: {', '.join(ARCHITECTURES)})") from None


# Imported last: loading codecbench.codecs registers the learned codecs, which read the tables above.
from ..codecs.base import LearnedCodecError  # noqa: E402

__all__ = [
    "ARCHITECTURES",
    "CAE",
    "CAE_PRESETS",
    "METRICS",
    "ZOO_ARCHITECTURES",
    "Architecture",
    "LearnedCodecError",
    "architecture_info",
]
