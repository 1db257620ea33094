"""Equal-rate comparisons: per image, the quality setting whose rate is closest to a target bpp.

For codecs with one scalar integer knob. Bisection over the knob assumes the rate is monotone in it (true for
every codec here in practice); it finds the two neighbouring settings whose rates straddle the target and keeps
the closer one. Tie-break, documented: on equal distance the lower rate wins (never spend more bits for
nothing). If the target lies outside the rates the knob can reach, the nearest end of the range is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..codecs import Codec, bits_per_pixel, get_codec_class, make_codec


@dataclass(frozen=True)
class RatePoint:
    quality: int
    data: bytes
    bpp: float


def find_quality_for_bpp(codec_name: str, options: dict, image: np.ndarray, target_bpp: float) -> RatePoint:
    """The setting of ``codec_name``'s knob whose bpp on ``image`` is closest to ``target_bpp``, and its bytes."""
    cls = get_codec_class(codec_name)
    if cls.quality_type is not int:
        raise ValueError(f"codec {codec_name!r}: target-bpp search needs an integer quality knob")
    height, width = image.shape[:2]
    cache: dict[int, RatePoint] = {}

    def probe(quality: int) -> RatePoint:
        if quality not in cache:
            codec: Codec = make_codec(codec_name, quality, options)
            data = codec.encode(image)
            cache[quality] = RatePoint(quality, data, bits_per_pixel(len(data), width, height))
        return cache[quality]

    # Orient the knob so that rate increases with it: lo -> fewest bits, hi -> most bits.
    lo, hi = int(cls.quality_min), int(cls.quality_max)
    step = 1 if cls.higher_is_better else -1
    cheapest, dearest = (lo, hi) if step == 1 else (hi, lo)
    if probe(cheapest).bpp >= target_bpp:
        return probe(cheapest)
    if probe(dearest).bpp <= target_bpp:
        return probe(dearest)
    below, above = cheapest, dearest  # invariant: bpp(below) < target < bpp(above)
    while abs(above - below) > 1:
        middle = (below + above) // 2
        if probe(middle).bpp < target_bpp:
            below = middle
        else:
            above = middle
    low, high = probe(below), probe(above)
    return low if abs(low.bpp - target_bpp) <= abs(high.bpp - target_bpp) else high
