"""Video codecs (whole clips through ffmpeg): round trips, lossless modes, per-frame tables, rate control, VMAF."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.codecs import CODECS, CodecError, SequenceCodec, kilobits_per_second, make_codec
from codecbench.codecs.video import frame_rate
from codecbench.metrics import psnr_rgb
from codecbench.metrics.vmaf import vmaf_model_version, vmaf_per_frame

# (codec, options) for every video codec and both AV1 encoders, with a mid CRF.
CODECS_UNDER_TEST = {
    "h264": ("h264_video", {}, 28),
    "hevc": ("hevc_video", {}, 28),
    "vp9": ("vp9_video", {}, 35),
    "av1-svt": ("av1_video", {}, 35),
    "av1-aom": ("av1_video", {"encoder": "libaom-av1"}, 35),
}
LOSSLESS = ["h264", "hevc", "vp9", "av1-aom"]
CRF_MAX = {"h264": 51, "hevc": 51, "vp9": 63, "av1-svt": 63, "av1-aom": 63}
FPS = 25.0


def sliding_clip(n_frames: int = 10, height: int = 48, width: int = 64, step: int = 3) -> list[np.ndarray]:
    """A crop sliding right and down over scikit-image's astronaut: real content that moves."""
    import skimage.data

    photo = skimage.data.astronaut()
    return [
        np.ascontiguousarray(photo[100 + 2 * i : 100 + 2 * i + height, 150 + step * i : 150 + step * i + width])
        for i in range(n_frames)
    ]


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    return sliding_clip()


def codec_for(key: str, quality: float | None = None, **options):
    name, base_options, mid = CODECS_UNDER_TEST[key]
    return make_codec(name, mid if quality is None else quality, {**base_options, **options})


def round_trip(codec, frames, fps=FPS):
    encoded = codec.encode_sequence(frames, fps)
    return encoded, codec.decode_sequence(encoded.data, frames[0].shape[:2], len(frames))


def test_registry_holds_the_video_codecs():
    assert {"h264_video", "hevc_video", "vp9_video", "av1_video"} <= set(CODECS)
    for name in ("h264_video", "hevc_video", "vp9_video", "av1_video"):
        cls = CODECS[name]
        assert issubclass(cls, SequenceCodec) and cls.sequence
        assert cls.version().startswith("ffmpeg ") and not cls.higher_is_better


@pytest.mark.parametrize("key", sorted(CODECS_UNDER_TEST))
def test_round_trip_keeps_frames_size_and_quality(key, clip):
    codec = codec_for(key)
    encoded, decoded = round_trip(codec, clip)
    assert len(decoded) == len(clip)
    assert all(d.shape == c.shape and d.dtype == np.uint8 for d, c in zip(decoded, clip, strict=True))
    assert min(psnr_rgb(c, d) for c, d in zip(clip, decoded, strict=True)) > 25
    assert len(encoded.data) < sum(frame.nbytes for frame in clip) / 10
    # The per-frame table: one entry per frame, display order, payload within the file, an I frame first.
    assert len(encoded.frame_bytes) == len(encoded.frame_types) == len(clip)
    assert all(n > 0 for n in encoded.frame_bytes) and sum(encoded.frame_bytes) <= len(encoded.data)
    assert encoded.frame_types[0] == "I" and set(encoded.frame_types) <= {"I", "P", "B"}


@pytest.mark.parametrize("key", sorted(CODECS_UNDER_TEST))
def test_odd_sides_are_padded_and_cropped_back(key):
    frames = sliding_clip(n_frames=6, height=47, width=63)
    _, decoded = round_trip(codec_for(key), frames)
    assert [d.shape for d in decoded] == [(47, 63, 3)] * 6
    assert min(psnr_rgb(c, d) for c, d in zip(frames, decoded, strict=True)) > 25


@pytest.mark.parametrize("key", LOSSLESS)
def test_lossless_mode_is_bit_exact(key):
    frames = sliding_clip(n_frames=6, height=47, width=63)  # odd sides: padding must not spoil exactness
    encoded, decoded = round_trip(codec_for(key, lossless=True), frames)
    assert all(np.array_equal(c, d) for c, d in zip(frames, decoded, strict=True))
    assert encoded.frame_types[0] == "I"


@pytest.mark.parametrize("key", sorted(CODECS_UNDER_TEST))
def test_predicted_frames_of_a_still_clip_are_smaller_than_the_key_frame(key, clip):
    encoded = codec_for(key).encode_sequence([clip[0]] * 8, FPS)
    assert encoded.frame_types[0] == "I"
    assert max(encoded.frame_bytes[1:]) < encoded.frame_bytes[0]
    assert any(kind in ("P", "B") for kind in encoded.frame_types[1:])


@pytest.mark.parametrize("key", sorted(CODECS_UNDER_TEST))
def test_higher_crf_gives_fewer_bytes(key, clip):
    high = CRF_MAX[key] - 8
    fine, coarse = codec_for(key, 20).encode_sequence(clip, FPS), codec_for(key, high).encode_sequence(clip, FPS)
    assert sum(coarse.frame_bytes) < sum(fine.frame_bytes)
    assert len(coarse.data) < len(fine.data)


@pytest.mark.parametrize("key", ["h264", "vp9", "av1-svt"])
def test_constant_qp_mode(key, clip):
    fine = codec_for(key, 20, rate_control="qp")
    coarse = codec_for(key, 45, rate_control="qp")
    assert not fine.higher_is_better and fine.quality_max == CRF_MAX[key]
    assert len(coarse.encode_sequence(clip, FPS).data) < len(fine.encode_sequence(clip, FPS).data)


@pytest.mark.parametrize("key", sorted(CODECS_UNDER_TEST))
def test_bitrate_mode_roughly_hits_the_target(key):
    # SVT-AV1 needs sides of 64 for rate control; one-pass rate control on a one-second clip is rough, and x26x
    # undershoots easy content, so the factor is generous.
    frames = sliding_clip(n_frames=24, height=64, width=64, step=4)
    rates = {}
    for kbps in (30, 100):
        codec = codec_for(key, kbps, rate_control="bitrate")
        assert codec.higher_is_better and codec.quality_max >= 100_000
        encoded = codec.encode_sequence(frames, FPS)
        rates[kbps] = kilobits_per_second(sum(encoded.frame_bytes), len(frames), FPS)
        assert kbps / 4 < rates[kbps] < kbps * 4
    assert rates[30] < rates[100]


def test_kilobits_per_second_by_hand():
    assert kilobits_per_second(1000, 25, 25.0) == pytest.approx(8.0)  # 8000 bits over 1 s
    assert kilobits_per_second(25 * 1000, 25, 25.0) == pytest.approx(200.0)  # 1 s of 1000-byte frames
    assert kilobits_per_second(12_500, 50, 25.0) == pytest.approx(50.0)  # 100 kbit over 2 s
    with pytest.raises(ValueError):
        kilobits_per_second(1000, 0, 25.0)


def test_frame_rate_is_an_exact_fraction():
    assert frame_rate(25.0) == "25/1"
    assert frame_rate(30000 / 1001) == "30000/1001"
    with pytest.raises(ValueError):
        frame_rate(0)


@pytest.mark.parametrize("key", ["h264", "vp9", "av1-svt"])
def test_encoding_is_reproducible(key, clip):
    codec = codec_for(key)
    assert codec.encode_sequence(clip, FPS) == codec.encode_sequence(clip, FPS)


def test_single_image_interface(clip):
    codec = codec_for("h264")
    data = codec.encode(clip[0])
    assert psnr_rgb(clip[0], codec.decode(data, size=clip[0].shape[:2])) > 25


@pytest.mark.parametrize(
    ("name", "quality", "options", "message"),
    [
        ("h264_video", 28, {"rate_control": "vbr"}, "rate_control"),
        ("h264_video", 52, {}, "outside"),
        ("vp9_video", 64, {}, "outside"),
        ("av1_video", 64, {"rate_control": "qp"}, "outside"),
        ("hevc_video", 0, {"rate_control": "bitrate"}, "outside"),
        ("av1_video", 0, {"lossless": True}, "lossless"),
        ("av1_video", 30, {"encoder": "rav1e"}, "encoder"),
        ("av1_video", 30, {"cpu_used": 4}, "cpu_used"),
        ("av1_video", 30, {"encoder": "libaom-av1", "preset": 4}, "preset"),
        ("av1_video", 30, {"pix_fmt": "yuv444p"}, "pix_fmt"),
        ("vp9_video", 30, {"pix_fmt": "gbrp"}, "pix_fmt"),
        ("h264_video", 28, {"preset": "warp"}, "preset"),
        ("h264_video", 28, {"gop": 0}, "gop"),
        ("vp9_video", 30, {"cpu_used": 9}, "cpu_used"),
        ("vp9_video", 30, {"speed": 4}, "unknown option"),
    ],
)
def test_bad_options_name_the_codec(name, quality, options, message):
    with pytest.raises(ValueError, match=message) as info:
        make_codec(name, quality, options)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("key", ["h264", "vp9", "av1-svt"])
def test_corrupt_or_mismatched_streams_raise_codec_error(key, clip):
    codec = codec_for(key)
    encoded = codec.encode_sequence(clip, FPS)
    size = clip[0].shape[:2]
    for data in (b"not a video at all" * 20, encoded.data[: len(encoded.data) // 2]):
        with pytest.raises(CodecError, match=CODECS_UNDER_TEST[key][0]):
            codec.decode_sequence(data, size, len(clip))
    with pytest.raises(CodecError, match="frames"):
        codec.decode_sequence(encoded.data, size, len(clip) + 1)
    with pytest.raises(CodecError, match="expected"):
        codec.decode_sequence(encoded.data, (size[0] + 4, size[1]), len(clip))


def test_vmaf_is_top_for_identical_clips_and_lower_for_degraded(clip):
    same = vmaf_per_frame(clip, clip, fps=FPS)
    assert same.shape == (len(clip),)
    assert same[0] > 95 and np.all(same[1:] > 99)  # the first frame lacks the motion feature
    codec = codec_for("h264", 48)
    _, degraded = round_trip(codec, clip)
    worse = vmaf_per_frame(clip, degraded, fps=FPS)
    assert worse.mean() < same.mean() - 20
    assert "vmaf_v0.6.1" in vmaf_model_version()


def test_vmaf_rejects_mismatched_or_tiny_clips(clip):
    with pytest.raises(ValueError, match="equal"):
        vmaf_per_frame(clip, clip[:-1])
    tiny = [frame[:16, :16] for frame in clip]
    with pytest.raises(ValueError, match="at least"):
        vmaf_per_frame(tiny, tiny)


def test_the_pipelines_filled_in_defaults_are_not_taken_for_the_other_encoders_options():
    # Config validation passes every option with its default: SVT-AV1 gets cpu_used 6 (libaom's) unchanged.
    from codecbench.codecs import get_codec_class

    defaults = get_codec_class("av1_video").default_options
    codec = make_codec("av1_video", 40, dict(defaults))
    assert codec.options["encoder"] == "libsvtav1"
    with pytest.raises(ValueError, match="option 'cpu_used' applies to encoder libaom-av1"):
        make_codec("av1_video", 40, {**defaults, "cpu_used": 2})
