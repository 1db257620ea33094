"""A learned video codec: CompressAI's scale-space-flow model (``ssf2020``, Agustsson et al., CVPR 2020).

Each group of pictures starts with a key frame coded by the model's intra path (image encoder and hyperprior);
the following frames are predicted from the previous reconstruction by the scale-space flow the model codes
(motion latents and their hyperprior), and the prediction's residual is coded too. The model is the codec and is
not in the stream; everything else the decoder needs is, so kbit/s from ``len(data)`` is honest.

Stream format (extension ``cbv``), integers as unsigned LEB128 varints::

    b"CBV" | version (1 byte, 1) | height | width | multiple | n_frames | gop | fps (8-byte big-endian double)
    then per frame: type (b"I" or b"P") | the lengths of its strings | its strings

An I frame has two strings (latents ``y``, hyper-latents ``z``), a P frame four (motion ``y``, ``z``, residual
``y``, ``z``). ``height`` x ``width`` is the original frame; the encoder pads it (edge replicate) to the next
``multiple`` (128 for this model) and the decoder crops back. Every latent grid of the clip follows from the
padded size (the hyper-latents are ``multiple`` times smaller), so no shapes are stored per frame. A frame's
bytes (:attr:`EncodedSequence.frame_bytes`) are its type byte, its lengths and its strings; the container header
is in no frame's share. ``gop`` is the intra period the encoder used; the decoder follows the per-frame types.

Torch and CompressAI are imported only when a model is first needed.
"""

from __future__ import annotations

import logging
import math
import struct
from typing import Any

import numpy as np

from ..io import check_rgb
from . import register_codec
from .base import CodecError, EncodedSequence, SequenceCodec, schema_ref
from .learned import ModelSource, _Loaded, _read_varint, _to_levels, _write_varint

log = logging.getLogger(__name__)

MAGIC = b"CBV"
FORMAT_VERSION = 1
STRINGS_PER_TYPE = {"I": 2, "P": 4}

# Models shared by every codec instance of this process (reading 137 MB of weights per clip would dominate).
_MODELS: dict[tuple, _Loaded] = {}


def pack_header(height: int, width: int, multiple: int, n_frames: int, gop: int, fps: float) -> bytes:
    out = bytearray(MAGIC)
    out.append(FORMAT_VERSION)
    for value in (height, width, multiple, n_frames, gop):
        _write_varint(int(value), out)
    out += struct.pack(">d", float(fps))
    return bytes(out)


def pack_frame(frame_type: str, strings: list[bytes]) -> bytes:
    """One frame's share of the stream: type byte, string lengths, strings."""
    if len(strings) != STRINGS_PER_TYPE[frame_type]:
        raise ValueError(f"a {frame_type} frame has {STRINGS_PER_TYPE[frame_type]} strings, got {len(strings)}")
    out = bytearray(frame_type.encode("ascii"))
    for string in strings:
        _write_varint(len(string), out)
    for string in strings:
        out += string
    return bytes(out)


def unpack_stream(data: bytes) -> tuple[dict[str, Any], list[tuple[str, list[bytes]]]]:
    """The header (height, width, multiple, n_frames, gop, fps) and each frame's (type, strings) of a ``cbv`` stream.

    ValueError says what is malformed: another magic or version, a stream that ends early or runs on past its
    last frame, an unknown frame type, a first frame that is not a key frame.
    """
    data = bytes(data)
    if data[: len(MAGIC)] != MAGIC:
        raise ValueError(f"not a cbv stream: starts with {data[: len(MAGIC)]!r}, expected {MAGIC!r}")
    pos = len(MAGIC)
    if pos >= len(data) or data[pos] != FORMAT_VERSION:
        found = data[pos] if pos < len(data) else "nothing"
        raise ValueError(f"cbv format version {found}, this decoder reads version {FORMAT_VERSION}")
    pos += 1
    fields = {}
    for name in ("height", "width", "multiple", "n_frames", "gop"):
        fields[name], pos = _read_varint(data, pos)
    if pos + 8 > len(data):
        raise ValueError("stream ends inside its header")
    (fields["fps"],) = struct.unpack(">d", data[pos : pos + 8])
    pos += 8
    if min(fields["height"], fields["width"], fields["multiple"], fields["n_frames"], fields["gop"]) < 1:
        raise ValueError(f"header holds a zero: {fields}")
    frames = []
    for index in range(fields["n_frames"]):
        if pos >= len(data):
            raise ValueError(f"stream ends before frame {index} of {fields['n_frames']}")
        frame_type = chr(data[pos])
        pos += 1
        if frame_type not in STRINGS_PER_TYPE:
            raise ValueError(f"frame {index} has the unknown type {frame_type!r}")
        if index == 0 and frame_type != "I":
            raise ValueError("the first frame is not a key frame")
        lengths = []
        for _ in range(STRINGS_PER_TYPE[frame_type]):
            length, pos = _read_varint(data, pos)
            lengths.append(length)
        if pos + sum(lengths) > len(data):
            raise ValueError(f"stream ends inside frame {index} ({pos + sum(lengths) - len(data)} bytes missing)")
        strings = []
        for length in lengths:
            strings.append(data[pos : pos + length])
            pos += length
        frames.append((frame_type, strings))
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} bytes follow the last of the header's {fields['n_frames']} frames")
    return fields, frames


@register_codec
class ScaleSpaceFlowCodec(ModelSource, SequenceCodec):
    """CompressAI's ``ssf2020`` video model as a sequence codec.

    Options: ``checkpoint`` a file written by :func:`codecbench.learned.train_video.train_ssf` (the quality is
    then only a label); without it the zoo's published weights of the quality, read from torch.hub's cache
    (``$TORCH_HOME/hub/checkpoints``), never downloaded: missing weights are a LearnedCodecError naming the file,
    its URL and the checkpoint alternative. ``pretrained: false`` without a checkpoint gives seeded random
    weights, a meaningless codec for tests. ``device``: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    ``gop``: the intra period, a key frame every ``gop`` frames (1: all key frames).

    After :meth:`encode_sequence`, ``last_reconstruction`` holds the encoder's reconstructed frames (uint8, what
    a decoder must output) and ``last_encode_info`` the number of key frames; decoding that stream adds
    ``reconstruction_mismatch`` (the largest difference in 8-bit levels between decoder and encoder; above 1 they
    disagree on entropy parameters, which CUDA's non-deterministic kernels can cause): then ``on_mismatch: fail``
    (the default) makes decoding a CodecError naming the frame, ``record`` keeps the clip and logs a warning.
    """

    keeps_decoded = True  # decoding again costs a network pass per image
    parallel_images = False  # the network runs on the job's threads

    name = "ssf2020"
    extension = "cbv"
    quality_min, quality_max = 1, 9
    higher_is_better = True
    quality_doc = (
        "CompressAI zoo quality index 1..9 (ssf2020, mse weights): one pretrained model per rate-distortion "
        "trade-off, 1 = fewest bits; with checkpoint: <file> the quality is only a label"
    )
    description = (
        "learned video codec: CompressAI's scale-space flow (Agustsson et al. 2020), each clip one self-contained "
        ".cbv stream; quality = zoo quality 1..9 (weights only from the torch hub cache, never downloaded), or with "
        "checkpoint a label of your own model"
    )
    notes = """
        A missing zoo weights file fails naming it and its URL. Instead of the zoo, a model trained in the
        pipeline: `learned: {name: {architecture: ssf2020, dataset: <video dataset>, lambdas: [...], crop_px: 256,
        frames_per_sample: 3, ...}}` trains on random patches of consecutive frames of the dataset's train clips
        (GPU-tagged, seeded, resumable; loss lambda x 255^2 x MSE + bpp over the frames).

        Frames are padded to a multiple of 128; every `gop` frames a key frame goes through the model's intra path.
        Like the image models, it checks every decoded clip against the encoder's reconstruction. A difference
        above 1 level fails the job (`on_mismatch: fail`), naming the clip and the first frame with the largest
        difference. With `on_mismatch: record` the clip is kept and a warning is logged.
    """
    option_schemas = {
        "checkpoint": {
            "type": ["string", "null"],
            "default": None,
            "description": "a model trained by codecbench.learned.train_video (or your own in that format)",
        },
        "pretrained": {
            "type": "boolean",
            "default": True,
            "description": "zoo weights from the torch hub cache; false = random weights, only useful for tests",
        },
        "device": {
            "enum": ["auto", "cpu", "cuda"],
            "default": "auto",
            "description": "auto = CUDA when present, else CPU",
        },
        "gop": {"type": "integer", "minimum": 1, "default": 12, "description": "a key (intra) frame every gop frames"},
        "on_mismatch": schema_ref("on_mismatch"),
    }

    def __init__(self, quality: float, **options: Any) -> None:
        super().__init__(quality, **options)
        opts = self.options
        self._check_source_options()
        gop = opts["gop"]
        if isinstance(gop, bool) or not isinstance(gop, int) or gop < 1:
            raise ValueError(f"codec {self.name!r}: gop must be a positive integer (frames per key frame), got {gop!r}")
        self.last_encode_info: dict[str, float] = {}
        self.last_reconstruction: list[np.ndarray] | None = None
        self._coded: bytes | None = None  # the stream whose reconstruction last_reconstruction is
        self._weights: str | None = None

    # -- the model -------------------------------------------------------------------------------------------

    def _pretrained_weights(self) -> tuple:
        from ..learned.train_video import ssf_weights_path

        return ssf_weights_path(int(self.quality))

    def _random_source(self) -> tuple:
        from ..learned.train_video import RANDOM_INIT_SEED

        return ("random", RANDOM_INIT_SEED)

    def _models(self) -> dict[tuple, _Loaded]:
        return _MODELS

    def _build(self) -> _Loaded:
        from ..learned.models import pick_device
        from ..learned.train_video import build_ssf, load_ssf_checkpoint, load_ssf_pretrained

        opts = self.options
        device = pick_device(opts["device"])
        if opts["checkpoint"] is not None:
            model, _ = load_ssf_checkpoint(opts["checkpoint"])
        elif opts["pretrained"]:
            model = load_ssf_pretrained(int(self.quality))
        else:
            log.warning(
                "%s: random weights (pretrained: false, no checkpoint) make a meaningless codec, useful only for tests",
                self.name,
            )
            model = build_ssf()
            model.update(force=True)
        return _Loaded(model.to(device).eval(), device)

    # -- coding ----------------------------------------------------------------------------------------------

    def encode_sequence(self, frames: list[np.ndarray], fps: float) -> EncodedSequence:
        import torch
        import torch.nn.functional as F

        from ..learned.train_video import PAD_MULTIPLE

        if len(frames) == 0:
            raise ValueError(f"{self.describe()}: a clip needs at least one frame")
        if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"{self.describe()}: fps must be a positive number, got {fps!r}")
        for index, frame in enumerate(frames):
            try:
                check_rgb(frame)
            except ValueError as error:
                raise ValueError(f"{self.describe()}: frame {index}: {error}") from None
            if frame.shape != frames[0].shape:
                raise ValueError(f"{self.describe()}: frame {index} is {frame.shape}, frame 0 {frames[0].shape}")
        loaded = self._loaded()
        model, device = loaded.model, loaded.device
        height, width = frames[0].shape[:2]
        gop = self.options["gop"]
        grid = (-(-height // PAD_MULTIPLE), -(-width // PAD_MULTIPLE))  # every latent grid's hyper-latent size

        chunks = [pack_header(height, width, PAD_MULTIPLE, len(frames), gop, fps)]
        frame_bytes, frame_types, reconstruction = [], [], []
        x_ref = None
        try:
            with torch.no_grad():
                for index, frame in enumerate(frames):
                    x = torch.as_tensor(np.require(frame, requirements=("C", "W"))).to(device)
                    x = x.permute(2, 0, 1)[None].float() / 255
                    x = F.pad(x, (0, -width % PAD_MULTIPLE, 0, -height % PAD_MULTIPLE), mode="replicate")
                    if index % gop == 0:
                        x_ref, out = model.encode_keyframe(x)
                        groups, shapes = out["strings"], [out["shape"]]
                        frame_type = "I"
                    else:
                        x_ref, out = model.encode_inter(x, x_ref)
                        groups = [*out["strings"]["motion"], *out["strings"]["residual"]]
                        shapes = [out["shape"]["motion"], out["shape"]["residual"]]
                        frame_type = "P"
                    if any(tuple(shape) != grid for shape in shapes) or any(len(g) != 1 for g in groups):
                        raise CodecError(
                            f"{self.describe()}: frame {index} coded hyper-latents of {[tuple(s) for s in shapes]} "
                            f"with {[len(g) for g in groups]} strings per group; expected {grid} and one each"
                        )
                    chunk = pack_frame(frame_type, [g[0] for g in groups])
                    chunks.append(chunk)
                    frame_bytes.append(len(chunk))
                    frame_types.append(frame_type)
                    reconstruction.append(_to_uint8(x_ref[..., :height, :width]))
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, CodecError):
                raise
            raise CodecError(f"{self.describe()}: could not encode a {width}x{height} clip: {exc}") from exc
        data = b"".join(chunks)
        self.last_reconstruction = reconstruction
        self._coded = data
        self.last_encode_info = {"key_frames": float(frame_types.count("I"))}
        return EncodedSequence(data=data, frame_bytes=frame_bytes, frame_types=frame_types)

    def decode_sequence(self, data: bytes, size: tuple[int, int], n_frames: int) -> list[np.ndarray]:
        """Decode ``data``; when it is what :meth:`encode_sequence` just wrote, also check it against the encoder."""
        import torch

        from ..learned.train_video import PAD_MULTIPLE

        try:
            header, coded = unpack_stream(data)
        except ValueError as exc:
            raise CodecError(f"{self.describe()}: could not decode: {exc}") from exc
        height, width = header["height"], header["width"]
        if (height, width) != tuple(size) or header["n_frames"] != n_frames:
            raise CodecError(
                f"{self.describe()}: the stream holds {header['n_frames']} frames of {width}x{height}, expected "
                f"{n_frames} of {size[1]}x{size[0]}"
            )
        if header["multiple"] != PAD_MULTIPLE:
            raise CodecError(
                f"{self.describe()}: the stream pads to multiples of {header['multiple']}, this model codes "
                f"multiples of {PAD_MULTIPLE} (a stream from another model?)"
            )
        model = self._loaded().model
        grid = torch.Size((-(-height // PAD_MULTIPLE), -(-width // PAD_MULTIPLE)))
        decoded = []
        x_ref = None
        try:
            with torch.no_grad():
                for frame_type, strings in coded:
                    groups = [[s] for s in strings]
                    if frame_type == "I":
                        x_ref = model.decode_keyframe(groups, grid)
                    else:
                        x_ref = model.decode_inter(
                            x_ref, {"motion": groups[:2], "residual": groups[2:]}, {"motion": grid, "residual": grid}
                        )
                    decoded.append(_to_uint8(x_ref[..., :height, :width]))
        except (RuntimeError, ValueError, AssertionError, IndexError) as exc:
            raise CodecError(f"{self.describe()}: could not decode: {exc}") from exc

        if self._coded is not None and self._coded == bytes(data) and self.last_reconstruction is not None:
            per_frame = [
                int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
                for a, b in zip(decoded, self.last_reconstruction, strict=True)
            ]
            worst = int(np.argmax(per_frame))
            clip = f"a {width}x{height} clip of {n_frames} frames"
            self._judge_mismatch(per_frame[worst], f"frame {worst} ({coded[worst][0]} frame) of {clip}")
        return decoded


def _to_uint8(x) -> np.ndarray:
    """A [0, 1] 1x3xHxW tensor as a uint8 HxWx3 array (rounded, clamped)."""
    import torch

    return _to_levels(x)[0].permute(1, 2, 0).to("cpu", torch.uint8).numpy()
