"""Codec round trips, real bitstream formats, quality knobs, and the config schema's codec entries that the codec
classes make."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from codecbench.codecs import (
    CODECS,
    Codec,
    CodecError,
    get_codec_class,
    make_codec,
    register_codec,
    schema_ref,
    unregister_codec,
)
from codecbench.codecs.imagecodecs_codecs import jxl_distance_from_quality
from codecbench.config.validate import ConfigError, load_schema, validate_config
from codecbench.metrics import psnr_rgb
from codecbench.stages.compress import bits_per_pixel

# A mid-ladder quality per codec, and the PSNR-RGB (dB) it must at least reach on the test photo.
MID_QUALITY = {
    "jpeg": (50, 27), "jpeg2000": (34, 31), "webp": (50, 27), "avif": (50, 27), "jpegxl": (60, 27),
    "h264": (28, 27), "hevc": (28, 27), "av1": (35, 27), "vp9": (35, 27),
}  # fmt: skip
LOSSLESS = {"original": 0, "png": 6, "jpegxl": 100}
# First bytes of each format's real bitstream (its magic number / start code).
MAGIC = {
    "original": b"P6",
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg": b"\xff\xd8\xff",
    "jpeg2000": b"\xff\x4f\xff\x51",  # J2K codestream: SOC then SIZ marker
    "webp": b"RIFF",
    "jpegxl": b"\xff\x0a",  # bare JPEG XL codestream
    "h264": b"\x00\x00\x00\x01",  # Annex B start code
    "hevc": b"\x00\x00\x00\x01",
    "av1": b"\x12\x00",  # OBU temporal delimiter, size 0
    "vp9": b"\x82\x49\x83\x42",  # profile-0 key frame marker, then the VP9 sync code
}


def test_registry_holds_the_issue_codecs():
    classical = {
        "original",
        "png",
        "jpeg",
        "jpeg2000",
        "webp",
        "avif",
        "jpegxl",
        "h264",
        "hevc",
        "av1",
        "vp9",
        "external",
    }
    learned = {
        "bmshj2018-factorized",
        "bmshj2018-hyperprior",
        "mbt2018-mean",
        "mbt2018",
        "cheng2020-anchor",
        "cheng2020-attn",
        "cae",
    }
    video = {"h264_video", "hevc_video", "vp9_video", "av1_video", "ssf2020"}
    assert set(CODECS) == classical | learned | video


@pytest.mark.parametrize("name", sorted(MID_QUALITY))
def test_lossy_round_trip_keeps_size_and_quality(name, photo):
    quality, min_psnr = MID_QUALITY[name]
    codec = make_codec(name, quality)
    data = codec.encode(photo)
    decoded = codec.decode(data, size=photo.shape[:2])
    assert decoded.shape == photo.shape and decoded.dtype == np.uint8
    assert 0 < len(data) < photo.nbytes / 4
    assert min_psnr < psnr_rgb(photo, decoded) < 60


@pytest.mark.parametrize("name", sorted(LOSSLESS))
def test_lossless_round_trip_is_exact(name, photo):
    codec = make_codec(name, LOSSLESS[name])
    assert np.array_equal(codec.decode(codec.encode(photo), size=photo.shape[:2]), photo)


@pytest.mark.parametrize("name", sorted(MAGIC))
def test_bitstream_is_the_real_format(name, photo):
    quality = MID_QUALITY.get(name, (LOSSLESS.get(name), None))[0]
    assert make_codec(name, quality).encode(photo).startswith(MAGIC[name])


def test_avif_is_an_isobmff_avif_file(photo):
    data = make_codec("avif", 50).encode(photo)
    assert data[4:12] in (b"ftypavif", b"ftypavis")


@pytest.mark.parametrize(
    ("name", "decode"),
    [
        ("jpeg", "jpeg8_decode"),
        ("webp", "webp_decode"),
        ("jpeg2000", "jpeg2k_decode"),
        ("avif", "avif_decode"),
        ("jpegxl", "jpegxl_decode"),
        ("png", "png_decode"),
    ],
)
def test_an_independent_decoder_reads_our_bitstream(name, decode, photo):
    """imagecodecs' decoders read what Pillow wrote: the stored files are standard, not private formats."""
    imagecodecs = pytest.importorskip("imagecodecs")
    codec = make_codec(name, MID_QUALITY.get(name, (6,))[0])
    data = codec.encode(photo)
    ours = codec.decode(data)
    theirs = getattr(imagecodecs, decode)(data)
    assert theirs.shape == photo.shape
    assert psnr_rgb(ours, np.ascontiguousarray(theirs[..., :3], dtype=np.uint8)) > 45


def test_vp9_frame_is_stored_bare_and_libvpx_decodes_it(photo):
    from codecbench.codecs.ffmpeg import piped_output

    codec = make_codec("vp9", 35)
    data = codec.encode(photo)
    assert b"DKIF" not in data[:64]  # the IVF container is not stored (nor counted)

    # libvpx's own decoder (not ffmpeg's native one, which the codec uses) reads the same picture.
    def planes(decoder: str) -> bytes:
        args = ["-c:v", decoder, "-f", "ivf", "-i", "pipe:", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p"]
        return piped_output([*args, "pipe:"], codec.wrap(data), decoder)

    assert planes("libvpx-vp9") == planes("vp9")


@pytest.mark.parametrize("name", ["h264", "hevc", "av1", "vp9"])
def test_ffmpeg_codecs_crop_odd_sides_back(name, photo):
    assert photo.shape[0] % 2 == 1 and photo.shape[1] % 2 == 1
    codec = make_codec(name, 20)
    assert codec.decode(codec.encode(photo), size=photo.shape[:2]).shape == photo.shape


@pytest.mark.parametrize(("name", "low", "high"), [("jpeg", 20, 80), ("webp", 20, 80), ("h264", 40, 20)])
def test_better_quality_costs_more_bytes(name, low, high, photo):
    small = make_codec(name, low).encode(photo)
    large = make_codec(name, high).encode(photo)
    assert len(small) < len(large)


def test_original_costs_24_bits_per_pixel_plus_header(photo):
    data = make_codec("original", 0).encode(photo)
    header = f"P6\n{photo.shape[1]} {photo.shape[0]}\n255\n".encode()
    assert data == header + photo.tobytes()


def test_bits_per_pixel_arithmetic():
    assert bits_per_pixel(1000, 100, 80) == 1.0
    assert bits_per_pixel(3, 2, 3) == 4.0
    assert bits_per_pixel(768 * 512 * 3, 768, 512) == 24.0


@pytest.mark.parametrize(("quality", "distance"), [(100, 0.0), (90, 1.0), (30, 6.4), (0, 25.0)])
def test_jpegxl_quality_maps_to_libjxl_distance(quality, distance):
    # Anchor points of libjxl's JxlEncoderDistanceFromQuality, as documented for cjxl --quality.
    assert jxl_distance_from_quality(quality) == pytest.approx(distance)


def test_out_of_range_quality_names_the_codec_and_range():
    with pytest.raises(ValueError, match=r"codec 'jpeg': quality 101 outside 1\.\.100"):
        make_codec("jpeg", 101)


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['speed'\] \(known: method\)"):
        make_codec("webp", 50, {"speed": 3})


def test_unknown_codec_lists_known_ones():
    with pytest.raises(KeyError, match="unknown codec 'jpg'.*jpeg"):
        get_codec_class("jpg")


@pytest.mark.parametrize("name", ["h264", "jpegxl", "jpeg"])
def test_corrupt_bitstream_fails_with_the_codec_named(name):
    with pytest.raises(CodecError, match=name):
        make_codec(name, get_codec_class(name).quality_max).decode(b"\x00\x01garbage" * 10, size=(8, 8))


def test_decoded_pillow_images_are_rgb(photo):
    data = make_codec("jpeg", 50).encode(photo)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGB" and im.size == (photo.shape[1], photo.shape[0])


# ---- the config schema's codec entries, made from the codec classes --------------------------------------------

# Today's codecs with equal-rate points (target_bpp): the lossy image codecs; not lossless, learned or video ones.
EQUAL_RATE_CODECS = {"jpeg", "jpeg2000", "webp", "avif", "jpegxl", "h264", "hevc", "av1", "vp9"}


def _config(codec: str, entry: dict) -> dict:
    return {"datasets": {"photos": {"source": "builtin"}}, "codecs": {codec: entry}}


def _refusal(config: dict) -> str:
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    return str(error.value)


def test_the_schema_lists_the_registered_codecs_image_codecs_first():
    listed = list(load_schema()["properties"]["codecs"]["properties"])
    assert listed == list(CODECS)
    message = _refusal(_config("jpg", {"qualities": [5]}))
    assert "codecs: Additional properties are not allowed ('jpg' was unexpected)" in message
    assert "(allowed: original, png, jpeg, jpeg2000, webp, avif, jpegxl, h264, hevc, av1, vp9, h264_video," in message


@pytest.mark.parametrize("name", sorted(CODECS))
def test_the_config_takes_exactly_the_qualities_the_codec_takes(name):
    cls = get_codec_class(name)
    low, high = cls.quality_min, cls.quality_max
    cfg = validate_config(_config(name, {"qualities": sorted({low, high})}))
    assert cfg["codecs"][name]["qualities"] == sorted({low, high})
    key = re.escape(f"codecs.{name}.qualities")
    above = _refusal(_config(name, {"qualities": [low, high + 1]}))
    assert re.search(rf"{key}\[1\]: {high + 1} is greater than the maximum of {high}\b", above), above
    below = _refusal(_config(name, {"qualities": [low - 1]}))
    assert re.search(rf"{key}\[0\]: {low - 1} is less than the minimum of {low}\b", below), below
    with pytest.raises(ValueError, match=rf"codec '{re.escape(name)}': quality {high + 1} outside {low}\.\.{high}"):
        make_codec(name, high + 1)  # the codec itself refuses the same value


@pytest.mark.parametrize(("name", "low", "high"), [("jpeg2000", 15, 80), ("cheng2020-attn", 1, 6), ("cae", 1, 4)])
def test_a_quality_outside_the_range_is_named_with_the_range(name, low, high):
    message = _refusal(_config(name, {"qualities": [high + 1, low - 1]}))
    assert f"codecs.{name}.qualities[0]: {high + 1} is greater than the maximum of {high}" in message
    assert f"codecs.{name}.qualities[1]: {low - 1} is less than the minimum of {low}" in message


def test_a_video_codecs_bitrate_ladder_is_in_kbit_per_second():
    entry = {"qualities": [0, 1, 1_000_000, 1_000_001], "options": {"rate_control": "bitrate"}}
    message = _refusal(_config("hevc_video", entry))
    assert "codecs.hevc_video.qualities[0]: 0 is less than the minimum of 1" in message
    assert "codecs.hevc_video.qualities[3]: 1000001 is greater than the maximum of 1000000" in message
    assert "qualities[1]" not in message and "qualities[2]" not in message
    assert "codecs.vp9_video.qualities[0]: 64 is greater than the maximum of 63" in _refusal(
        _config("vp9_video", {"qualities": [64], "options": {"rate_control": "qp"}})
    )


@pytest.mark.parametrize("name", sorted(CODECS))
def test_an_unknown_option_is_refused_listing_the_codecs_options(name):
    cls = get_codec_class(name)
    message = _refusal(_config(name, {"qualities": [cls.quality_max], "options": {"no_such_option": 1}}))
    if cls.default_options:
        allowed = ", ".join(cls.default_options)
        expected = f"codecs.{name}.options: Additional properties are not allowed ('no_such_option' was unexpected) "
        assert f"{expected}(allowed: {allowed})" in message
    else:
        expected = f"codecs.{name}: Additional properties are not allowed ('options' was unexpected) "
        assert f"{expected}(allowed: qualities, datasets, keep_decoded, roi)" in message


@pytest.mark.parametrize("name", sorted(CODECS))
def test_only_codecs_with_equal_rate_points_take_target_bpp(name):
    cls = get_codec_class(name)
    config = _config(name, {"qualities": [cls.quality_max], "target_bpp": [0.5]})
    assert cls.supports_target_bpp == (name in EQUAL_RATE_CODECS)
    if name in EQUAL_RATE_CODECS:
        assert validate_config(config)["codecs"][name]["target_bpp"] == [0.5]
    else:
        assert f"codecs.{name}: Additional properties are not allowed ('target_bpp' was unexpected)" in _refusal(config)


LEARNED_DEFAULTS = {"metric": "mse", "pretrained": True, "checkpoint": None, "device": "auto", "on_mismatch": "fail"}
VIDEO_DEFAULTS = {"rate_control": "crf", "gop": 30, "pix_fmt": "yuv420p", "lossless": False}


@pytest.mark.parametrize(
    ("name", "given", "filled"),
    [
        ("original", None, {}),
        ("jpeg", {"optimize": True}, {"subsampling": None, "optimize": True, "progressive": False}),
        ("h264", {}, {"preset": "medium", "pix_fmt": "yuv420p"}),  # both from fragments shared under $defs
        ("av1", {"pix_fmt": "yuv444p"}, {"cpu_used": 6, "pix_fmt": "yuv444p"}),
        ("vp9_video", {"gop": 12}, {**VIDEO_DEFAULTS, "gop": 12, "cpu_used": 4, "deadline": "good"}),
        ("av1_video", None, {**VIDEO_DEFAULTS, "encoder": "libsvtav1", "preset": 8, "cpu_used": 6}),
        ("bmshj2018-factorized", {"device": "cpu"}, {**LEARNED_DEFAULTS, "device": "cpu"}),
        ("cae", None, {**LEARNED_DEFAULTS, "pretrained": False}),  # the shared learned options, amended
        ("ssf2020", None, {"checkpoint": None, "pretrained": True, "device": "auto", "gop": 12, "on_mismatch": "fail"}),
    ],
)
def test_validation_fills_in_every_option_default(name, given, filled):
    entry = {"qualities": [get_codec_class(name).quality_max]} | ({} if given is None else {"options": given})
    assert validate_config(_config(name, entry))["codecs"][name]["options"] == filled


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("webp", {"method": 7}, "codecs.webp.options.method: 7 is greater than the maximum of 6 [effort, 6 = slowest]"),
        ("h264", {"preset": "fastest"}, "codecs.h264.options.preset: 'fastest' is not one of ['ultrafast',"),
        ("jpeg", {"subsampling": "4:1:1"}, "codecs.jpeg.options.subsampling: '4:1:1' is not one of [None, '4:4:4',"),
        ("mbt2018", {"metric": "psnr"}, "codecs.mbt2018.options.metric: 'psnr' is not one of ['mse', 'ms-ssim']"),
        ("ssf2020", {"on_mismatch": "ignore"}, "codecs.ssf2020.options.on_mismatch: 'ignore' is not one of ['fail',"),
        ("h264_video", {"gop": 0}, "codecs.h264_video.options.gop: 0 is less than the minimum of 1"),
    ],
)  # fmt: skip
def test_a_bad_option_value_is_named_with_what_is_allowed(name, options, message):
    assert message in _refusal(_config(name, {"qualities": [get_codec_class(name).quality_max], "options": options}))


class ToyCodec(Codec):
    """A test's own codec, registered by the toy_codec fixture: raw bytes, its knob a mere label."""

    name = "toy"
    extension = "raw"
    quality_min, quality_max = 2, 7
    quality_doc = "a label 2..7"
    description = "a test's toy codec; quality = a label 2..7"
    supports_target_bpp = True
    option_schemas = {
        "strength": {"type": "integer", "minimum": 0, "maximum": 3, "default": 1, "description": "how hard"},
        "pix_fmt": schema_ref("pix_fmt"),
    }

    def encode(self, image: np.ndarray) -> bytes:
        return image.tobytes()

    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        return np.frombuffer(data, np.uint8).reshape(*size, 3)

    @classmethod
    def version(cls) -> str:
        return "toy 1"


@pytest.fixture
def toy_codec():
    register_codec(ToyCodec)
    try:
        yield ToyCodec
    finally:
        unregister_codec(ToyCodec.name)


def test_a_registered_codec_class_is_its_schema_entry(toy_codec):
    entry = load_schema()["properties"]["codecs"]["properties"]["toy"]
    assert list(load_schema()["properties"]["codecs"]["properties"])[-1] == "toy"
    assert entry["description"] == "a test's toy codec; quality = a label 2..7"
    assert entry["properties"]["qualities"]["items"] == {"type": "integer", "minimum": 2, "maximum": 7}
    options = entry["properties"]["options"]
    assert options["additionalProperties"] is False
    assert options["properties"]["strength"] == {
        "type": "integer", "minimum": 0, "maximum": 3, "default": 1, "description": "how hard",
    }  # fmt: skip
    assert options["properties"]["pix_fmt"] == {"$ref": "#/$defs/pix_fmt"}
    assert toy_codec.default_options == {"strength": 1, "pix_fmt": "yuv420p"}  # pix_fmt's from the shared fragment

    cfg = validate_config(_config("toy", {"qualities": [2, 7], "target_bpp": [0.5], "options": {"strength": 3}}))
    assert cfg["codecs"]["toy"] == {
        "qualities": [2, 7], "target_bpp": [0.5], "options": {"strength": 3, "pix_fmt": "yuv420p"},
    }  # fmt: skip
    assert cfg["anchor"] == "toy"
    message = _refusal(_config("toy", {"qualities": [8], "options": {"strength": 4, "pix_fmt": "rgb24"}}))
    assert "codecs.toy.qualities[0]: 8 is greater than the maximum of 7" in message
    assert "codecs.toy.options.strength: 4 is greater than the maximum of 3 [how hard]" in message
    assert "codecs.toy.options.pix_fmt: 'rgb24' is not one of ['yuv420p', 'yuv422p', 'yuv444p']" in message
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    codec = make_codec("toy", 7, cfg["codecs"]["toy"]["options"])
    assert np.array_equal(codec.decode(codec.encode(image), size=(2, 3)), image)


def test_an_unregistered_codec_leaves_the_schema():
    register_codec(ToyCodec)
    assert "toy" in load_schema()["properties"]["codecs"]["properties"]
    assert unregister_codec("toy") is ToyCodec
    assert "toy" not in load_schema()["properties"]["codecs"]["properties"] and "toy" not in CODECS
    assert "('toy' was unexpected)" in _refusal(_config("toy", {"qualities": [2]}))
    with pytest.raises(KeyError, match=r"unknown codec 'toy' \(known: .*jpeg"):
        unregister_codec("toy")


def test_option_defaults_come_only_from_the_option_schemas():
    with pytest.raises(TypeError, match=r"codec class Stubborn: give each option's default in option_schemas"):

        class Stubborn(ToyCodec):
            default_options = {"strength": 2}

    class Undecided(ToyCodec):
        name = "undecided"
        option_schemas = {"strength": {"type": "integer"}}

    with pytest.raises(TypeError, match=r"codec 'undecided': option 'strength' has no default"):
        Undecided.default_options  # noqa: B018 (the attribute is computed on access)
