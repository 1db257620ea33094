"""The external codec: reference software run from command templates. Round trips through real Debian encoders
(cwebp/dwebp, cjxl/djxl, x265 with ffmpeg's decoder), the pinned RGB <-> Y'CbCr conversion against the BT.601/BT.709
formulas, the recorded version, errors naming the command, config checks of the templates, and a point coded by the
compression stage.

A test that needs a command-line tool skips, naming the Debian package to install, when the tool is absent."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from dataset_builders import prepared_images
from PIL import Image

from codecbench.codecs import CodecError, get_codec_class, make_codec
from codecbench.codecs.external import pad_even, rgb_to_yuv, yuv_to_rgb
from codecbench.config.plan import codec_job_settings, codec_keeps_decoded, registry_name
from codecbench.config.validate import ConfigError, validate_config
from codecbench.io import read_rgb
from codecbench.metrics import psnr_rgb
from codecbench.stages.compress import compress_point
from codecbench.stages.points import Point, PointImages, pixels_sha256

PACKAGES = {"cwebp": "webp", "dwebp": "webp", "cjxl": "libjxl-tools", "djxl": "libjxl-tools", "x265": "x265"}


def need(*programs: str) -> None:
    """Skip unless every program is on PATH, naming the Debian package that provides the first one missing."""
    for program in programs:
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (Debian: apt-get install {PACKAGES[program]})")


WEBP = {
    "encode": ["cwebp", "-quiet", "-q", "{quality}", "{input}", "-o", "{output}"],
    "decode": ["dwebp", "-quiet", "{input}", "-o", "{output}"],
    "extension": "webp",
    "version_command": ["cwebp", "-version"],
}
JXL = {
    "encode": ["cjxl", "--quiet", "-q", "{quality}", "{input}", "{output}"],
    "decode": ["djxl", "--quiet", "{input}", "{output}"],
    "extension": "jxl",
    "version_command": ["cjxl", "--version"],
}


def _x265(lossless: bool = False) -> dict:
    import imageio_ffmpeg

    encode = ["x265", "--input", "{input}", "--input-res", "{width}x{height}", "--fps", "1", "--input-csp", "i420"]
    encode += ["--frames", "1", "--qp", "{quality}", "--preset", "ultrafast", "--log-level", "error"]
    encode += ["--output", "{output}", *(["--lossless"] if lossless else [])]
    decode = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "hevc"]
    decode += ["-i", "{input}", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-y", "{output}"]
    return {
        "encode": encode,
        "decode": decode,
        "input_format": "yuv420p",
        "output_format": "yuv420p",
        "colour": "bt709",
        "range": "limited",
        "extension": "hevc",
    }


def _cli_output(command: list[str], data: bytes, suffix: str, tmp_path: Path) -> bytes:
    """What a CLI writes for ``data`` (the file in, the file out), run by hand rather than by the codec."""
    source, target = tmp_path / "cli-in.png", tmp_path / f"cli-out.{suffix}"
    source.write_bytes(data)
    arguments = [a.replace("{input}", str(source)).replace("{output}", str(target)) for a in command]
    subprocess.run(arguments, check=True, capture_output=True)
    return target.read_bytes()


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


# ---- round trips through real command-line codecs ---------------------------------------------------------------


def test_cwebp_round_trip_stores_what_the_cli_writes_and_dwebp_decodes_as_pillow_does(photo, tmp_path):
    need("cwebp", "dwebp")
    codec = make_codec("external", 90, WEBP)
    data = codec.encode(photo)
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP" and codec.extension == "webp"
    # The stored bytes are the file cwebp writes for the same PNG, nothing added or removed.
    by_hand = ["cwebp", "-quiet", "-q", "90", "{input}", "-o", "{output}"]
    assert data == _cli_output(by_hand, _png(photo), "webp", tmp_path)
    decoded = codec.decode(data, size=photo.shape[:2])
    assert decoded.shape == photo.shape and decoded.dtype == np.uint8
    assert psnr_rgb(photo, decoded) > 30
    assert len(make_codec("external", 20, WEBP).encode(photo)) < len(data)
    with Image.open(io.BytesIO(data)) as im:  # Pillow's own libwebp decoder on the stored bytes
        assert np.array_equal(np.asarray(im.convert("RGB")), decoded)


def test_cjxl_round_trip_stores_what_the_cli_writes_and_libjxl_decodes_the_same(photo, tmp_path):
    need("cjxl", "djxl")
    codec = make_codec("external", 90, JXL)
    data = codec.encode(photo)
    assert data[:2] == b"\xff\x0a"  # a bare JPEG XL codestream
    assert data == _cli_output(["cjxl", "--quiet", "-q", "90", "{input}", "{output}"], _png(photo), "jxl", tmp_path)
    decoded = codec.decode(data, size=photo.shape[:2])
    assert decoded.shape == photo.shape and psnr_rgb(photo, decoded) > 30
    assert len(make_codec("external", 30, JXL).encode(photo)) < len(data)
    imagecodecs = pytest.importorskip("imagecodecs")
    theirs = np.asarray(imagecodecs.jpegxl_decode(data))[..., :3]  # imagecodecs' own libjxl, not djxl
    # libjxl decodes in floats: another version (Debian's djxl 0.7, imagecodecs' libjxl 0.11) may round a sample
    # the other way, never by more than one level.
    assert theirs.shape == decoded.shape and np.abs(theirs.astype(int) - decoded).max() <= 1
    lossless = make_codec("external", 100, JXL)  # cjxl -q 100: lossless, so both decoders give the input exactly
    stream = lossless.encode(photo)
    assert np.array_equal(lossless.decode(stream, size=photo.shape[:2]), photo)
    assert np.array_equal(np.asarray(imagecodecs.jpegxl_decode(stream))[..., :3], photo)


def test_x265_from_raw_yuv420p_decoded_by_ffmpeg_crops_the_padding_back(photo):
    need("x265")
    assert photo.shape[0] % 2 and photo.shape[1] % 2  # odd sides: padded for 4:2:0, cropped after decoding
    codec = make_codec("external", 22, _x265())
    data = codec.encode(photo)
    assert data[:4] == b"\x00\x00\x00\x01"  # an Annex B HEVC stream
    decoded = codec.decode(data, size=photo.shape[:2])
    assert decoded.shape == photo.shape and psnr_rgb(photo, decoded) > 30
    assert len(make_codec("external", 37, _x265()).encode(photo)) < len(data)


def test_lossless_x265_gives_back_exactly_the_pinned_yuv420p_conversion(photo):
    """With a lossless coder in between, all that changes the pixels is this codec's own RGB -> YUV -> RGB."""
    need("x265")
    codec = make_codec("external", 0, _x265(lossless=True))
    decoded = codec.decode(codec.encode(photo), size=photo.shape[:2])
    padded = pad_even(photo)
    height, width = padded.shape[:2]
    planes = rgb_to_yuv(padded, "yuv420p", "bt709", "limited")
    expected = yuv_to_rgb(planes, width, height, "yuv420p", "bt709", "limited")[: photo.shape[0], : photo.shape[1]]
    assert np.array_equal(decoded, expected)


# ---- the pinned RGB <-> Y'CbCr conversion -----------------------------------------------------------------------

# 8-bit limited-range code values (Y', Cb, Cr) of the primaries, as tabulated for BT.601 and BT.709.
SPEC_VALUES = {
    "bt601": {"black": (16, 128, 128), "white": (235, 128, 128), "red": (81, 90, 240), "green": (145, 54, 34),
              "blue": (41, 240, 110)},
    "bt709": {"black": (16, 128, 128), "white": (235, 128, 128), "red": (63, 102, 240), "green": (173, 42, 26),
              "blue": (32, 240, 118)},
}  # fmt: skip
COLOURS = {"black": (0, 0, 0), "white": (255, 255, 255), "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
# Y'CbCr from R'G'B' (0..1) as the standards print them: BT.601's (JFIF's) and BT.709's rows, rounded to 6 places.
PRINTED_ROWS = {
    "bt601": [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    "bt709": [[0.2126, 0.7152, 0.0722], [-0.114572, -0.385428, 0.5], [0.5, -0.454153, -0.045847]],
}


def _planes(image: np.ndarray, matrix: str, value_range: str) -> np.ndarray:
    """Our 4:4:4 planes as an HxWx3 array of (Y', Cb, Cr)."""
    height, width = image.shape[:2]
    data = np.frombuffer(rgb_to_yuv(image, "yuv444p", matrix, value_range), np.uint8)
    return data.reshape(3, height, width).transpose(1, 2, 0)


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_the_primaries_get_the_standards_limited_range_code_values(matrix):
    image = np.array([[COLOURS[name] for name in SPEC_VALUES[matrix]]], np.uint8)
    assert [tuple(int(v) for v in px) for px in _planes(image, matrix, "limited")[0]] == list(
        SPEC_VALUES[matrix].values()
    )


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("value_range", ["limited", "full"])
def test_the_conversion_is_the_printed_matrix_and_round_trips_within_its_quantisation(matrix, value_range):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    luma_offset, luma_scale, chroma_scale = (16, 219, 224) if value_range == "limited" else (0, 255, 255)
    ycbcr = (image.astype(np.float64) / 255.0) @ np.array(PRINTED_ROWS[matrix]).T
    expected = np.stack(
        [
            luma_offset + luma_scale * ycbcr[..., 0],
            128 + chroma_scale * ycbcr[..., 1],
            128 + chroma_scale * ycbcr[..., 2],
        ],
        axis=-1,
    )
    expected = np.clip(np.floor(expected + 0.5), 0, 255)
    ours = _planes(image, matrix, value_range).astype(np.float64)
    assert np.abs(ours - expected).max() <= 1  # the printed rows are rounded to 6 places
    assert (ours == expected).mean() > 0.999
    # Back to RGB: the 8-bit Y'CbCr grid costs at most 2 levels in limited range, 1 in full (checked on all 2^24
    # colours when the bounds were set; a sample here).
    back = yuv_to_rgb(rgb_to_yuv(image, "yuv444p", matrix, value_range), 128, 96, "yuv444p", matrix, value_range)
    assert np.abs(back.astype(int) - image).max() <= (2 if value_range == "limited" else 1)
    for name, rgb in COLOURS.items():  # black, white and the primaries come back within one level
        pixel = np.array([[rgb]], np.uint8)
        again = yuv_to_rgb(rgb_to_yuv(pixel, "yuv444p", matrix, value_range), 1, 1, "yuv444p", matrix, value_range)
        assert np.abs(again.astype(int) - pixel).max() <= 1, name


def test_yuv420p_averages_chroma_and_a_flat_image_comes_back_as_with_444():
    image = np.zeros((4, 6, 3), np.uint8)
    image[:, :3] = (255, 0, 0)  # red left half, blue right half: chroma blocks do not straddle the edge
    image[:, 3:] = (0, 0, 255)
    data = np.frombuffer(rgb_to_yuv(image, "yuv420p", "bt709", "limited"), np.uint8)
    assert len(data) == 4 * 6 + 2 * 2 * 3
    cb = data[24:30].reshape(2, 3)
    # The middle 2x2 block averages red's and blue's unrounded Cb: (102.34 + 240) / 2 = 171.17.
    assert list(cb[0]) == [102, 171, 240] and list(cb[1]) == [102, 171, 240]
    with pytest.raises(ValueError, match="yuv420p needs even sides, got 5x4"):
        rgb_to_yuv(image[:, :5], "yuv420p", "bt709", "limited")
    flat = np.full((5, 7, 3), (30, 160, 90), np.uint8)
    padded = pad_even(flat)
    assert padded.shape == (6, 8, 3)
    via_420 = yuv_to_rgb(rgb_to_yuv(padded, "yuv420p", "bt601", "full"), 8, 6, "yuv420p", "bt601", "full")
    via_444 = yuv_to_rgb(rgb_to_yuv(padded, "yuv444p", "bt601", "full"), 8, 6, "yuv444p", "bt601", "full")
    assert np.array_equal(via_420, via_444)


# ---- version, errors, config checks ----------------------------------------------------------------------------


def test_the_version_is_the_first_line_the_version_command_prints():
    need("cwebp")
    first_line = subprocess.run(["cwebp", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    codec = make_codec("external", 50, WEBP)
    assert codec.version() == first_line.strip()
    # Without a version command: the encoder's path and its file's sha256, so a replaced binary shows.
    bare = make_codec("external", 50, {**WEBP, "version_command": []})
    program = os.path.abspath(shutil.which("cwebp"))
    assert bare.version() == f"{program} sha256:{hashlib.sha256(Path(program).read_bytes()).hexdigest()[:16]}"
    assert "external" in get_codec_class("external").version()  # the class alone knows no binary


def test_a_missing_binary_is_named_with_what_to_do(photo):
    codec = make_codec("external", 22, {**WEBP, "encode": ["no-such-encoder-xyz", "{input}", "{output}", "{quality}"]})
    with pytest.raises(CodecError, match=r"program 'no-such-encoder-xyz' not found: install it, or give its full path"):
        codec.encode(photo)


def test_a_failing_command_names_its_exit_code_command_line_and_stderr(photo):
    script = "echo 'broken at quality {quality}' >&2; exit 3"
    codec = make_codec("external", 22, {**WEBP, "encode": ["sh", "-c", script, "sh", "{input}", "{output}"]})
    with pytest.raises(CodecError) as error:
        codec.encode(photo)
    message = str(error.value)
    assert "encode: exit code 3" in message and "broken at quality 22" in message
    assert "command: " in message and "exit 3" in message and "input.png" in message


def test_a_decoder_that_writes_nothing_or_the_wrong_size_fails_naming_it(photo):
    need("cwebp", "dwebp")
    data = make_codec("external", 50, WEBP).encode(photo)
    silent = make_codec("external", 50, {**WEBP, "decode": ["true", "{input}", "{output}"]})
    with pytest.raises(CodecError, match=r"decode: the decoder exited with 0 but wrote no image"):
        silent.decode(data, size=photo.shape[:2])
    resized = make_codec(
        "external", 50, {**WEBP, "decode": ["dwebp", "-quiet", "-resize", "10", "12", "{input}", "-o", "{output}"]}
    )
    with pytest.raises(CodecError, match=rf"wrote a 10x12 image, expected {photo.shape[1]}x{photo.shape[0]}"):
        resized.decode(data, size=photo.shape[:2])


def _config(entry: dict, key: str = "vtm_intra") -> dict:
    return {"datasets": {"photos": {"source": "builtin"}}, "codecs": {"jpeg": {"qualities": [50]}, key: entry}}


def _refusal(config: dict) -> str:
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    return str(error.value)


def test_templates_without_the_placeholders_they_need_are_config_errors_naming_the_option():
    encode = ["cwebp", "-q", "{quality}", "{input}"]  # no {output}
    message = _refusal(_config({"codec": "external", "qualities": [50], "options": {**WEBP, "encode": encode}}))
    assert "codecs.vtm_intra.options.encode: " in message
    assert "the encode command needs {output} in one of its arguments" in message
    decode = ["dwebp", "{input}", "-o", "{output}", "-q", "{quality}"]  # a decoder gets no quality
    message = _refusal(_config({"codec": "external", "qualities": [50], "options": {**WEBP, "decode": decode}}))
    assert "codecs.vtm_intra.options.decode[5]: '{quality}' does not match" in message
    assert "placeholders: {input}, {output}, {width}, {height}" in message
    typo = ["cwebp", "-q", "{qp}", "{input}", "-o", "{output}"]
    message = _refusal(_config({"codec": "external", "qualities": [50], "options": {**WEBP, "encode": typo}}))
    assert "codecs.vtm_intra.options.encode[2]: '{qp}' does not match" in message
    assert "the encode command needs {quality}" in message
    # The codec itself refuses the same, for one made outside a validated config.
    with pytest.raises(ValueError, match=r"codec 'external': option 'encode' .* lacks \{output\}"):
        make_codec("external", 50, {**WEBP, "encode": encode})
    with pytest.raises(ValueError, match=r"option 'encode' must be a command"):
        make_codec("external", 50, {**WEBP, "encode": []})  # the default: a config must give its commands


def test_several_external_codecs_are_declared_under_their_own_ids():
    cfg = validate_config(_config({"codec": "external", "qualities": [22, 27], "options": WEBP}))
    assert registry_name(cfg, "vtm_intra") == "external" and codec_keeps_decoded(cfg, "vtm_intra")
    settings = codec_job_settings(cfg, "vtm_intra")
    assert settings["codec"] == "external" and settings["options"]["input_format"] == "png"  # defaults filled
    assert settings["options"]["encode"] == WEBP["encode"]
    assert "codecs.vtm_intra.codec: 'externl' is not one of ['original'," in _refusal(
        _config({"codec": "externl", "qualities": [22]})
    )
    message = _refusal(_config({"codec": "external", "qualities": [22], "options": {**WEBP, "colour": "bt2020"}}))
    assert "codecs.vtm_intra.options.colour: 'bt2020' is not one of ['bt601', 'bt709']" in message


def test_the_example_config_validates_without_the_reference_binaries(project):
    cfg = validate_config(yaml.safe_load((project / "configs" / "external_vtm.yaml").read_text()))
    external = [codec for codec in cfg["codecs"] if registry_name(cfg, codec) == "external"]
    assert "vtm_intra" in external and "cwebp_cli" in external
    vtm = cfg["codecs"]["vtm_intra"]
    assert vtm["qualities"] == [22, 27, 32, 37] and vtm["options"]["input_format"] == "yuv420p"
    assert (vtm["options"]["colour"], vtm["options"]["range"]) == ("bt709", "limited")
    assert "--InputBitDepth=8" in vtm["options"]["encode"] and "--OutputBitDepth=8" in vtm["options"]["encode"]
    for codec in external:  # every template is one the codec accepts
        make_codec("external", cfg["codecs"][codec]["qualities"][0], cfg["codecs"][codec]["options"])


# ---- through the compression stage ------------------------------------------------------------------------------


def test_a_point_coded_by_the_compression_stage_stores_the_cli_bitstreams_and_checks_decoded_pixels(photo, tmp_path):
    need("cwebp", "dwebp")
    manifest = prepared_images(tmp_path / "photos", [photo[:48, :64], photo[40:97, 20:81]])
    rates, quality = compress_point(manifest, "external", 75, WEBP, tmp_path / "kept", ["psnr_rgb"])
    version = make_codec("external", 75, WEBP).version()
    assert list(rates.codec_version) == [version, version]  # the binary's version, not the class's
    assert (tmp_path / "kept" / "decoded").is_dir()  # one process per image to decode again: kept
    for row in rates.itertuples():
        stream = tmp_path / "kept" / "bitstreams" / row.bitstream
        assert row.bitstream.endswith(".webp") and stream.stat().st_size == row.bytes
        assert row.bpp == pytest.approx(row.bytes * 8 / (row.width * row.height))
        assert hashlib.sha256(stream.read_bytes()).hexdigest() == row.bitstream_sha256
        kept = read_rgb(tmp_path / "kept" / "decoded" / f"{row.image_id}.png")
        assert pixels_sha256(kept) == row.decoded_sha256
        with Image.open(stream) as im:  # an independent decoder gives the recorded pixels
            assert pixels_sha256(np.asarray(im.convert("RGB"))) == row.decoded_sha256
    assert (quality.psnr_rgb > 25).all()
    # Without the kept images, the pixels are decoded again by dwebp and checked against the recorded hash.
    derived, _ = compress_point(manifest, "external", 75, WEBP, tmp_path / "derived", keep_decoded=False)
    images = PointImages(Point(75, tmp_path / "derived", {"codec": "external", "options": WEBP}), derived)
    for index in range(len(images)):
        assert pixels_sha256(images[index]) == derived.decoded_sha256[index] == rates.decoded_sha256[index]
    stream = tmp_path / "derived" / "bitstreams" / derived.bitstream[1]
    compress_point(manifest, "external", 20, WEBP, tmp_path / "q20", keep_decoded=False)
    stream.write_bytes((tmp_path / "q20" / "bitstreams" / derived.bitstream[1]).read_bytes())  # valid, other pixels
    with pytest.raises(CodecError, match="image 'im1': decoding .*im1.webp gives other pixels than when the point"):
        images[1]
    stream.write_bytes((tmp_path / "derived" / "bitstreams" / derived.bitstream[0]).read_bytes())  # another size
    with pytest.raises(CodecError, match=r"decoder wrote a 64x48 image, expected 61x57"):
        images[1]
