"""Codec round trips, real bitstream formats, quality knobs and the registry/schema agreement."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from codecbench.codecs import CODECS, CodecError, get_codec_class, make_codec
from codecbench.codecs.imagecodecs_codecs import jxl_distance_from_quality
from codecbench.compress import bits_per_pixel
from codecbench.config import load_schema
from codecbench.metrics import psnr_rgb

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
    classical = {"original", "png", "jpeg", "jpeg2000", "webp", "avif", "jpegxl", "h264", "hevc", "av1", "vp9"}
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
    from codecbench.codecs.ffmpeg import run_ffmpeg

    codec = make_codec("vp9", 35)
    data = codec.encode(photo)
    assert b"DKIF" not in data[:64]  # the IVF container is not stored (nor counted)

    # libvpx's own decoder (not ffmpeg's native one, which the codec uses) reads the same picture.
    def planes(decoder: str) -> bytes:
        args = ["-c:v", decoder, "-f", "ivf", "-i", "pipe:", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p"]
        return run_ffmpeg([*args, "pipe:"], codec.wrap(data), decoder)

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


def _codec_schema(name):
    return load_schema()["properties"]["codecs"]["properties"][name]


def test_schema_lists_exactly_the_registered_codecs():
    assert set(load_schema()["properties"]["codecs"]["properties"]) == set(CODECS)


@pytest.mark.parametrize("name", sorted(CODECS))
def test_schema_range_and_option_defaults_match_the_codec_class(name):
    cls = CODECS[name]
    entry = _codec_schema(name)
    # Video codecs' ladders depend on their rate control: the CRF/QP range is the schema's "else" branch.
    qualities = entry.get("else", entry)["properties"]["qualities"]
    items = qualities["items"]
    assert (items["minimum"], items["maximum"]) == (cls.quality_min, cls.quality_max)
    defs = load_schema()["$defs"]

    def resolve(spec):
        return defs[spec["$ref"].split("/")[-1]] if "$ref" in spec else spec

    options = entry["properties"].get("options", {})
    specs = {}
    for part in options.get("allOf", []):  # shared option sets, then the codec's own overrides
        specs.update({key: dict(resolve(spec)) for key, spec in resolve(part)["properties"].items()})
    for key, spec in options.get("properties", {}).items():
        specs[key] = {**specs.get(key, {}), **resolve(spec)}
    assert {key: spec["default"] for key, spec in specs.items()} == cls.default_options
