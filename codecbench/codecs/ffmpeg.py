"""Video codecs used as still-image codecs: one intra-coded frame through the ffmpeg that imageio-ffmpeg ships.

Colour handling (the same for every codec here, and stated in docs/codecs.md): RGB is converted to Y'CbCr with the
BT.601 matrix at full range (as JFIF JPEG and libavif do), chroma subsampled to the configured pixel format
(``yuv420p`` by default), and tagged so in the bitstream; decoding inverts the same conversion. Images with odd
sides are padded by repeating the last row/column to the even size 4:2:0 needs and cropped back after decoding
to the size the caller passes (1-2 bits of side information that the raw stream cannot carry, not counted);
the padding's own bits are counted. The stored file is the raw elementary stream (Annex B for H.264/HEVC, low-overhead
OBUs for AV1, the bare frame for VP9, whose IVF container is stripped and rebuilt for decoding), with no container
bytes. Timings include starting the ffmpeg process (about 20-50 ms).
"""

from __future__ import annotations

import functools
import io
import subprocess
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from ..io import check_rgb
from . import register_codec
from .base import Codec, CodecError, schema_ref

_SWS_FLAGS = "accurate_rnd+full_chroma_int+full_chroma_inp+bitexact"
TO_YUV = "scale=out_color_matrix=bt601:out_range=full:flags=" + _SWS_FLAGS
TO_RGB = "scale=in_color_matrix=bt601:in_range=full:flags=" + _SWS_FLAGS


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def ffmpeg_version() -> str:
    import imageio_ffmpeg

    return f"ffmpeg {imageio_ffmpeg.get_ffmpeg_version()} (imageio-ffmpeg {imageio_ffmpeg.__version__})"


def run_ffmpeg(args: list[str], what: str, data: bytes = b"", loglevel: str = "error") -> tuple[bytes, str]:
    """Run ffmpeg with ``data`` on its standard input; (stdout, stderr). A failure raises :class:`CodecError`
    naming ``what``, ffmpeg's own message and the command."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", loglevel, *args]
    proc = subprocess.run(cmd, input=data, capture_output=True, check=False)
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        err = stderr.strip()[-4000:] or "no output"
        raise CodecError(f"{what}: ffmpeg exited with {proc.returncode}: {err}\ncommand: {' '.join(cmd)}")
    return proc.stdout, stderr


def piped_output(args: list[str], data: bytes, what: str) -> bytes:
    """:func:`run_ffmpeg`'s standard output, for a command that writes its result there: empty output is an error."""
    out, stderr = run_ffmpeg(args, what, data)
    if not out:
        raise CodecError(f"{what}: ffmpeg wrote nothing: {stderr.strip()[-4000:] or 'no message'}")
    return out


class FfmpegIntraCodec(Codec):
    """A single intra frame coded by an ffmpeg encoder, the quality knob being its CRF."""

    keeps_decoded = True  # decoding again costs one ffmpeg process per image

    encoder: ClassVar[str]
    decoder: ClassVar[str]
    stream_format: ClassVar[str]  # ffmpeg muxer/demuxer of the raw elementary stream
    higher_is_better = False
    supports_target_bpp = True
    # Why ROI side data (ffmpeg's addroi) does not reach this encoder, or None when it does (codecbench.roi).
    roi_ignored: ClassVar[str | None] = None
    roi_filter = ""  # an instance's addroi chain for the next encode (set by the qp_offset ROI strategy)

    @classmethod
    def roi_problem(cls, options: dict[str, Any]) -> str | None:
        return cls.roi_ignored

    @abstractmethod
    def encoder_args(self) -> list[str]:
        """The encoder's own arguments (rate control, speed)."""

    def unwrap(self, muxed: bytes) -> bytes:
        """The stored stream from what the muxer wrote (raw formats: unchanged)."""
        return muxed

    def wrap(self, stream: bytes) -> bytes:
        """What the demuxer reads, from the stored stream (raw formats: unchanged)."""
        return stream

    def encode(self, image: np.ndarray) -> bytes:
        check_rgb(image)
        height, width = image.shape[:2]
        # 4:2:0 and 4:2:2 need even sides: repeat the edge, crop after decoding.
        padded = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        pix_fmt = self.options["pix_fmt"]
        args = [
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{padded.shape[1]}x{padded.shape[0]}", "-i", "pipe:",
            "-frames:v", "1", "-vf", f"{self.roi_filter}{TO_YUV},format={pix_fmt}",
            "-color_range", "pc", "-colorspace", "smpte170m",
            "-c:v", self.encoder, *self.encoder_args(), "-threads", "1",
            "-f", self.stream_format, "pipe:",
        ]  # fmt: skip
        return self.unwrap(piped_output(args, padded.tobytes(), f"{self.describe()} encode"))

    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        args = [
            "-c:v", self.decoder, "-f", self.stream_format, "-i", "pipe:",
            "-vf", f"{TO_RGB},format=rgb24", "-frames:v", "1", "-c:v", "ppm", "-f", "image2pipe", "pipe:",
        ]  # fmt: skip
        ppm = piped_output(args, self.wrap(data), f"{self.describe()} decode")
        with Image.open(io.BytesIO(ppm)) as im:
            decoded = np.asarray(im.convert("RGB"), dtype=np.uint8)
        if size is not None:
            height, width = size
            if decoded.shape[0] - height not in (0, 1) or decoded.shape[1] - width not in (0, 1):
                raise CodecError(
                    f"{self.describe()} decode: stream is {decoded.shape[1]}x{decoded.shape[0]}, "
                    f"expected {width}x{height} (or one more for padding)"
                )
            decoded = decoded[:height, :width]
        return decoded.copy()

    @classmethod
    def version(cls) -> str:
        return f"{ffmpeg_version()} encoder {cls.encoder}, decoder {cls.decoder}"


class X26xCodec(FfmpegIntraCodec):
    """x264 and x265 share their knobs: a CRF and a speed preset."""

    quality_min, quality_max = 0, 51
    option_schemas = {"preset": schema_ref("x26x_preset"), "pix_fmt": schema_ref("pix_fmt")}
    extra_args: ClassVar[list[str]] = []

    def encoder_args(self) -> list[str]:
        return ["-preset", self.options["preset"], "-crf", str(self.quality), *self.extra_args]


@register_codec
class H264(X26xCodec):
    name = "h264"
    extension = "h264"
    encoder, decoder, stream_format = "libx264", "h264", "h264"
    quality_doc = "x264 CRF 0..51, lower is better (0 = lossless in Y'CbCr)"
    description = "ffmpeg libx264, one intra frame; quality = CRF 0..51, lower is better"
    notes = "The stored file is an Annex B elementary stream."


@register_codec
class Hevc(X26xCodec):
    name = "hevc"
    extension = "hevc"
    encoder, decoder, stream_format = "libx265", "hevc", "hevc"
    quality_doc = "x265 CRF 0..51, lower is better"
    description = "ffmpeg libx265, one intra frame; quality = CRF 0..51, lower is better"
    notes = "The stored file is an Annex B elementary stream."
    extra_args = ["-x265-params", "log-level=error"]


@register_codec
class Av1(FfmpegIntraCodec):
    name = "av1"
    extension = "obu"
    encoder, decoder, stream_format = "libaom-av1", "libdav1d", "obu"
    quality_min, quality_max = 0, 63
    quality_doc = "libaom CRF 0..63 in still-picture mode, lower is better"
    description = "ffmpeg libaom-av1 still picture (decoded by dav1d); quality = CRF 0..63, lower is better"
    notes = "The stored file is a low-overhead OBU stream."
    roi_ignored = "libaom-av1 ignores ROI side data (ffmpeg passes it to libx264, libx265 and libvpx only)"
    option_schemas = {
        "cpu_used": {"type": "integer", "minimum": 0, "maximum": 8, "default": 6, "description": "0 = slowest, best"},
        "pix_fmt": schema_ref("pix_fmt"),
    }

    def encoder_args(self) -> list[str]:
        return [
            "-crf", str(self.quality), "-b:v", "0", "-cpu-used", str(self.options["cpu_used"]),
            "-still-picture", "1", "-row-mt", "0",
        ]  # fmt: skip


_IVF_FILE_HEADER, _IVF_FRAME_HEADER = 32, 12


@register_codec
class Vp9(FfmpegIntraCodec):
    """VP9 (WebM's video codec) as an intra frame. ffmpeg writes VP9 only in a container; IVF is the thinnest (a
    32-byte file header and 12 bytes per frame), and only the frame itself is stored and counted."""

    name = "vp9"
    extension = "vp9"
    encoder, decoder, stream_format = "libvpx-vp9", "vp9", "ivf"
    quality_min, quality_max = 0, 63
    quality_doc = "libvpx-vp9 CRF 0..63 (constant quality), lower is better"
    description = (
        "ffmpeg libvpx-vp9 intra frame (WebM's codec; the bare frame is stored); quality = CRF 0..63, lower is better"
    )
    notes = "The stored file is the bare VP9 frame: ffmpeg's IVF container is stripped, and rebuilt for decoding."
    roi_ignored = (
        "libvpx-vp9 applies ROI side data only in realtime mode and not to a lone key frame (measured: the frame is "
        "unchanged); use vp9_video with deadline realtime and cpu_used >= 5 on a video"
    )
    option_schemas = {
        "cpu_used": {"type": "integer", "minimum": 0, "maximum": 8, "default": 4, "description": "0 = slowest, best"},
        "pix_fmt": schema_ref("pix_fmt"),
    }

    def encoder_args(self) -> list[str]:
        return [
            "-crf", str(self.quality), "-b:v", "0", "-deadline", "good", "-cpu-used", str(self.options["cpu_used"]),
            "-row-mt", "0", "-lag-in-frames", "0",
        ]  # fmt: skip

    def unwrap(self, muxed: bytes) -> bytes:
        if muxed[:4] != b"DKIF" or len(muxed) < _IVF_FILE_HEADER + _IVF_FRAME_HEADER:
            raise CodecError(f"{self.describe()} encode: ffmpeg wrote no IVF stream")
        start = int.from_bytes(muxed[6:8], "little") + _IVF_FRAME_HEADER
        size = int.from_bytes(muxed[start - _IVF_FRAME_HEADER : start - 8], "little")
        if start + size != len(muxed):
            raise CodecError(f"{self.describe()} encode: expected one frame, the IVF stream holds more")
        return muxed[start:]

    def wrap(self, stream: bytes) -> bytes:
        # Frame size 0x0 in the file header: the decoder takes the size from the frame's own header.
        header = b"DKIF" + (0).to_bytes(2, "little") + _IVF_FILE_HEADER.to_bytes(2, "little") + b"VP90"
        header += bytes(4) + (1).to_bytes(4, "little") + (1).to_bytes(4, "little") + (1).to_bytes(4, "little")
        header += bytes(4)
        return header + len(stream).to_bytes(4, "little") + bytes(8) + stream
