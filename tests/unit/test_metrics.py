"""Metrics against hand-computed values and against independent implementations (never our own code)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import convolve2d

from codecbench.codecs import make_codec
from codecbench.metrics import METRICS, compute_metrics


@pytest.fixture(scope="module")
def pair(photo):
    codec = make_codec("jpeg", 20)
    return photo, codec.decode(codec.encode(photo))


def test_identical_images_have_infinite_psnr_and_perfect_scores(photo):
    values = compute_metrics(photo, photo, list(METRICS))
    assert values["psnr_rgb"] == math.inf and values["psnr_y"] == math.inf
    assert values["mse"] == 0.0 and values["mae"] == 0.0
    assert values["ssim"] == pytest.approx(1.0) and values["ms_ssim"] == pytest.approx(1.0)
    assert values["vif"] == pytest.approx(1.0, abs=1e-6)


def test_constant_offset_gives_hand_computed_values():
    reference = np.full((20, 30, 3), 100, np.uint8)
    decoded = reference + np.uint8(5)
    values = compute_metrics(reference, decoded, ["mse", "mae", "psnr_rgb", "psnr_y"])
    assert values["mse"] == 25.0 and values["mae"] == 5.0
    assert values["psnr_rgb"] == pytest.approx(10 * math.log10(255**2 / 25))  # 34.1514 dB
    assert values["psnr_y"] == pytest.approx(34.1514, abs=1e-4)


def test_psnr_y_uses_bt601_luma_weights():
    reference = np.zeros((8, 8, 3), np.uint8)
    decoded = reference.copy()
    decoded[..., 2] = 10  # blue only: Y moves by 0.114 * 10
    values = compute_metrics(reference, decoded, ["psnr_y", "mse"])
    assert values["psnr_y"] == pytest.approx(10 * math.log10(255**2 / 1.14**2))
    assert values["mse"] == pytest.approx(100 / 3)


def test_ssim_matches_scikit_image_gaussian_ssim(pair):
    from skimage.metrics import structural_similarity

    reference, decoded = pair
    expected = structural_similarity(
        reference, decoded, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255, channel_axis=2,
    )  # fmt: skip
    assert compute_metrics(reference, decoded, ["ssim"])["ssim"] == pytest.approx(expected, abs=2e-5)


def test_ms_ssim_matches_piq(pair):
    """With sides divisible by 2^4; at odd sides the two libraries pad (pytorch_msssim) or crop (piq) before downsampling."""
    import piq
    import torch

    reference, decoded = (np.ascontiguousarray(a[:256, :288]) for a in pair)  # sides divisible by 16
    to_tensor = lambda a: torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[None]  # noqa: E731
    expected = float(piq.multi_scale_ssim(to_tensor(decoded), to_tensor(reference), data_range=255.0))
    assert compute_metrics(reference, decoded, ["ms_ssim"])["ms_ssim"] == pytest.approx(expected, abs=2e-5)


def _gaussian(size: int, sigma: float) -> np.ndarray:
    axis = np.arange(size) - (size - 1) / 2
    kernel = np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * sigma**2))
    return kernel / kernel.sum()


def vifp_reference(reference: np.ndarray, distorted: np.ndarray, sigma_nsq: float = 2.0) -> float:
    """A line-by-line port of Sheikh & Bovik's vifp_mscale.m (LIVE), on BT.601 luma in 0..255."""

    def filt(win, image):  # MATLAB filter2(win, image, 'valid') (correlation; win is symmetric)
        return convolve2d(image, win[::-1, ::-1], mode="valid")

    weights = np.array([0.299, 0.587, 0.114])
    ref, dist = reference.astype(np.float64) @ weights, distorted.astype(np.float64) @ weights
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = _gaussian(n, n / 5)
        if scale > 1:
            ref, dist = filt(win, ref)[::2, ::2], filt(win, dist)[::2, ::2]
        mu1, mu2 = filt(win, ref), filt(win, dist)
        sigma1_sq = filt(win, ref * ref) - mu1 * mu1
        sigma2_sq = filt(win, dist * dist) - mu2 * mu2
        sigma12 = filt(win, ref * dist) - mu1 * mu2
        sigma1_sq[sigma1_sq < 0] = 0
        sigma2_sq[sigma2_sq < 0] = 0
        g = sigma12 / (sigma1_sq + 1e-10)
        sv_sq = sigma2_sq - g * sigma12
        small1 = sigma1_sq < 1e-10
        g[small1], sv_sq[small1], sigma1_sq[small1] = 0, sigma2_sq[small1], 0
        small2 = sigma2_sq < 1e-10
        g[small2], sv_sq[small2] = 0, 0
        negative = g < 0
        sv_sq[negative], g[negative] = sigma2_sq[negative], 0
        sv_sq[sv_sq <= 1e-10] = 1e-10
        num += np.sum(np.log10(1 + g**2 * sigma1_sq / (sv_sq + sigma_nsq)))
        den += np.sum(np.log10(1 + sigma1_sq / sigma_nsq))
    return num / den


def test_vif_matches_a_port_of_the_authors_matlab(pair):
    reference, decoded = pair
    expected = vifp_reference(reference, decoded)
    assert 0.2 < expected < 0.9
    assert compute_metrics(reference, decoded, ["vif"])["vif"] == pytest.approx(expected, rel=1e-4)


def test_vif_is_asymmetric_and_we_pass_the_reference_first(pair):
    reference, decoded = pair
    swapped = vifp_reference(decoded, reference)
    assert compute_metrics(reference, decoded, ["vif"])["vif"] != pytest.approx(swapped, rel=1e-3)


def test_small_images_give_nan_not_an_error():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    values = compute_metrics(small, small[::-1].copy(), ["ms_ssim", "vif", "psnr_rgb"])
    assert math.isnan(values["ms_ssim"]) and math.isnan(values["vif"]) and math.isfinite(values["psnr_rgb"])


def test_shape_mismatch_and_unknown_metric_are_errors(photo):
    with pytest.raises(ValueError, match="differ in shape"):
        compute_metrics(photo, photo[:-1], ["mse"])
    with pytest.raises(KeyError, match="unknown metric.*'psnr'"):
        compute_metrics(photo, photo, ["psnr"])
