"""Any reference encoder and decoder that runs as a command (VTM, HM, VVenC, BPG, JPEG AI's reference software,
cwebp, cjxl): the config gives a command template for each, and the codec runs them on files in a temporary folder.

The stored bitstream is the file the encoder writes, byte for byte; decoding runs the decoder on those bytes and
reads back what it writes. Raw Y'CbCr input and output are converted from and to RGB here, in numpy, so that the
conversion is pinned (:func:`rgb_to_yuv` and :func:`yuv_to_rgb`) rather than left to each tool.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
import shutil
import string
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..io import check_rgb
from . import register_codec
from .base import Codec, CodecError

# ---- the pinned RGB <-> Y'CbCr conversion ----------------------------------------------------------------------

# (Kr, Kb) of each matrix: ITU-R BT.601-7 (item 2.5.1) and BT.709-6 (item 3.2); Kg = 1 - Kr - Kb.
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
# (luma offset, luma scale, chroma scale) of 8-bit code values: limited ("video", "studio") range puts black at 16
# and white at 235 with chroma 16..240 (BT.601/BT.709 quantisation); full range uses 0..255 for all three, as JFIF
# and ITU-T H.273 with video_full_range_flag = 1 do. Chroma is centred on 128 in both.
RANGES = {"limited": (16.0, 219.0, 224.0), "full": (0.0, 255.0, 255.0)}
YUV_FORMATS = ("yuv420p", "yuv444p")
IMAGE_FORMATS = ("png", "ppm")


def _quantise(values: np.ndarray) -> np.ndarray:
    """Round half up (floor(x + 0.5)) and clip to 0..255: the same integer on every machine, unlike np.round's
    half-to-even whose ties depend on the exact float."""
    return np.clip(np.floor(values + 0.5), 0, 255).astype(np.uint8)


def _ycbcr(image: np.ndarray, matrix: str, value_range: str) -> np.ndarray:
    """Unrounded 8-bit Y', Cb, Cr code values (float64 HxWx3) of a uint8 RGB image."""
    kr, kb = MATRICES[matrix]
    offset, luma_scale, chroma_scale = RANGES[value_range]
    rgb = image.astype(np.float64) / 255.0
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = kr * red + (1.0 - kr - kb) * green + kb * blue
    cb = (blue - luma) / (2.0 * (1.0 - kb))
    cr = (red - luma) / (2.0 * (1.0 - kr))
    return np.stack([offset + luma_scale * luma, 128.0 + chroma_scale * cb, 128.0 + chroma_scale * cr], axis=-1)


def rgb_to_yuv(image: np.ndarray, pixel_format: str, matrix: str, value_range: str) -> bytes:
    """A raw 8-bit planar Y'CbCr frame (Y, then Cb, then Cr, no header) of a uint8 RGB image.

    yuv420p averages each 2x2 block of the unrounded chroma (chroma sited at the block's centre, as JFIF does) and
    needs even sides (:func:`pad_even`); yuv444p keeps every sample. All values round half up.
    """
    ycbcr = _ycbcr(image, matrix, value_range)
    chroma = ycbcr[..., 1:]
    if pixel_format == "yuv420p":
        height, width = image.shape[:2]
        if height % 2 or width % 2:
            raise ValueError(f"yuv420p needs even sides, got {width}x{height} (pad first)")
        chroma = chroma.reshape(height // 2, 2, width // 2, 2, 2).mean(axis=(1, 3))
    planes = [ycbcr[..., 0], chroma[..., 0], chroma[..., 1]]
    return b"".join(_quantise(plane).tobytes() for plane in planes)


def _upsample_twice(plane: np.ndarray, axis: int) -> np.ndarray:
    """Centre-sited chroma doubled along ``axis`` by the triangle filter (3/4 of the nearer sample, 1/4 of the
    farther; the edge sample repeated), the inverse siting of the 2x2 average."""
    before = np.concatenate([np.take(plane, [0], axis), np.take(plane, range(plane.shape[axis] - 1), axis)], axis)
    after = np.concatenate([np.take(plane, range(1, plane.shape[axis]), axis), np.take(plane, [-1], axis)], axis)
    even, odd = 0.75 * plane + 0.25 * before, 0.75 * plane + 0.25 * after
    return np.stack([even, odd], axis=axis + 1).reshape(*plane.shape[:axis], -1, *plane.shape[axis + 1 :])


def yuv_frame_bytes(pixel_format: str, width: int, height: int) -> int:
    """Bytes of one raw 8-bit frame: a full luma plane and two chroma planes (4:2:0: half each side, rounded up)."""
    if pixel_format == "yuv420p":
        return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
    return 3 * width * height


def yuv_to_rgb(data: bytes, width: int, height: int, pixel_format: str, matrix: str, value_range: str) -> np.ndarray:
    """The uint8 RGB image of a raw 8-bit planar Y'CbCr frame, by the inverse of :func:`rgb_to_yuv`'s matrix
    (4:2:0 chroma upsampled by :func:`_upsample_twice` first); rounds half up and clips to 0..255."""
    expected = yuv_frame_bytes(pixel_format, width, height)
    if len(data) != expected:
        raise ValueError(f"a {width}x{height} 8-bit {pixel_format} frame has {expected} bytes, got {len(data)}")
    samples = np.frombuffer(data, np.uint8).astype(np.float64)
    luma = samples[: width * height].reshape(height, width)
    chroma_width, chroma_height = (
        (width, height) if pixel_format == "yuv444p" else ((width + 1) // 2, (height + 1) // 2)
    )
    chroma = samples[width * height :].reshape(2, chroma_height, chroma_width)
    if pixel_format == "yuv420p":
        chroma = _upsample_twice(_upsample_twice(chroma, 1), 2)[:, :height, :width]
    kr, kb = MATRICES[matrix]
    offset, luma_scale, chroma_scale = RANGES[value_range]
    y = (luma - offset) / luma_scale
    cb, cr = (chroma - 128.0) / chroma_scale
    red = y + 2.0 * (1.0 - kr) * cr
    blue = y + 2.0 * (1.0 - kb) * cb
    green = (y - kr * red - kb * blue) / (1.0 - kr - kb)
    return _quantise(255.0 * np.stack([red, green, blue], axis=-1))


def pad_even(image: np.ndarray) -> np.ndarray:
    """The image with its last row and/or column repeated to even sides (what 4:2:0 needs)."""
    height, width = image.shape[:2]
    return np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


# ---- command templates -----------------------------------------------------------------------------------------

ENCODE_PLACEHOLDERS = ("input", "output", "quality", "width", "height")
DECODE_PLACEHOLDERS = ("input", "output", "width", "height")
ENCODE_NEEDS = ("input", "output", "quality")
DECODE_NEEDS = ("input", "output")


def _argument_pattern(placeholders: tuple[str, ...]) -> str:
    """An argument that uses only these placeholders ({{ and }} are literal braces, as in str.format)."""
    return r"^([^{}]|\{\{|\}\}|\{(" + "|".join(placeholders) + r")\})*$"


def _template_schema(what: str, placeholders: tuple[str, ...], needs: dict[str, str], description: str) -> dict:
    """The schema fragment of a command template: a list of arguments (no shell), each using only
    ``placeholders``, together naming each of ``needs`` (placeholder -> why it is needed) at least once."""
    names = ", ".join(f"{{{name}}}" for name in placeholders)
    return {
        "type": "array",
        "items": {
            "type": "string",
            "pattern": _argument_pattern(placeholders),
            "description": f"an argument of the {what} command; placeholders: {names} ({{{{ and }}}} for braces)",
        },
        "minItems": 1,
        "allOf": [
            {
                "contains": {"pattern": r"(^|[^{])\{" + name + r"\}"},
                "description": f"the {what} command needs {{{name}}} in one of its arguments: {why}",
            }
            for name, why in needs.items()
        ],
        "default": [],
        "description": description,
    }


def template_problems(option: str, template: Any, placeholders: tuple[str, ...], needs: tuple[str, ...]) -> list[str]:
    """What is wrong with a command template (the codec's own check, for a codec made outside a validated config)."""
    if not isinstance(template, list) or not template or not all(isinstance(arg, str) for arg in template):
        return [f"option {option!r} must be a command: a non-empty list of strings (program first), got {template!r}"]
    problems, used = [], set()
    for index, argument in enumerate(template):
        try:
            fields = {field for _, field, _, _ in string.Formatter().parse(argument) if field is not None}
        except ValueError as error:
            problems.append(
                f"option {option!r}, argument {index} {argument!r}: {error} (write {{{{ and }}}} for braces)"
            )
            continue
        unknown = sorted(fields - set(placeholders))
        if unknown or not re.fullmatch(_argument_pattern(placeholders), argument):
            allowed = ", ".join(f"{{{name}}}" for name in placeholders)
            problems.append(f"option {option!r}, argument {index} {argument!r}: only {allowed} may be used")
        used |= fields
    missing = [f"{{{name}}}" for name in needs if name not in used]
    if missing:
        problems.append(f"option {option!r} {template!r} lacks {', '.join(missing)}")
    return problems


def _quality_text(quality: float) -> str:
    """The quality as the command gets it: 22, not 22.0 (QPs are integers); 0.25 as is."""
    return str(int(quality)) if float(quality).is_integer() else repr(float(quality))


def _tail(text: bytes, limit: int = 2000) -> str:
    return text.decode(errors="replace").strip()[-limit:]


_INSTALL_HINT = (
    "install it, or give its full path as the first item of options.{option} (not on PATH, nor an executable file)"
)


def _resolve_program(program: str) -> str | None:
    """The absolute path of a command's program (on PATH, or a path relative to where the job started, since the
    commands themselves run in a temporary folder); None if there is no such executable."""
    found = shutil.which(program)
    return os.path.abspath(found) if found else None


@functools.cache
def _command_version(version_command: tuple[str, ...], program: str, timeout_s: float) -> str:
    """The first non-empty line the version command prints (standard output, else standard error), or without
    one the encoder program's path and the sha256 of its file; run once per process."""
    if not version_command:
        resolved = _resolve_program(program)
        if resolved is None:
            raise CodecError(f"external codec: encoder {program!r} not found: {_INSTALL_HINT.format(option='encode')}")
        digest = hashlib.sha256(Path(resolved).read_bytes()).hexdigest()
        return f"{resolved} sha256:{digest[:16]}"
    resolved = _resolve_program(version_command[0])
    if resolved is None:
        hint = _INSTALL_HINT.format(option="version_command")
        raise CodecError(f"external codec: version command's program {version_command[0]!r} not found: {hint}")
    command = [resolved, *version_command[1:]]
    with tempfile.TemporaryDirectory(prefix="codecbench-external-") as folder:
        try:
            done = subprocess.run(
                command, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise CodecError(f"external codec: {shlex.join(command)} ran longer than {timeout_s} s") from error
    # Some tools print their banner to stderr, or exit nonzero after --help/--version: the text is what counts.
    for stream in (done.stdout, done.stderr):
        lines = [line.strip() for line in stream.decode(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[0]
    raise CodecError(f"external codec: version command {shlex.join(command)} printed nothing (exit {done.returncode})")


NOTES = """\
Runs reference software that cannot be pip-installed (VTM, HM, VVenC, BPG, JPEG AI's reference software, or any
command-line encoder) from command templates in the config. Declare each encoder as its own codec with
`codec: external`, e.g.

```yaml
codecs:
  vtm_intra:
    codec: external
    qualities: [22, 27, 32, 37]          # substituted into {quality}
    options:
      encode: [/opt/vtm/bin/EncoderApp, -c, /opt/vtm/cfg/encoder_intra_vtm.cfg, -i, "{input}", -b, "{output}",
               -q, "{quality}", -wdt, "{width}", -hgt, "{height}", -fr, "1", -f, "1",
               --InputBitDepth=8, --OutputBitDepth=8, --InputChromaFormat=420]
      decode: [/opt/vtm/bin/DecoderApp, -b, "{input}", -o, "{output}", -d, "8"]
      input_format: yuv420p                # raw 8-bit 4:2:0, BT.709 limited range (colour, range)
      output_format: yuv420p
      extension: vvc
      version_command: [/opt/vtm/bin/EncoderApp, --help]   # its first line: "VVCSoftware: VTM Encoder Version ..."
  bpg:
    codec: external
    qualities: [28, 33, 38]
    options:
      encode: [bpgenc, -q, "{quality}", -o, "{output}", "{input}"]
      decode: [bpgdec, -o, "{output}", "{input}"]
```

HM (`TAppEncoder -c encoder_intra_main.cfg ...`, `TAppDecoder -b {input} -o {output} -d 8`) and VVenC
(`vvencFFapp`) take the same raw-YUV form as VTM; configs/external_vtm.yaml is a complete example.

- **Placeholders.** `encode`: `{input}` (the image file written for the encoder), `{output}` (where it must write
  the bitstream), `{quality}` (the ladder value: `22`, or `0.25` for a fractional knob), `{width}`, `{height}`;
  `decode`: `{input}` (the bitstream), `{output}` (where it must write the image), `{width}`, `{height}`. The decoder
  gets no quality: the bitstream must carry all it needs. Each argument is one item (no shell); `{{`/`}}` are
  literal braces. Commands run in a fresh temporary folder (side files such as logs are deleted with it), so give
  files other than the program as absolute paths; the program is looked up on PATH or relative to where the job
  started. A missing program, a nonzero exit, a missing output or an image of the wrong size fails the job,
  naming the command line, the exit code and the end of its standard error; `timeout_s` bounds each run.
- **Formats.** `input_format`/`output_format`: `png` or `ppm` (8-bit RGB), or raw 8-bit planar `yuv420p`/`yuv444p`
  (Y, Cb, Cr planes, no header). `{width}`/`{height}` are those of the file written: for `yuv420p` an odd side is
  padded by repeating the last row/column, and the decoded image is cropped back (its padding's bits are
  counted). A decoder writing PNG/PPM may return the image or its padded size.
- **YUV conversion**, done here in numpy (float64), never by the tool: Kr, Kb = 0.299, 0.114 (`colour: bt601`) or
  0.2126, 0.0722 (`bt709`); on R, G, B in 0..1, E'Y = Kr R + (1 - Kr - Kb) G + Kb B, E'Cb = (B - E'Y) / (2 (1 -
  Kb)), E'Cr = (R - E'Y) / (2 (1 - Kr)); `range: limited` codes Y = 16 + 219 E'Y and Cb, Cr = 128 + 224 E'C,
  `full` Y = 255 E'Y and Cb, Cr = 128 + 255 E'C. 4:2:0 averages each 2x2 block of the unrounded chroma
  (centre-sited, as JFIF); every value rounds half up (floor(x + 0.5)) and clips to 0..255. Decoding inverts the
  matrix on the decoded planes, 4:2:0 chroma first upsampled by the triangle filter (3/4 nearer + 1/4 farther
  sample, edges repeated), then rounds and clips the same way. The round trip alone costs at most 2 levels per
  RGB sample at limited range, 1 at full (4:4:4). The tool is told nothing about colour: tag its VUI yourself if
  you want it in the stream.
- **What is recorded.** The stored bitstream is the encoder's output file, byte for byte (named
  `<image>.<extension>`), counted in bpp. Each rate row's `codec_version` is the first non-empty line that
  `version_command` prints (without one: the encoder program's path and the sha256 of its file). Options
  (templates included) are part of the job's settings, so editing a command re-codes its points; a new binary at
  the same path with the same options does not: force those jobs (`snakemake --forcerun compress_ladder`).
  Decoded images are kept (`keep_decoded`), since decoding again costs a process per image.
- **Quality direction.** The knob is whatever the command makes of `{quality}`; the codec lists it as "lower is
  better" (QP-like, as VTM/HM/BPG). Only the docs read that direction: external codecs have no equal-rate points.
"""


@register_codec
class ExternalCodec(Codec):
    """Reference software run as commands, from templates in the config: see :data:`NOTES`."""

    name = "external"
    extension = "bin"  # the default of the extension option, which each instance takes
    quality_min, quality_max = -1_000_000, 1_000_000
    quality_type = float  # a QP, a quality, a distance or a target bpp: whatever the template substitutes
    higher_is_better = False  # QP-like, as VTM/HM/BPG; used only for the docs (no equal-rate points)
    quality_doc = "the number substituted into the encode template's {quality} (QP, quality or target), as given"
    description = (
        "any encoder and decoder run as commands from templates (VTM, HM, VVenC, BPG, JPEG AI's reference "
        "software, cwebp, ...); quality = the number substituted into {quality}"
    )
    notes = NOTES
    keeps_decoded = True  # decoding again costs one process per image
    parallel_images = True  # one process per image: threads code images side by side
    option_schemas = {
        "encode": _template_schema(
            "encode",
            ENCODE_PLACEHOLDERS,
            {
                "input": "the image file it reads",
                "output": "where it writes the bitstream",
                "quality": "the ladder's value",
            },
            "encoder command, program first, one item per argument (no shell); required: the default [] runs "
            "nothing. {input}: the image file (input_format), {output}: the bitstream to write, {quality}: the "
            "ladder's value, {width}/{height}: the input file's size",
        ),
        "decode": _template_schema(
            "decode",
            DECODE_PLACEHOLDERS,
            {"input": "the bitstream file it reads", "output": "where it writes the decoded image"},
            "decoder command, program first, one item per argument (no shell); required: the default [] runs "
            "nothing. {input}: the bitstream, {output}: the image to write (output_format), {width}/{height}: the "
            "coded size (no {quality}: the bitstream must carry what decoding needs)",
        ),
        "input_format": {
            "enum": [*IMAGE_FORMATS, *YUV_FORMATS],
            "default": "png",
            "description": "the file the encoder reads: 8-bit RGB png/ppm, or raw 8-bit planar yuv420p/yuv444p "
            "(converted here by colour and range; yuv420p pads odd sides by repeating the edge)",
        },
        "output_format": {
            "enum": [*IMAGE_FORMATS, *YUV_FORMATS],
            "default": "png",
            "description": "the file the decoder writes (8-bit RGB png/ppm, or raw 8-bit planar YUV read back "
            "with the same colour and range)",
        },
        "colour": {
            "enum": list(MATRICES),
            "default": "bt709",
            "description": "RGB <-> Y'CbCr matrix of raw YUV files (Kr, Kb of ITU-R BT.601 or BT.709)",
        },
        "range": {
            "enum": list(RANGES),
            "default": "limited",
            "description": "code values of raw YUV files: limited (Y' 16..235, C 16..240) or full (0..255)",
        },
        "extension": {
            "type": "string",
            "pattern": "^[A-Za-z0-9]+$",
            "maxLength": 16,
            "default": "bin",
            "description": "file extension of the stored bitstreams (e.g. vvc, hevc, bpg, webp)",
        },
        "version_command": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "command whose first non-empty output line is recorded as the codec version, e.g. "
            "[cjxl, --version]; [] records the encoder program's path and the sha256 of its file",
        },
        "timeout_s": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 600,
            "description": "seconds each encoder or decoder run may take before the job fails",
        },
    }

    def __init__(self, quality: float, **options: Any) -> None:
        super().__init__(quality, **options)
        problems = template_problems("encode", self.options["encode"], ENCODE_PLACEHOLDERS, ENCODE_NEEDS)
        problems += template_problems("decode", self.options["decode"], DECODE_PLACEHOLDERS, DECODE_NEEDS)
        for option in ("input_format", "output_format", "colour", "range"):
            allowed = self.option_schemas[option]["enum"]
            if self.options[option] not in allowed:
                problems.append(f"option {option!r} must be one of {allowed}, got {self.options[option]!r}")
        if not re.fullmatch(self.option_schemas["extension"]["pattern"], str(self.options["extension"])):
            problems.append(f"option 'extension' must be letters and digits, got {self.options['extension']!r}")
        if problems:
            raise ValueError(f"codec {self.name!r}: " + "; ".join(problems))
        self.extension = self.options["extension"]  # type: ignore[misc]  # the bitstream files' extension
        # The instance reports its binary's version (the class cannot: it has no options); compress writes it into
        # each rate row's codec_version through last_encode_info.
        self.version = self.binary_version  # type: ignore[method-assign]
        self.last_encode_info: dict[str, Any] = {}

    @classmethod
    def version(cls) -> str:
        return "external commands (each rate row's codec_version names the configured binary's version)"

    def binary_version(self) -> str:
        """The configured binary's version: the first line of ``version_command``'s output (see :data:`NOTES`)."""
        return _command_version(
            tuple(self.options["version_command"]), self.options["encode"][0], float(self.options["timeout_s"])
        )

    def describe(self) -> str:
        program = Path(self.options["encode"][0]).name if self.options["encode"] else "?"
        return f"{self.name} quality={_quality_text(self.quality)} ({program})"

    def _run(self, option: str, values: dict[str, str], folder: str) -> None:
        """Run the ``option`` template with ``values`` in ``folder``; a failure is a :class:`CodecError` naming the
        command line, its exit code and the end of its standard error."""
        template = self.options[option]
        program = _resolve_program(template[0])
        if program is None:
            hint = _INSTALL_HINT.format(option=option)
            raise CodecError(f"{self.describe()} {option}: program {template[0]!r} not found: {hint}")
        command = [program, *(argument.format(**values) for argument in template[1:])]
        timeout_s = float(self.options["timeout_s"])
        try:
            done = subprocess.run(
                command, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise CodecError(
                f"{self.describe()} {option}: ran longer than timeout_s={timeout_s:g} s\ncommand: {shlex.join(command)}"
            ) from error
        except OSError as error:  # not executable, a bad interpreter line, ...
            raise CodecError(f"{self.describe()} {option}: cannot run {program!r}: {error}") from error
        if done.returncode != 0:
            # Some reference tools (VTM, HM) report errors on standard output: show it when stderr is silent.
            stream, message = ("stderr", _tail(done.stderr)) if done.stderr.strip() else ("stdout", _tail(done.stdout))
            raise CodecError(
                f"{self.describe()} {option}: exit code {done.returncode}\ncommand: {shlex.join(command)}\n"
                f"{stream} (end): {message or '(nothing)'}"
            )

    def encode(self, image: np.ndarray) -> bytes:
        check_rgb(image)
        input_format = self.options["input_format"]
        coded = pad_even(image) if input_format == "yuv420p" else image
        height, width = coded.shape[:2]
        with tempfile.TemporaryDirectory(prefix="codecbench-external-") as folder:
            source = Path(folder) / f"input.{'yuv' if input_format in YUV_FORMATS else input_format}"
            if input_format in YUV_FORMATS:
                source.write_bytes(rgb_to_yuv(coded, input_format, self.options["colour"], self.options["range"]))
            elif input_format == "png":  # zlib level 1: lossless at every level, and quick for large images
                Image.fromarray(coded, "RGB").save(source, format="PNG", compress_level=1)
            else:
                Image.fromarray(coded, "RGB").save(source, format="PPM")
            stream = Path(folder) / f"bitstream.{self.extension}"
            values = {"input": str(source), "output": str(stream), "quality": _quality_text(self.quality)}
            self._run("encode", {**values, "width": str(width), "height": str(height)}, folder)
            if not stream.is_file() or stream.stat().st_size == 0:
                raise CodecError(
                    f"{self.describe()} encode: the encoder exited with 0 but wrote no bitstream to {{output}} "
                    f"({stream.name}); check options.encode"
                )
            data = stream.read_bytes()
        self.last_encode_info = {"codec_version": self.version()}
        return data

    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        output_format = self.options["output_format"]
        if size is None and (output_format in YUV_FORMATS or self._decode_uses_size()):
            raise CodecError(f"{self.describe()} decode: needs the image size (raw YUV output or {{width}}/{{height}})")
        if size is not None:
            size = (int(size[0]), int(size[1]))
        coded = size
        if size is not None and self.options["input_format"] == "yuv420p":
            coded = (size[0] + size[0] % 2, size[1] + size[1] % 2)
        with tempfile.TemporaryDirectory(prefix="codecbench-external-") as folder:
            stream = Path(folder) / f"bitstream.{self.extension}"
            stream.write_bytes(data)
            target = Path(folder) / f"decoded.{'yuv' if output_format in YUV_FORMATS else output_format}"
            values = {"input": str(stream), "output": str(target)}
            if coded is not None:
                values.update(width=str(coded[1]), height=str(coded[0]))
            self._run("decode", values, folder)
            if not target.is_file() or target.stat().st_size == 0:
                raise CodecError(
                    f"{self.describe()} decode: the decoder exited with 0 but wrote no image to {{output}} "
                    f"({target.name}); check options.decode"
                )
            decoded = self._read_decoded(target, coded)
        if size is not None:
            height, width = size
            allowed = {size, coded}
            if decoded.shape[:2] not in allowed:
                raise CodecError(
                    f"{self.describe()} decode: the decoder wrote a {decoded.shape[1]}x{decoded.shape[0]} image, "
                    f"expected {width}x{height}" + (f" (or {coded[1]}x{coded[0]} padded)" if coded != size else "")
                )
            decoded = decoded[:height, :width]
        return np.ascontiguousarray(decoded)

    def _decode_uses_size(self) -> bool:
        return any("{width}" in argument or "{height}" in argument for argument in self.options["decode"])

    def _read_decoded(self, path: Path, coded: tuple[int, int] | None) -> np.ndarray:
        output_format = self.options["output_format"]
        if output_format in YUV_FORMATS:
            assert coded is not None  # checked by decode
            try:
                return yuv_to_rgb(
                    path.read_bytes(), coded[1], coded[0], output_format, self.options["colour"], self.options["range"]
                )
            except ValueError as error:
                raise CodecError(
                    f"{self.describe()} decode: {error} (does the decoder write 8-bit samples? e.g. VTM/HM: -d 8)"
                ) from error
        try:
            with Image.open(path) as im:
                im.load()
                mode = im.mode
                pixels = np.asarray(im)
        except (OSError, ValueError) as error:
            raise CodecError(f"{self.describe()} decode: cannot read the decoder's {output_format}: {error}") from error
        if mode == "RGBA" and np.all(pixels[..., 3] == 255):
            pixels = pixels[..., :3]  # an opaque alpha channel carries nothing
        elif mode != "RGB":
            raise CodecError(
                f"{self.describe()} decode: the decoder wrote a {mode} image; make it write 8-bit RGB {output_format}"
            )
        return np.asarray(pixels, dtype=np.uint8)
