"""A point's stored truth is its bitstreams and rate rows: decoded images derived from them are the ones measured,
checked against the recorded pixel hashes, and kept only where the codec's policy (or the config) says so."""

from __future__ import annotations

import hashlib
import io
import threading

import numpy as np
import pandas as pd
import pytest
from dataset_builders import prepared_images
from PIL import Image

from codecbench.codecs import CodecError
from codecbench.config.plan import codec_keeps_decoded
from codecbench.io import read_rgb
from codecbench.stages.compress import compress_point
from codecbench.stages.points import Point, PointImages, pixels_sha256

FAST_CODECS = {"jpeg": 40, "webp": 60, "png": 6, "jpeg2000": 30, "avif": 50, "jpegxl": 50}


@pytest.fixture
def manifest(tmp_path, photo):
    return prepared_images(tmp_path / "photos", [photo[:48, :64], photo[40:97, 20:81]])


@pytest.mark.parametrize("codec", sorted(FAST_CODECS))
def test_images_decoded_from_the_bitstreams_are_those_kept_and_measured(codec, manifest, tmp_path):
    quality = FAST_CODECS[codec]
    metrics = ["psnr_rgb", "mae"]
    kept, kept_quality = compress_point(manifest, codec, quality, {}, tmp_path / "kept", metrics, keep_decoded=True)
    rates, derived_quality = compress_point(manifest, codec, quality, {}, tmp_path / "derived", metrics)
    assert not (tmp_path / "derived" / "decoded").exists()
    derived = PointImages(Point(quality, tmp_path / "derived", {"codec": codec, "options": {}}), rates)
    for index, image_id in enumerate(rates.image_id):
        pixels = read_rgb(tmp_path / "kept" / "decoded" / f"{image_id}.png")
        assert np.array_equal(derived[index], pixels)
        assert pixels_sha256(pixels) == rates.decoded_sha256[index] == kept.decoded_sha256[index]
        stream = tmp_path / "derived" / "bitstreams" / rates.bitstream[index]
        assert hashlib.sha256(stream.read_bytes()).hexdigest() == rates.bitstream_sha256[index]
    timing = ["encode_s", "decode_s"]
    pd.testing.assert_frame_equal(kept_quality.drop(columns=timing), derived_quality.drop(columns=timing))


def test_a_fast_codecs_store_is_its_bitstreams_and_one_rate_table(manifest, tmp_path):
    rates, _ = compress_point(manifest, "jpeg", 50, {}, tmp_path / "point")
    files = sorted(p.relative_to(tmp_path / "point").as_posix() for p in (tmp_path / "point").rglob("*") if p.is_file())
    assert files == ["bitstreams/im0.jpg", "bitstreams/im1.jpg", "points.csv", "rate.csv"]
    stored = sum(p.stat().st_size for p in (tmp_path / "point" / "bitstreams").iterdir())
    assert stored == rates.bytes.sum()


def test_the_recorded_pixels_are_those_an_independent_decoder_gives(manifest, tmp_path):
    rates, _ = compress_point(manifest, "jpeg", 30, {}, tmp_path / "point")
    for row in rates.itertuples():
        data = (tmp_path / "point" / "bitstreams" / row.bitstream).read_bytes()
        with Image.open(io.BytesIO(data)) as im:  # Pillow's own decoder, not the codec class
            assert pixels_sha256(np.asarray(im.convert("RGB"))) == row.decoded_sha256


def test_a_stored_bitstream_that_decodes_to_other_pixels_is_an_error_naming_it(manifest, tmp_path):
    rates, _ = compress_point(manifest, "jpeg", 30, {}, tmp_path / "q30")
    compress_point(manifest, "jpeg", 90, {}, tmp_path / "q90")
    stream = tmp_path / "q30" / "bitstreams" / "im1.jpg"
    stream.write_bytes((tmp_path / "q90" / "bitstreams" / "im1.jpg").read_bytes())  # a valid JPEG, other pixels
    images = PointImages(Point(30, tmp_path / "q30", {"codec": "jpeg", "options": {}}), rates, "dataset 'photos'")
    assert images[0].shape == (48, 64, 3)
    with pytest.raises(
        CodecError, match=r"codec 'jpeg' quality 30 on dataset 'photos', image 'im1': decoding .*im1\.jpg"
    ):
        images[1]
    stream.unlink()
    with pytest.raises(CodecError, match=r"image 'im1' \(.*im1\.jpg\): FileNotFoundError"):
        images[1]


def test_an_equal_rate_point_decodes_each_image_at_its_chosen_quality(manifest, tmp_path):
    rates, quality = compress_point(manifest, "jpeg", None, {}, tmp_path / "t", ["psnr_rgb"], target_bpp=1.0)
    images = PointImages(Point("target_1", tmp_path / "t", {"codec": "jpeg", "options": {}}, target_bpp=1.0), rates)
    assert rates.quality_used.nunique() >= 1 and len(images) == 2
    for index in range(2):
        assert pixels_sha256(images[index]) == rates.decoded_sha256[index]
    assert list(quality.quality) == ["target_1", "target_1"]


def test_the_decoded_cache_is_the_codecs_policy_unless_the_config_says_otherwise():
    cfg = {"codecs": {"jpeg": {}, "h264": {}, "cheap_h264": {"codec": "h264", "keep_decoded": False}}}
    cfg["codecs"]["kept_jpeg"] = {"codec": "jpeg", "keep_decoded": True}
    assert not codec_keeps_decoded(cfg, "jpeg")  # decoding a JPEG again is faster than reading its PNG
    assert codec_keeps_decoded(cfg, "h264")  # one ffmpeg process per image: kept
    assert not codec_keeps_decoded(cfg, "cheap_h264") and codec_keeps_decoded(cfg, "kept_jpeg")
    assert codec_keeps_decoded({"codecs": {"bmshj2018-factorized": {}}}, "bmshj2018-factorized")


def _without_timing(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["encode_s", "decode_s"])


def test_a_ladder_coded_on_several_threads_equals_one_coded_on_one(tmp_path, photo, monkeypatch):
    from codecbench.codecs.pillow_codecs import Jpeg
    from codecbench.stages.compress import compress_ladder

    crops = [photo[y : y + 40, x : x + 56] for y in (0, 30, 60) for x in (0, 40)]
    manifest = prepared_images(tmp_path / "crops", crops)
    threads_seen = set()
    encode = Jpeg.encode

    def recording_encode(self, image):
        threads_seen.add(threading.current_thread().name)
        return encode(self, image)

    monkeypatch.setattr(Jpeg, "encode", recording_encode)
    settings = {"codec": "jpeg", "options": {}}
    tables = {}
    for threads in (1, 2):
        root = tmp_path / f"threads{threads}"
        points = [Point(quality, root / str(quality), settings) for quality in (15, 70)]
        tables[threads] = compress_ladder(
            manifest, points, ["psnr_rgb", "ms_ssim"], {"codec": "jpeg"}, root / "rates.csv", root / "quality.csv",
            threads=threads,
        )  # fmt: skip
        if threads == 1:
            assert threads_seen == {threading.current_thread().name}
    assert {name for name in threads_seen if name.startswith("coding")}, threads_seen  # it did code in threads
    for one, two in zip(tables[1], tables[2], strict=True):
        assert list(two.image_id) == [f"im{i}" for i in range(len(crops))] * 2  # manifest order, point by point
        pd.testing.assert_frame_equal(_without_timing(one), _without_timing(two))


def test_clips_decoded_again_on_several_threads_are_the_clips_coded(tmp_path):
    from codecbench.datasets import prepare_dataset
    from codecbench.stages.compress import compress_ladder

    cfg = {"source": "builtin", "name": "moving_shapes", "max_frames": 4}
    prepare_dataset("moving", cfg, tmp_path / "moving", tmp_path / "downloads")
    manifest = tmp_path / "moving/manifest.csv"
    point = Point(30, tmp_path / "point", {"codec": "h264_video", "options": {"gop": 2}})
    arguments = (manifest, [point], ["psnr_rgb"], {"codec": "h264_video"}, tmp_path / "rates.csv")
    coded = compress_ladder(*arguments, tmp_path / "coded.csv", threads=2)[1]
    # Reused: every frame decoded again from its clip's file, two clips at once (each thread its own clip).
    reused = compress_ladder(*arguments, tmp_path / "reused.csv", threads=2)[1]
    assert set(coded["clip"]) == {"test_00", "test_01"} and len(coded) == 8
    pd.testing.assert_frame_equal(_without_timing(coded), _without_timing(reused))
