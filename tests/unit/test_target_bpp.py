"""Target-bpp search: lands on the setting nearest the target, checked against a brute-force sweep."""

from __future__ import annotations

import pytest

from codecbench.codecs import make_codec
from codecbench.stages.compress import bits_per_pixel
from codecbench.stages.target_bpp import find_quality_for_bpp


def all_rates(name, image, qualities, options=None):
    height, width = image.shape[:2]
    return {q: bits_per_pixel(len(make_codec(name, q, options).encode(image)), width, height) for q in qualities}


@pytest.mark.parametrize("target", [0.3, 0.8, 1.5])
def test_jpeg_search_matches_a_brute_force_sweep(photo, target):
    rates = all_rates("jpeg", photo, range(1, 101))
    best = min(rates, key=lambda q: (abs(rates[q] - target), rates[q]))
    found = find_quality_for_bpp("jpeg", {}, photo, target)
    assert found.quality == best
    assert found.bpp == pytest.approx(rates[best])


def test_lower_is_better_knobs_are_searched_the_right_way(photo):
    options = {"preset": "ultrafast", "pix_fmt": "yuv420p"}
    found = find_quality_for_bpp("h264", options, photo, 0.5)
    neighbours = all_rates("h264", photo, [found.quality - 1, found.quality + 1], options)
    # within one step: no neighbouring CRF is closer to the target
    assert all(abs(found.bpp - 0.5) <= abs(rate - 0.5) for rate in neighbours.values())


def test_unreachable_targets_clamp_to_the_ends_of_the_range(photo):
    assert find_quality_for_bpp("jpeg", {}, photo, 0.001).quality == 1
    assert find_quality_for_bpp("jpeg", {}, photo, 100.0).quality == 100


def test_returned_bytes_are_the_encoding_at_that_quality(photo):
    found = find_quality_for_bpp("webp", {}, photo, 0.6)
    assert found.data == make_codec("webp", found.quality).encode(photo)
