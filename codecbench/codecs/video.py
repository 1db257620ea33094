"""Video codecs that code whole clips (inter prediction included) through the ffmpeg that imageio-ffmpeg ships.

Colour handling is that of :mod:`codecbench.codecs.ffmpeg` (same filters, imported from there): RGB is converted to
Y'CbCr with the BT.601 matrix at full range, subsampled to ``pix_fmt`` (``yuv420p`` by default) and tagged so;
decoding inverts the same conversion. Frames with odd sides are padded by repeating the last row/column (4:2:0 needs
even sides) and cropped back after decoding; the padding's bits are counted.

Lossless modes (option ``lossless``) never leave RGB, so that the clip decodes bit-exactly: x264 codes RGB itself
(libx264rgb, High 4:4:4 Predictive, ``-qp 0``), x265, libvpx-vp9 and libaom code planar RGB (``gbrp``, identity
matrix) losslessly. RGB -> Y'CbCr -> RGB at 8 bits is not a bijection, so a lossless 4:4:4 Y'CbCr stream would
not be exact; SVT-AV1 takes only 4:2:0 input and therefore rejects ``lossless``. In lossless mode the quality
value, ``rate_control`` and ``pix_fmt`` are ignored (the quality must still lie in the knob's range).

The stored file is the whole container (MP4 for H.264, HEVC and AV1, WebM for VP9) as a user would keep it, so
its container bytes are counted; :class:`~codecbench.codecs.base.EncodedSequence` also lists each frame's packet
bytes (display order) and picture type, which ffmpeg reads back from the file: packet sizes from the ``framemd5``
muxer with stream copy, picture types from the decoder via the ``showinfo`` filter.

Reproducibility: every encoder runs single-threaded (``-threads 1`` / ``pools=none:frame-threads=1`` for x265 /
``lp=1`` for SVT-AV1, row multi-threading off), so a clip codes to the same bytes on any machine with the same
ffmpeg build, and the muxers write no library version (``-fflags +bitexact``). Frames are fed at ``fps`` and muxed
with ``-fps_mode passthrough``: one coded frame per input frame, none duplicated or dropped. Timings include
starting ffmpeg (about 20-50 ms per call) and reading the file back once for the per-frame table.
"""

from __future__ import annotations

import functools
import re
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..io import check_rgb
from . import register_codec
from .base import CodecError, EncodedSequence, SequenceCodec, schema_ref
from .ffmpeg import TO_RGB, TO_YUV, ffmpeg_version, piped_output, run_ffmpeg

RATE_CONTROLS = ("crf", "qp", "bitrate")
BITRATE_RANGE_KBPS = (1, 1_000_000)
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
# showinfo's picture types -> the I/P/B of EncodedSequence (switching/GMC/BI types are rare in these codecs).
_PICTURE_TYPES = {"I": "I", "SI": "I", "P": "P", "SP": "P", "S": "P", "B": "B", "BI": "B"}
_SHOWINFO = re.compile(r"Parsed_showinfo.*?\bn:\s*(\d+)\b.*?\btype:(\S+)")


@functools.cache
def encoder_pixel_formats(encoder: str) -> tuple[str, ...]:
    """The pixel formats ``encoder`` accepts, as ``ffmpeg -h encoder=...`` lists them."""
    out, _ = run_ffmpeg(["-h", f"encoder={encoder}"], f"ffmpeg -h encoder={encoder}", loglevel="quiet")
    match = re.search(r"Supported pixel formats:(.*)", out.decode(errors="replace"))
    return tuple(match.group(1).split()) if match else ()


def frame_rate(fps: float) -> str:
    """``fps`` as the exact fraction ffmpeg takes (29.97002997... -> 30000/1001)."""
    if not fps > 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def check_frames(frames: list[np.ndarray]) -> tuple[int, int]:
    if len(frames) == 0:
        raise ValueError("a clip needs at least one frame")
    for frame in frames:
        check_rgb(frame)
    shapes = {frame.shape for frame in frames}
    if len(shapes) != 1:
        raise ValueError(f"all frames of a clip must have the same size, got {sorted(shapes)}")
    height, width = frames[0].shape[:2]
    return height, width


def _split_ppm(stream: bytes, what: str) -> list[np.ndarray]:
    """The images of a concatenated binary PPM stream (what ffmpeg's ppm encoder writes to image2pipe)."""
    images, pos = [], 0
    header = re.compile(rb"P6\s+(\d+)\s+(\d+)\s+255\s")
    while pos < len(stream):
        match = header.match(stream, pos)
        if match is None:
            raise CodecError(f"{what}: unreadable PPM frame at byte {pos}")
        width, height = int(match.group(1)), int(match.group(2))
        start, end = match.end(), match.end() + width * height * 3
        if end > len(stream):
            raise CodecError(f"{what}: truncated PPM frame at byte {pos}")
        images.append(np.frombuffer(stream, np.uint8, width * height * 3, start).reshape(height, width, 3).copy())
        pos = end
    return images


class FfmpegVideoCodec(SequenceCodec):
    """A clip coded by one ffmpeg encoder into a container file.

    The quality knob depends on option ``rate_control``: ``"crf"`` (default; constant rate factor, lower is
    better), ``"qp"`` (constant quantizer, lower is better) or ``"bitrate"`` (target kbit/s, higher is better; one
    pass, the encoder's average-bitrate mode). The class attributes give the CRF range, which every encoder here
    shares with its QP range; with ``bitrate`` an instance sets its own ``quality_min``/``quality_max``/
    ``higher_is_better``.
    """

    encoder: ClassVar[str]
    lossless_encoder: ClassVar[str]  # for x264 the RGB variant; the same encoder otherwise
    decoder: ClassVar[str]
    container: ClassVar[str]  # ffmpeg muxer
    lossless_pix_fmt: ClassVar[str | None] = "gbrp"  # None: cannot be bit-exact in RGB
    higher_is_better = False
    # Why ROI side data (ffmpeg's addroi) does not reach this encoder at these options, or None when it does
    # (codecbench.roi's qp_offset strategy); an instance's addroi chain for the next clip is roi_filter.
    roi_filter = ""

    @classmethod
    def roi_problem(cls, options: dict[str, Any]) -> str | None:
        if options.get("lossless"):
            return "a lossless encode has no quantiser to offset"
        return None

    # The options every video codec has; subclasses add their speed settings.
    option_schemas = {
        "rate_control": schema_ref("rate_control"),
        "gop": schema_ref("gop"),
        "pix_fmt": schema_ref("pix_fmt"),
        "lossless": schema_ref("lossless"),
    }

    @classmethod
    def schema_entry(cls) -> dict[str, Any]:
        """A codec's entry whose ladder depends on ``rate_control``: CRFs or QPs in the class's range, or target
        kbit/s in :data:`BITRATE_RANGE_KBPS` with ``rate_control: bitrate``; no equal-rate points."""
        entry = super().schema_entry()
        entry["properties"]["qualities"] = schema_ref("video_ladder")
        bitrate = {"properties": {"rate_control": {"const": "bitrate"}}, "required": ["rate_control"]}
        low, high = BITRATE_RANGE_KBPS
        kbps = {"type": "integer", "minimum": low, "maximum": high}
        entry["if"] = {"required": ["options"], "properties": {"options": bitrate}}
        entry["then"] = {"properties": {"qualities": {"items": kbps}}}
        entry["else"] = {"properties": {"qualities": {"items": cls.ladder_items()}}}
        return entry

    def __init__(self, quality: float, **options: Any) -> None:
        rate_control = options.get("rate_control", self.default_options["rate_control"])
        if rate_control not in RATE_CONTROLS:
            raise ValueError(
                f"codec {self.name!r}: rate_control must be one of {list(RATE_CONTROLS)}, got {rate_control!r}"
            )
        if rate_control == "bitrate":
            self.quality_min, self.quality_max = BITRATE_RANGE_KBPS
            self.higher_is_better = True
        super().__init__(quality, **options)
        self.rate_control = rate_control
        self.check_options(set(options))

    @property
    def quality_meaning(self) -> str:
        return {"crf": "CRF", "qp": "QP", "bitrate": "kbit/s"}[self.rate_control]

    def check_options(self, given: set[str]) -> None:
        """ValueError naming the codec for a bad option value; ``given`` are those the caller set."""
        opts = self.options
        gop = opts["gop"]
        if isinstance(gop, bool) or not isinstance(gop, int) or gop < 1:
            raise ValueError(f"codec {self.name!r}: gop must be a keyframe interval >= 1 frame, got {gop!r}")
        if not isinstance(opts["lossless"], bool):
            raise ValueError(f"codec {self.name!r}: lossless must be true or false, got {opts['lossless']!r}")
        if opts["lossless"]:
            if self.lossless_pix_fmt is None:
                raise ValueError(
                    f"codec {self.name!r} ({self.active_encoder()}): no lossless mode that decodes bit-exactly to RGB"
                )
        elif not re.fullmatch(r"yuv4[024][024]p(1[02]le)?", str(opts["pix_fmt"])):
            raise ValueError(
                f"codec {self.name!r}: pix_fmt must be a planar Y'CbCr format such as yuv420p or yuv444p, got "
                f"{opts['pix_fmt']!r} (RGB is coded by lossless=true)"
            )
        elif opts["pix_fmt"] not in encoder_pixel_formats(self.active_encoder()):
            encoder, formats = self.active_encoder(), " ".join(encoder_pixel_formats(self.active_encoder()))
            raise ValueError(
                f"codec {self.name!r}: {encoder} cannot code pix_fmt {opts['pix_fmt']!r} (it takes {formats})"
            )

    def active_encoder(self) -> str:
        return self.lossless_encoder if self.options["lossless"] else self.encoder

    def rate_args(self) -> list[str]:
        """The encoder's rate-control arguments for ``self.quality`` (not used when lossless)."""
        q = str(self.quality)
        if self.rate_control == "bitrate":
            return ["-b:v", f"{q}k"]
        return self.constant_quality_args(q)

    def constant_quality_args(self, q: str) -> list[str]:
        raise NotImplementedError

    def encoder_args(self) -> list[str]:
        """Everything after ``-c:v ENCODER``: rate control or lossless mode, speed, threads."""
        raise NotImplementedError

    def pixel_args(self) -> list[str]:
        """The filter chain from padded rgb24 input to the encoder's input, and the stream's colour tags."""
        if self.options["lossless"]:
            pix_fmt = self.lossless_pix_fmt
            colour = [] if pix_fmt == "rgb24" else ["-colorspace", "rgb"]
            return ["-vf", f"format={pix_fmt}", "-pix_fmt", pix_fmt, *colour]
        pix_fmt = self.options["pix_fmt"]
        return [
            "-vf", f"{self.roi_filter}{TO_YUV},format={pix_fmt}", "-pix_fmt", pix_fmt,
            "-color_range", "pc", "-colorspace", "smpte170m",
        ]  # fmt: skip

    def describe(self) -> str:
        return super().describe().replace(" quality=", f" {self.quality_meaning}=", 1)

    def encode_sequence(self, frames: list[np.ndarray], fps: float) -> EncodedSequence:
        height, width = check_frames(frames)
        rate = frame_rate(fps)
        pad = ((0, height % 2), (0, width % 2), (0, 0))
        raw = b"".join(np.ascontiguousarray(np.pad(frame, pad, mode="edge")).tobytes() for frame in frames)
        what = f"{self.describe()} encode"
        with tempfile.TemporaryDirectory(prefix="codecbench-video-") as tmp:
            path = Path(tmp) / f"clip.{self.extension}"  # MP4 needs a seekable output to write its index
            args = [
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width + width % 2}x{height + height % 2}",
                "-framerate", rate, "-i", "pipe:", "-filter_threads", "1", "-map", "0:v:0", *self.pixel_args(),
                "-fps_mode", "passthrough",
                "-c:v", self.active_encoder(), *self.encoder_args(), "-g", str(self.options["gop"]),
                "-map_metadata", "-1", "-fflags", "+bitexact", "-f", self.container, str(path),
            ]  # fmt: skip
            run_ffmpeg(args, what, raw)
            if not path.is_file() or path.stat().st_size == 0:
                raise CodecError(f"{what}: ffmpeg wrote no file")
            data = path.read_bytes()
            frame_bytes, frame_types = self.frame_table(path, len(frames))
        return EncodedSequence(data, frame_bytes, frame_types)

    def frame_table(self, path: Path, n_frames: int) -> tuple[list[int], list[str]]:
        """Per-frame packet bytes and picture types, in display order, read back from the coded file."""
        what = f"{self.describe()} frame table"
        args = [
            "-threads", "1", "-c:v", self.decoder, "-i", str(path),
            "-map", "0:v:0", "-c", "copy", "-f", "framemd5", "pipe:1",
            "-map", "0:v:0", "-vf", "showinfo", "-fps_mode", "passthrough", "-f", "null", "-",
        ]  # fmt: skip
        out, log = run_ffmpeg(args, what, loglevel="info")
        packets = []  # (pts, size): framemd5 lines are "stream, dts, pts, duration, size, hash" in decoding order
        for line in out.decode(errors="replace").splitlines():
            if line and not line.startswith("#"):
                fields = [field.strip() for field in line.split(",")]
                packets.append((int(fields[2]), int(fields[4])))
        types = {int(n): _PICTURE_TYPES.get(kind, "") for n, kind in _SHOWINFO.findall(log)}
        if len(packets) != n_frames or sorted(types) != list(range(n_frames)):
            raise CodecError(
                f"{what}: {n_frames} frames in, but the file holds {len(packets)} packets and decodes to "
                f"{len(types)} frames"
            )
        return [size for _, size in sorted(packets)], [types[i] for i in range(n_frames)]

    def decode_sequence(self, data: bytes, size: tuple[int, int], n_frames: int) -> list[np.ndarray]:
        height, width = size
        what = f"{self.describe()} decode"
        with tempfile.TemporaryDirectory(prefix="codecbench-video-") as tmp:
            path = Path(tmp) / f"clip.{self.extension}"
            path.write_bytes(data)
            args = [
                "-threads", "1", "-filter_threads", "1", "-c:v", self.decoder, "-i", str(path), "-map", "0:v:0",
                "-vf", f"{TO_RGB},format=rgb24",
                "-fps_mode", "passthrough", "-c:v", "ppm", "-f", "image2pipe", "pipe:",
            ]  # fmt: skip
            frames = _split_ppm(piped_output(args, b"", what), what)
        if len(frames) != n_frames:
            raise CodecError(f"{what}: the stream holds {len(frames)} frames, expected {n_frames}")
        coded = (height + height % 2, width + width % 2)
        for frame in frames:
            if frame.shape[:2] != coded:
                raise CodecError(
                    f"{what}: stream frames are {frame.shape[1]}x{frame.shape[0]}, expected {coded[1]}x{coded[0]} "
                    f"(a {width}x{height} clip padded to even sides)"
                )
        return [np.ascontiguousarray(frame[:height, :width]) for frame in frames]

    @classmethod
    def version(cls) -> str:
        encoders = cls.encoder if cls.lossless_encoder == cls.encoder else f"{cls.encoder}/{cls.lossless_encoder}"
        return f"{ffmpeg_version()} encoder {encoders}, decoder {cls.decoder}, container {cls.container}"


class X26xVideo(FfmpegVideoCodec):
    """x264 and x265 share their knobs: CRF or QP 0..51 and a speed preset ("medium", their default: on 2 cores it
    codes 320x240 at real-time speed or better, so the benchmark's short clips take seconds)."""

    quality_min, quality_max = 0, 51
    option_schemas = {**FfmpegVideoCodec.option_schemas, "preset": schema_ref("x26x_preset")}

    def check_options(self, given: set[str]) -> None:
        super().check_options(given)
        if self.options["preset"] not in X26X_PRESETS:
            raise ValueError(
                f"codec {self.name!r}: preset must be one of {list(X26X_PRESETS)}, got {self.options['preset']!r}"
            )

    def constant_quality_args(self, q: str) -> list[str]:
        return ["-crf" if self.rate_control == "crf" else "-qp", q]


@register_codec
class H264Video(X26xVideo):
    name = "h264_video"
    extension = "mp4"
    encoder, lossless_encoder, decoder, container = "libx264", "libx264rgb", "h264", "mp4"
    lossless_pix_fmt = "rgb24"  # libx264rgb codes the RGB samples themselves (High 4:4:4 Predictive)
    quality_doc = (
        "x264 (MP4): rate_control crf (default) or qp: 0..51, lower is better; bitrate: target kbit/s. "
        "lossless=true: x264 RGB at QP 0, bit-exact, quality ignored"
    )
    description = (
        "video codec: ffmpeg libx264, each clip one MP4 (on an image dataset: its images as one clip); "
        "quality = CRF (or QP) 0..51, lower is better, or target kbit/s"
    )

    def encoder_args(self) -> list[str]:
        rate = ["-qp", "0"] if self.options["lossless"] else self.rate_args()
        # threads=1 also makes x264's lookahead single-threaded: the same bytes on any machine. The SEI message
        # that x264 writes into the first frame (its version and full settings as text, ~600 bytes) is dropped:
        # it is not picture data; at these settings x264 writes no other SEI.
        threads = ["-threads", "1"]
        return ["-preset", self.options["preset"], *rate, *threads, "-bsf:v", "filter_units=remove_types=6"]


@register_codec
class HevcVideo(X26xVideo):
    name = "hevc_video"
    extension = "mp4"
    encoder, lossless_encoder, decoder, container = "libx265", "libx265", "hevc", "mp4"
    quality_doc = (
        "x265 (MP4): rate_control crf (default) or qp: 0..51, lower is better; bitrate: target kbit/s. "
        "lossless=true: x265 lossless on planar RGB, bit-exact, quality ignored"
    )
    description = (
        "video codec: ffmpeg libx265, each clip one MP4; quality = CRF (or QP) 0..51, lower is better, or kbit/s"
    )

    def encoder_args(self) -> list[str]:
        # pools=none: no worker-thread pool (hence no wavefront threads); frame-threads=1: one frame at a time.
        # info=0: no SEI with x265's version and settings as text (~2.5 kB in the MP4 header), not picture data.
        params = "log-level=error:pools=none:frame-threads=1:info=0"
        rate = [] if self.options["lossless"] else self.rate_args()
        if self.options["lossless"]:
            params += ":lossless=1"
        return ["-preset", self.options["preset"], *rate, "-x265-params", params]


@register_codec
class Vp9Video(FfmpegVideoCodec):
    """libvpx-vp9 in WebM. ``cpu_used`` 4 with ``deadline`` good (libvpx's own default is cpu-used 1, several
    times slower for a few percent of rate): the speed commonly used for VOD encoding, usable on 2 cores.
    ``qp`` fixes the frame quantizer (min-q = max-q = the value) in libvpx's constant-quality mode."""

    name = "vp9_video"
    extension = "webm"
    encoder, lossless_encoder, decoder, container = "libvpx-vp9", "libvpx-vp9", "vp9", "webm"
    quality_min, quality_max = 0, 63
    quality_doc = (
        "libvpx-vp9 (WebM): rate_control crf (default) or qp: 0..63, lower is better; bitrate: target kbit/s. "
        "lossless=true: VP9 lossless on planar RGB (profile 1), bit-exact, quality ignored"
    )
    description = (
        "video codec: ffmpeg libvpx-vp9, each clip one WebM; quality = CRF (or QP) 0..63, lower is better, or kbit/s"
    )
    option_schemas = {
        **FfmpegVideoCodec.option_schemas,
        "cpu_used": {"type": "integer", "minimum": -8, "maximum": 8, "default": 4, "description": "speed; 0 = slowest"},
        "deadline": {"enum": ["good", "best", "realtime"], "default": "good"},
    }

    def check_options(self, given: set[str]) -> None:
        super().check_options(given)
        cpu_used = self.options["cpu_used"]
        if isinstance(cpu_used, bool) or not isinstance(cpu_used, int) or not -8 <= cpu_used <= 8:
            raise ValueError(f"codec {self.name!r}: cpu_used must be an integer -8..8, got {cpu_used!r}")
        if self.options["deadline"] not in ("good", "best", "realtime"):
            raise ValueError(
                f"codec {self.name!r}: deadline must be good, best or realtime, got {self.options['deadline']!r}"
            )

    def constant_quality_args(self, q: str) -> list[str]:
        fixed = ["-qmin", q, "-qmax", q] if self.rate_control == "qp" else []
        return ["-crf", q, *fixed, "-b:v", "0"]

    @classmethod
    def roi_problem(cls, options: dict[str, Any]) -> str | None:
        if options.get("deadline") != "realtime" or options.get("cpu_used", 0) < 5:
            return (
                "libvpx-vp9 applies ROI side data only with deadline realtime and cpu_used >= 5 (and adaptive "
                f"quantisation off, which the ROI encode sets); these options have deadline "
                f"{options.get('deadline')!r}, cpu_used {options.get('cpu_used')!r}"
            )
        return super().roi_problem(options)

    def encoder_args(self) -> list[str]:
        rate = ["-lossless", "1"] if self.options["lossless"] else self.rate_args()
        speed = ["-deadline", self.options["deadline"], "-cpu-used", str(self.options["cpu_used"])]
        roi = ["-aq-mode", "0"] if self.roi_filter else []  # libvpx reads ROI maps only without its own AQ
        return [*rate, *speed, *roi, "-threads", "1", "-row-mt", "0"]


AV1_ENCODERS = ("libsvtav1", "libaom-av1")


@register_codec
class Av1Video(FfmpegVideoCodec):
    """AV1 by SVT-AV1 (default) or libaom, in MP4 (the ISO-BMFF binding AVIF and streaming use; it also gives AV1
    the same container overhead as H.264/HEVC, so the codecs differ in their coding only).

    Speed: SVT-AV1 ``preset`` 8 (of -1..13; presets 8-10 are the range the SVT team recommends for fast VOD, and
    lower ones are many times slower on 2 cores), libaom ``cpu_used`` 6 (of 0..8; its default 1 is very slow).
    ``qp``: SVT-AV1's constant-QP mode (adaptive quantization off); libaom fixes the frame quantizer (min-q =
    max-q). Lossless: libaom only (planar RGB); SVT-AV1 takes 4:2:0 input only, so it rejects ``lossless``.
    """

    name = "av1_video"
    extension = "mp4"
    encoder, lossless_encoder, decoder, container = "libsvtav1", "libsvtav1", "libdav1d", "mp4"
    quality_min, quality_max = 0, 63
    quality_doc = (
        "AV1 (MP4) by SVT-AV1 (default) or libaom: rate_control crf (default) or qp: 0..63, lower is better; "
        "bitrate: target kbit/s. lossless=true (libaom only): lossless on planar RGB, bit-exact, quality ignored"
    )
    description = (
        "video codec: AV1 by ffmpeg's libsvtav1 (default) or libaom-av1, each clip one MP4; quality = CRF (or QP) "
        "0..63, lower is better, or kbit/s"
    )
    option_schemas = {
        **FfmpegVideoCodec.option_schemas,
        "encoder": {"enum": list(AV1_ENCODERS), "default": "libsvtav1"},
        "preset": {
            "type": "integer",
            "minimum": -1,
            "maximum": 13,
            "default": 8,
            "description": "SVT-AV1 speed preset; -1 = slowest",
        },
        "cpu_used": {
            "type": "integer",
            "minimum": 0,
            "maximum": 8,
            "default": 6,
            "description": "libaom speed; 0 = slowest",
        },
    }

    def __init__(self, quality: float, **options: Any) -> None:
        encoder = options.get("encoder", self.default_options["encoder"])
        if encoder not in AV1_ENCODERS:
            raise ValueError(f"codec {self.name!r}: encoder must be one of {list(AV1_ENCODERS)}, got {encoder!r}")
        self.encoder = self.lossless_encoder = encoder
        self.lossless_pix_fmt = "gbrp" if encoder == "libaom-av1" else None
        super().__init__(quality, **options)

    def check_options(self, given: set[str]) -> None:
        super().check_options(given)
        svt = self.encoder == "libsvtav1"
        wrong = "cpu_used" if svt else "preset"
        # The pipeline passes every option with its default filled in: only a changed value is a mistake.
        if wrong in given and self.options[wrong] != self.default_options[wrong]:
            other = "libaom-av1" if svt else "libsvtav1"
            raise ValueError(f"codec {self.name!r}: option {wrong!r} applies to encoder {other}, not {self.encoder}")
        name, value, low, high = (
            ("preset", self.options["preset"], -1, 13) if svt else ("cpu_used", self.options["cpu_used"], 0, 8)
        )
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(
                f"codec {self.name!r}: {name} of {self.encoder} must be an integer {low}..{high}, got {value!r}"
            )

    def constant_quality_args(self, q: str) -> list[str]:
        if self.encoder == "libsvtav1":
            return ["-crf", q] if self.rate_control == "crf" else ["-qp", q]
        fixed = ["-qmin", q, "-qmax", q] if self.rate_control == "qp" else []
        return ["-crf", q, *fixed, "-b:v", "0"]

    @classmethod
    def roi_problem(cls, options: dict[str, Any]) -> str | None:
        return (
            f"{options.get('encoder', 'libsvtav1')} ignores ROI side data (ffmpeg passes it to libx264, libx265 and "
            "libvpx only): an AV1 ROI variant would be the plain codec under another name"
        )

    def encoder_args(self) -> list[str]:
        if self.encoder == "libsvtav1":
            params = "lp=1"  # level of parallelism 1: single-threaded
            if self.rate_control == "qp":
                params += ":aq-mode=0"
            return [*self.rate_args(), "-preset", str(self.options["preset"]), "-svtav1-params", params]
        rate = ["-aom-params", "lossless=1"] if self.options["lossless"] else self.rate_args()
        return [*rate, "-cpu-used", str(self.options["cpu_used"]), "-threads", "1", "-row-mt", "0"]

    @classmethod
    def version(cls) -> str:
        return f"{ffmpeg_version()} encoder libsvtav1 or libaom-av1, decoder {cls.decoder}, container {cls.container}"
