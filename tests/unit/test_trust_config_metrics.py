"""Config files and per-image failures: every key given twice in a config file is named with its file and lines
(dryrun/test_bad_configs.py: Snakemake refuses such a file before any job); tiny images give NaN for the metrics
they are too small for, without an error or warning; and a codec's or metric's failure names the dataset, codec,
point and image (or clip) it failed on."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from dataset_builders import prepared_images

from codecbench.codecs import CodecError, get_codec_class
from codecbench.config.validate import ConfigError, check_config_files
from codecbench.metrics import METRICS, MIN_SIDE, SEQUENCE_METRICS, MetricError, compute_metrics
from codecbench.stages import compress as compress_stage
from codecbench.stages.compress import compress_point


def test_json_configs_and_every_duplicate_are_reported_and_yaml_merge_keys_are_no_duplicates(tmp_path):
    # JSON as Snakemake reads it first (tab-indented), a flow mapping repeating a key on one line, and a merge
    # key ('<<') whose keys the mapping overrides, which is no duplicate.
    (tmp_path / "a.json").write_text('{\n\t"codecs": {"jpeg": {"qualities": [5]}},\n\t"codecs": {}\n}\n')
    (tmp_path / "b.yaml").write_text("base: &base {x: 1}\nwebp: {q: 1, q: 2}\npng:\n  <<: *base\n  x: 2\n")
    with pytest.raises(ConfigError) as caught:
        check_config_files([tmp_path / "a.json", tmp_path / "b.yaml"], source="config (a.json, b.yaml)")
    message = str(caught.value)
    assert message.splitlines() == [
        "invalid config (a.json, b.yaml):",
        f"  - {tmp_path / 'a.json'}, line 3: duplicate key 'codecs' (first at line 2); only the last would count",
        f"  - {tmp_path / 'b.yaml'}, line 2: duplicate key 'q' (first at line 2); only the last would count",
    ]


@pytest.mark.parametrize("side", [1, 10])
def test_images_too_small_for_a_window_give_nan_without_error_or_warning(side):
    rng = np.random.default_rng(side)
    reference = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    decoded = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pytorch_msssim warned (and failed at 1 px) where SSIM's window did not fit
        values = compute_metrics(reference, decoded, list(METRICS))
    for name in ("mse", "mae", "psnr_rgb", "psnr_y"):
        assert math.isfinite(values[name]), name
    assert values["mse"] == pytest.approx(np.mean((reference.astype(float) - decoded) ** 2))
    for name in ("ssim", "ms_ssim", "vif"):
        assert math.isnan(values[name]), name


def test_each_metric_is_computed_from_its_minimum_side_on():
    assert MIN_SIDE == {
        "mse": 1, "mae": 1, "psnr_rgb": 1, "psnr_y": 1, "ssim": 11, "ms_ssim": 161, "vif": 41, "vmaf": 32
    }  # fmt: skip
    rng = np.random.default_rng(0)
    for name, side in MIN_SIDE.items():
        if name in SEQUENCE_METRICS:
            continue
        # Rectangular, the short side at the minimum: finite there without a warning, NaN one pixel below.
        reference = rng.integers(0, 256, (side, side + 7, 3), dtype=np.uint8)
        decoded = np.clip(reference.astype(int) + rng.integers(-9, 10, reference.shape), 0, 255).astype(np.uint8)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert math.isfinite(METRICS[name](reference, decoded)), name
        if side > 1:
            assert math.isnan(METRICS[name](reference[1:], decoded[1:])), name


@pytest.mark.parametrize(("quality", "target_bpp", "point"), [(50, None, "quality=50"), (None, 1.5, "target 1.5 bpp")])
def test_a_codec_failing_on_one_image_names_dataset_codec_point_and_image(
    tmp_path, photo, monkeypatch, quality, target_bpp, point
):
    manifest = prepared_images(tmp_path / "photos", [photo[:48, :64], photo[:40, :56], photo[8:56, :64]])
    jpeg = get_codec_class("jpeg")
    broken = OSError("encoder state corrupt")  # a library's own exception, not a CodecError

    def encode(self, image):
        if image.shape[0] == 40:  # im1 alone
            raise broken
        return original_encode(self, image)

    original_encode = jpeg.encode
    monkeypatch.setattr(jpeg, "encode", encode)
    out = tmp_path / "point"
    with pytest.raises(CodecError) as caught:
        compress_point(manifest, "jpeg", quality, {}, out, target_bpp=target_bpp)
    assert str(caught.value).startswith(f"jpeg {point} on dataset 'photos', image 'im1' (")
    assert str(caught.value).endswith("): OSError: encoder state corrupt")
    assert caught.value.__cause__ is broken


def test_a_metric_failing_on_one_image_names_dataset_codec_point_and_image(tmp_path, photo, monkeypatch):
    manifest = prepared_images(tmp_path / "photos", [photo[:48, :64], photo[:40, :56]])
    jpeg = get_codec_class("jpeg")
    original_decode = jpeg.decode

    def decode(self, data, size=None):  # a decoder that returns im1 (40 rows) cut short by one row
        decoded = original_decode(self, data, size)
        return decoded[:-1] if decoded.shape[0] == 40 else decoded

    monkeypatch.setattr(jpeg, "decode", decode)
    monkeypatch.setattr(compress_stage, "_check_decoded_shape", lambda *args: None)
    keys = {"dataset": "photos", "codec": "jpeg"}
    with pytest.raises(MetricError) as caught:
        compress_point(manifest, "jpeg", 50, {}, tmp_path / "jpeg50", metrics=["psnr_rgb", "ssim"], keys=keys)
    assert str(caught.value).startswith("psnr_rgb of dataset 'photos', codec 'jpeg', quality 50, image 'im1' (")
    assert isinstance(caught.value.__cause__, ValueError) and "differ in shape" in str(caught.value.__cause__)


def test_a_clip_metric_failing_names_dataset_codec_point_and_clip(tmp_path, photo, monkeypatch):
    clip = [photo[i : i + 40, :48] for i in range(2)]
    frames = [["im0", "c0", 0, 10.0], ["im1", "c0", 1, 10.0]]
    manifest = prepared_images(tmp_path / "clips", clip, frames)
    broken = RuntimeError("libvmaf: out of memory")

    def failing_vmaf(reference, decoded, fps):
        raise broken

    monkeypatch.setitem(SEQUENCE_METRICS, "vmaf", failing_vmaf)
    keys = {"dataset": "clips", "codec": "png"}
    with pytest.raises(MetricError) as caught:
        compress_point(manifest, "png", 6, {}, tmp_path / "png6", metrics=["vmaf"], keys=keys)
    assert str(caught.value).startswith("vmaf of dataset 'clips', codec 'png', quality 6, clip 'c0' (")
    assert str(caught.value).endswith("RuntimeError: libvmaf: out of memory") and caught.value.__cause__ is broken
