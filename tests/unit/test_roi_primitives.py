"""The ROI building blocks: background-requantised JPEG (read back by ffmpeg's own decoder and by its coefficients),
background pre-filtering and spectral-residual saliency."""

from __future__ import annotations

import functools
import io
import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, signal

from codecbench.roi.prefilter import prefiltered
from codecbench.roi.requantize import background_block_fraction, background_requantized_jpeg, standard_quant_tables
from codecbench.roi.saliency import saliency_mask, spectral_residual


@functools.cache
def _astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()  # 512 x 512, a real photo


def _half_mask(image: np.ndarray) -> np.ndarray:
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[:, : image.shape[1] // 2] = True  # the left half; 256 is a multiple of every block footprint
    return mask


def _pillow_jpeg(image: np.ndarray, quality: int, optimize: bool = False, subsampling: str = "4:2:0") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality, optimize=optimize, subsampling=subsampling)
    return buffer.getvalue()


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _psnr(reference: np.ndarray, decoded: np.ndarray, where: np.ndarray) -> float:
    error = (reference.astype(np.float64) - decoded)[where]
    return 10 * math.log10(255**2 / float(np.mean(error**2)))


def _coefficients(data: bytes) -> dict[str, np.ndarray]:
    import jpeglib

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.jpg"
        path.write_bytes(data)
        jpeg = jpeglib.read_dct(str(path))
        return {"Y": jpeg.Y.copy(), "Cb": jpeg.Cb.copy(), "Cr": jpeg.Cr.copy()}


def _ffmpeg_decoded(data: bytes, pixel_format: str) -> bytes:
    """The file through ffmpeg's own JPEG decoder (mjpeg), not libjpeg; full-range BT.601 as JFIF defines."""
    import imageio_ffmpeg

    scale = "scale=in_color_matrix=bt601:in_range=full:flags=accurate_rnd+full_chroma_int+bitexact"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    command += ["-f", "jpeg_pipe", "-c:v", "mjpeg", "-i", "pipe:", "-vf", f"{scale},format={pixel_format}"]
    command += ["-f", "rawvideo", "pipe:"]
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout


@functools.cache
def _half_mask_files() -> tuple[bytes, bytes]:
    """(ROI file at quality 75 / background 10, Pillow's plain file at 75) of the photo with its left half kept."""
    image = _astronaut()
    return background_requantized_jpeg(image, _half_mask(image), 75, 10), _pillow_jpeg(image, 75)


# ---- requantisation tables -------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [1, 5, 10, 25, 49, 50, 51, 75, 90, 95, 100])
def test_standard_tables_are_those_pillow_writes(quality):
    with Image.open(io.BytesIO(_pillow_jpeg(np.zeros((8, 8, 3), np.uint8), quality))) as im:
        written = {index: np.array(table).reshape(8, 8) for index, table in im.quantization.items()}
    luma, chroma = standard_quant_tables(quality)
    np.testing.assert_array_equal(luma, written[0])
    np.testing.assert_array_equal(chroma, written[1])


def test_standard_tables_golden_values():
    luma_50, chroma_50 = standard_quant_tables(50)  # scale 100: Annex K itself
    assert luma_50[0].tolist() == [16, 11, 10, 16, 24, 40, 51, 61]
    assert chroma_50[:, 0].tolist() == [17, 18, 24, 47, 99, 99, 99, 99]
    assert standard_quant_tables(75)[0][0].tolist() == [8, 6, 5, 8, 12, 20, 26, 31]  # (t * 50 + 50) // 100
    assert standard_quant_tables(10)[0][0, 0] == 80  # 16 * 500 / 100
    assert (standard_quant_tables(1)[0] == 255).all()  # every step clamped to baseline's 255
    assert (standard_quant_tables(100)[1] == 1).all()


# ---- background-requantised JPEG -------------------------------------------------------------------------------


def test_roi_jpeg_is_baseline_and_ffmpeg_decodes_it_as_pillow_does():
    roi, _ = _half_mask_files()
    assert roi[:2] == b"\xff\xd8" and b"\xff\xc0" in roi and b"\xff\xc2" not in roi  # baseline SOF0, not progressive
    pillow = _decoded(roi).astype(int)
    assert pillow.shape == (512, 512, 3)
    ffmpeg_rgb = np.frombuffer(_ffmpeg_decoded(roi, "rgb24"), np.uint8)
    assert ffmpeg_rgb.size == 512 * 512 * 3  # ffmpeg read the same size
    difference = np.abs(ffmpeg_rgb.reshape(512, 512, 3).astype(int) - pillow)
    # Chroma upsampling filters differ (libjpeg's fancy triangle vs ffmpeg's scaler): a few levels at sharp edges.
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 4
    ffmpeg_luma = np.frombuffer(_ffmpeg_decoded(roi, "gray"), np.uint8).reshape(512, 512).astype(int)
    with Image.open(io.BytesIO(roi)) as im:
        im.draft("L", im.size)  # libjpeg's Y plane itself, no colour conversion
        pillow_luma = np.asarray(im).astype(int)
    assert np.abs(ffmpeg_luma - pillow_luma).max() <= 1  # only the IDCTs' rounding differs


def test_roi_jpeg_keeps_the_region_and_coarsens_the_background():
    image, mask = _astronaut(), _half_mask(_astronaut())
    roi, plain = _half_mask_files()
    plain_optimized = _pillow_jpeg(image, 75, optimize=True)
    # Smaller than Pillow's file at 75 even with its Huffman tables optimised too (measured: 31297 vs 39713 bytes).
    assert len(roi) < 0.85 * len(plain_optimized) < len(plain)

    ours, theirs = _coefficients(roi), _coefficients(plain)
    for name, kept in (("Y", 32), ("Cb", 16), ("Cr", 16)):  # block columns inside the left half (8 / 16 px blocks)
        np.testing.assert_array_equal(ours[name][:, :kept], theirs[name][:, :kept])
        assert (ours[name][:, kept:] != theirs[name][:, kept:]).any(axis=(2, 3)).mean() > 0.5

    decoded, decoded_plain = _decoded(roi), _decoded(plain)
    # Pixels are those of the plain file but on the mask's last column, where chroma upsampling blends in the
    # requantised chroma block next door.
    np.testing.assert_array_equal(decoded[:, :255], decoded_plain[:, :255])
    assert abs(_psnr(image, decoded, mask) - _psnr(image, decoded_plain, mask)) < 0.02
    plain_10 = _decoded(_pillow_jpeg(image, 10))
    outside, outside_plain, outside_10 = (_psnr(image, d, ~mask) for d in (decoded, decoded_plain, plain_10))
    assert outside < outside_plain - 5  # measured 28.1 vs 35.6 dB
    assert abs(outside - outside_10) < 0.5  # about the quality of a plain JPEG at 10 (28.15 dB)


def test_background_coefficients_are_multiples_of_the_step_ratio():
    """k = max(1, round(q_b / q_f)) from the tables Pillow writes (independent of ours); background values are
    multiples of k within k / 2 of the original, ties rounded towards zero."""
    image = _astronaut()
    roi, plain = _half_mask_files()
    with Image.open(io.BytesIO(plain)) as fine, Image.open(io.BytesIO(_pillow_jpeg(image, 10))) as coarse:
        steps = [(np.array(fine.quantization[i]), np.array(coarse.quantization[i])) for i in (0, 1)]
    ours, theirs = _coefficients(roi), _coefficients(plain)
    for name, kept in (("Y", 32), ("Cb", 16), ("Cr", 16)):
        q_f, q_b = steps[0 if name == "Y" else 1]
        k = np.maximum(1, np.floor(q_b / q_f + 0.5)).astype(int).reshape(8, 8)
        new, old = ours[name][:, kept:].astype(int), theirs[name][:, kept:].astype(int)
        assert (new % k == 0).all()
        assert (np.abs(new - old) <= k // 2).all()
        assert not ((np.abs(new - old) * 2 == k) & (np.abs(new) > np.abs(old))).any()  # no tie rounded away from 0
    assert k.max() > 1  # the check above is not vacuous


def test_all_true_mask_gives_plain_coefficients():
    image = _astronaut()
    everything = np.ones(image.shape[:2], dtype=bool)
    roi, plain = background_requantized_jpeg(image, everything, 75, 10), _pillow_jpeg(image, 75)
    for name, values in _coefficients(roi).items():
        np.testing.assert_array_equal(values, _coefficients(plain)[name])
    # The same coefficients with libjpeg's standard Huffman tables: as long as Pillow's file; with optimised ones
    # as long as Pillow's optimize=True file (measured: 40240 and 39713 bytes).
    assert abs(len(roi) - len(plain)) <= 32
    optimized = background_requantized_jpeg(image, everything, 75, 10, optimize=True)
    assert abs(len(optimized) - len(_pillow_jpeg(image, 75, optimize=True))) <= 32
    assert len(optimized) < len(roi) - 256


def test_all_false_mask_is_about_a_plain_jpeg_at_background_quality():
    """The steps become k * q_f ~ q_b, so the quality is that of a plain JPEG at 10 (measured 26.83 vs 26.84 dB);
    the file is bigger than a plain one at 10 (measured 1.46x its optimised size, 14228 vs 9753 bytes) because each
    nonzero coefficient is stored as m * k in units of q_f, i.e. with about log2(k) more amplitude bits."""
    image = _astronaut()
    nothing = np.zeros(image.shape[:2], dtype=bool)
    roi = background_requantized_jpeg(image, nothing, 75, 10, optimize=True)
    plain_10 = _pillow_jpeg(image, 10, optimize=True)
    assert 1.25 < len(roi) / len(plain_10) < 1.7
    assert abs(_psnr(image, _decoded(roi), ~nothing) - _psnr(image, _decoded(plain_10), ~nothing)) < 0.25


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:2", "4:2:0"])
def test_odd_sized_image_and_every_subsampling(subsampling):
    image = np.ascontiguousarray(_astronaut()[3:260, 5:300])  # 257 x 295: partial edge blocks
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[50:120, 40:200] = True
    roi = background_requantized_jpeg(image, mask, 80, 20, subsampling)
    decoded = _decoded(roi)
    assert decoded.shape == image.shape
    plain = _decoded(_pillow_jpeg(image, 80, subsampling=subsampling))
    assert abs(_psnr(image, decoded, mask) - _psnr(image, plain, mask)) < 0.1
    assert _psnr(image, decoded, ~mask) < _psnr(image, plain, ~mask) - 2


def test_coefficients_are_kept_in_baseline_range():
    """At quality 100 (steps 1) a black block's DC is -1024 and a white one's 1016; background 6 has DC step 133,
    so rounding would give -1064 and 1064, whose difference needs 12 bits: libjpeg refuses the file ("DCT
    coefficient out of range", an OSError from jpeglib). The requantiser rounds those towards zero: -931 and 931."""
    image = np.zeros((8, 32, 3), np.uint8)
    image[:, 8:16] = image[:, 24:] = 255
    assert standard_quant_tables(6)[0][0, 0] == 133
    roi = background_requantized_jpeg(image, np.zeros((8, 32), dtype=bool), 100, 6, "4:4:4")
    assert _coefficients(roi)["Y"][0, :, 0, 0].tolist() == [-931, 931, -931, 931]
    assert np.abs(_decoded(roi).astype(int) - image).max() <= 16  # 7 * 133 / 8 = 116 levels from grey: near black


def test_background_block_fraction():
    mask = _half_mask(_astronaut())
    assert background_block_fraction(mask) == 0.5
    assert background_block_fraction(mask, "4:2:0", component="chroma") == 0.5
    one = np.zeros((20, 20), dtype=bool)
    one[17, 17] = True  # in the last luma block of a 3 x 3 grid, the last chroma block of 2 x 2 (4:2:0)
    assert background_block_fraction(one) == pytest.approx(8 / 9)
    assert background_block_fraction(one, "4:2:0", "chroma") == pytest.approx(3 / 4)
    assert background_block_fraction(one, "4:2:2", "chroma") == pytest.approx(5 / 6)  # 8 x 16 px: a 3 x 2 grid
    assert background_block_fraction(one, "4:4:4", "chroma") == pytest.approx(8 / 9)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"mask": np.ones((8, 9), dtype=bool)}, "mask"),
        ({"mask": np.ones((8, 8), dtype=np.uint8)}, "mask"),
        ({"image": np.zeros((8, 8), np.uint8)}, "image"),
        ({"image": np.zeros((8, 8, 3), np.float32)}, "image"),
        ({"quality": 0}, "quality"),
        ({"quality": 101}, "quality"),
        ({"quality": 75.0}, "quality"),
        ({"background_quality": 0}, "background_quality"),
        ({"background_quality": 80}, "background_quality"),  # finer than quality 75
        ({"subsampling": "4:1:1"}, "subsampling"),
    ],
)
def test_requantizer_refuses_bad_arguments(kwargs, argument):
    call = {"image": np.zeros((8, 8, 3), np.uint8), "mask": np.ones((8, 8), dtype=bool), "quality": 75}
    call |= {"background_quality": 10} | kwargs
    with pytest.raises(ValueError, match=argument):
        background_requantized_jpeg(**call)


def test_block_fraction_refuses_bad_arguments():
    with pytest.raises(ValueError, match="mask"):
        background_block_fraction(np.ones(8, dtype=bool))
    with pytest.raises(ValueError, match="subsampling"):
        background_block_fraction(np.ones((8, 8), dtype=bool), "4:4:0")
    with pytest.raises(ValueError, match="component"):
        background_block_fraction(np.ones((8, 8), dtype=bool), component="Cb")


# ---- pre-filtering ---------------------------------------------------------------------------------------------


def _distance_to_mask(mask: np.ndarray) -> np.ndarray:
    return ndimage.distance_transform_edt(~mask)


def test_blur_keeps_the_mask_and_blurs_the_background():
    image = _astronaut()
    mask = _half_mask(image)
    out = prefiltered(image, mask, "blur", strength=3.0)
    assert out.dtype == np.uint8 and out.shape == image.shape
    np.testing.assert_array_equal(out[mask], image[mask])
    far = _distance_to_mask(mask) >= 4  # feather 3: fully filtered from distance 4
    blurred = np.stack([ndimage.gaussian_filter(image[:, :, c].astype(float), 3.0) for c in range(3)], axis=2)
    np.testing.assert_array_equal(out[far], np.rint(blurred[far]).astype(np.uint8))
    ramp = _distance_to_mask(mask) == 1  # the first feathered column: a quarter of the blur
    expected = np.rint(0.25 * blurred[ramp] + 0.75 * image[ramp])
    np.testing.assert_array_equal(out[ramp], expected.astype(np.uint8))
    assert np.abs(out[far].astype(int) - image[far]).mean() > 3  # the photo's background really changed
    assert len(_pillow_jpeg(out, 75)) < 0.9 * len(_pillow_jpeg(image, 75))  # and costs fewer bits (measured 0.84)


def test_downscale_keeps_the_mask_and_simplifies_the_background():
    image = _astronaut()
    mask = _half_mask(image)
    out = prefiltered(image, mask, "downscale", strength=4)
    np.testing.assert_array_equal(out[mask], image[mask])
    small = Image.fromarray(image).resize((128, 128), Image.Resampling.BOX)
    expected = np.asarray(small.resize((512, 512), Image.Resampling.BICUBIC))
    far = _distance_to_mask(mask) >= 4
    np.testing.assert_array_equal(out[far], expected[far])
    assert np.abs(out[far].astype(int) - image[far]).mean() > 3
    np.testing.assert_array_equal(prefiltered(image, mask, "downscale", strength=1), image)  # factor 1: identity


def test_prefilter_edge_masks():
    image = _astronaut()[:64, :64].copy()
    np.testing.assert_array_equal(prefiltered(image, np.ones((64, 64), dtype=bool)), image)
    everywhere = prefiltered(image, np.zeros((64, 64), dtype=bool), strength=2.0)
    blurred = ndimage.gaussian_filter(image.astype(float), sigma=(2.0, 2.0, 0))
    np.testing.assert_array_equal(everywhere, np.rint(blurred).astype(np.uint8))
    hard = prefiltered(image, _half_mask(image), strength=2.0, feather=0)  # no ramp: column 32 fully blurred
    np.testing.assert_array_equal(hard[:, 32], np.rint(blurred[:, 32]).astype(np.uint8))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"method": "median"}, "method"),
        ({"strength": 0}, "strength"),
        ({"strength": -1.0}, "strength"),
        ({"strength": math.nan}, "strength"),
        ({"strength": "3"}, "strength"),
        ({"method": "downscale", "strength": 0.5}, "strength"),
        ({"feather": -1}, "feather"),
        ({"feather": 1.5}, "feather"),
        ({"mask": np.ones((8, 9), dtype=bool)}, "mask"),
        ({"mask": np.ones((8, 8), dtype=int)}, "mask"),
        ({"image": np.zeros((8, 8, 4), np.uint8)}, "image"),
    ],
)
def test_prefilter_refuses_bad_arguments(kwargs, argument):
    call = {"image": np.zeros((8, 8, 3), np.uint8), "mask": np.ones((8, 8), dtype=bool)} | kwargs
    with pytest.raises(ValueError, match=argument):
        prefiltered(**call)


# ---- saliency ----------------------------------------------------------------------------------------------------


def _square_scene(top: int, left: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """A 192 x 256 grey scene (level 60, optional Gaussian noise) with one bright 32 x 32 square; and each pixel's
    distance (chessboard, pixels) to the square."""
    rng = np.random.default_rng(0)
    image = np.clip(60 + rng.normal(0, noise, (192, 256, 3)), 0, 255).astype(np.uint8)
    image[top : top + 32, left : left + 32] = 230
    rows, columns = np.mgrid[:192, :256]
    distance = np.maximum(
        np.maximum(top - rows, rows - (top + 31)), np.maximum(left - columns, columns - (left + 31))
    ).clip(0)
    return image, distance


@pytest.mark.parametrize("noise", [0.0, 6.0])
@pytest.mark.parametrize("top, left", [(40, 170), (120, 30), (10, 10)])
def test_a_lone_bright_square_is_the_salient_part(top, left, noise):
    image, distance = _square_scene(top, left, noise)
    saliency = spectral_residual(image)
    assert saliency.dtype == np.float32 and saliency.shape == (192, 256)
    assert saliency.min() == 0 and saliency.max() == 1
    peak = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert distance[peak] <= 4
    assert saliency[distance == 0].mean() > 0.4
    assert saliency[distance > 48].mean() < 0.1
    np.testing.assert_array_equal(spectral_residual(image), saliency)  # deterministic


def test_spectral_residual_follows_the_papers_recipe():
    """A 48 x 64 image needs no resizing at side 64, so the map is the recipe's own, recomputed here with other
    tools: an explicit edge-padded 3 x 3 mean, and a hand-built 11 x 11 Gaussian (sigma 2.5) convolved with zero
    padding, as MATLAB's imfilter does."""
    image = np.ascontiguousarray(_astronaut()[200:248, 220:284])
    grey = (image.astype(np.float64) @ [0.2989, 0.5870, 0.1140] / 255).astype(np.float32).astype(np.float64)
    spectrum = np.fft.fft2(grey)
    log_amplitude = np.log(np.maximum(np.abs(spectrum), math.sqrt(grey.size / 12) / 255))
    padded = np.pad(log_amplitude, 1, mode="edge")
    mean = sum(padded[i : i + 48, j : j + 64] for i in range(3) for j in range(3)) / 9
    saliency = np.abs(np.fft.ifft2(np.exp(log_amplitude - mean + 1j * np.angle(spectrum)))) ** 2
    offsets = np.arange(-5, 6)
    kernel = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 2.5**2))
    smoothed = signal.convolve2d(saliency, kernel / kernel.sum(), mode="same", boundary="fill")
    expected = (smoothed - smoothed.min()) / (smoothed.max() - smoothed.min())
    np.testing.assert_allclose(spectral_residual(image), expected, atol=1e-5)


def test_flat_image_has_no_saliency():
    assert not spectral_residual(np.full((30, 40, 3), 128, np.uint8)).any()


def test_saliency_mask_takes_the_top_fraction_with_raster_ties():
    ramp = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(saliency_mask(ramp, 0.25), ramp >= 12)
    flat = np.zeros((2, 3))
    assert saliency_mask(flat, 0.5).tolist() == [[True, True, True], [False, False, False]]
    assert saliency_mask(np.zeros((1, 5)), 0.5).sum() == 3  # round(2.5) halves up
    assert not saliency_mask(ramp, 0).any() and saliency_mask(ramp, 1).all()
    for coverage, saliency, argument in [(1.5, ramp, "coverage"), (math.nan, ramp, "coverage")]:
        with pytest.raises(ValueError, match=argument):
            saliency_mask(saliency, coverage)
    with pytest.raises(ValueError, match="saliency"):
        saliency_mask(np.array([[0.0, math.nan]]), 0.5)
    with pytest.raises(ValueError, match="saliency"):
        saliency_mask(np.zeros(4), 0.5)
    with pytest.raises(ValueError, match="side"):
        spectral_residual(np.zeros((8, 8, 3), np.uint8), side=4)
