"""Learned codecs: CompressAI's zoo models and our compressive autoencoder, writing real, self-contained bytes.

One codec per architecture (``bmshj2018-factorized``, ``bmshj2018-hyperprior``, ``mbt2018-mean``, ``mbt2018``,
``cheng2020-anchor``, ``cheng2020-attn``, ``cae``). The model is the codec: it is not in the stream, just as a
JPEG decoder is not in a .jpg. Everything else the decoder needs is, so bpp from ``len(bytes)`` is honest: it
counts the header and what coding the padding costs.

Stream format (extension ``cbl``), integers as unsigned LEB128 varints::

    b"CBL1" | height | width | n_dims | latent shape (n_dims varints) | n_strings | n_strings lengths | strings

``height`` x ``width`` is the original image; the codec pads it (edge replicate) to the model's multiple, and
the decoder crops back. The latent shape is what CompressAI's ``compress`` returns as ``shape`` (the latent's
sides for the factorized models, the hyper-latent's for the others), and the strings are its ``strings``, one
per entropy-coded group (``y``; or ``y`` then ``z``), for a batch of one image.

Torch and CompressAI are imported only when a model is first needed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib.metadata import version as distribution_version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..io import check_rgb, file_digest
from ..learned import ARCHITECTURES, CAE, METRICS
from . import register_codec
from .base import Codec, CodecError, LearnedCodecError

log = logging.getLogger(__name__)

MAGIC = b"CBL1"
RANDOM_INIT_SEED = 0  # random weights are seeded so that every process builds the same (meaningless) codec
# What a decoded image may differ from the encoder's own reconstruction, in 8-bit levels: rounding the same
# picture computed in another order may move a level by one; more means encoder and decoder disagree.
MISMATCH_TOLERANCE_LEVELS = 1
ON_MISMATCH = ("fail", "record")  # the on_mismatch option: stop the job, or keep the image and warn


def _write_varint(value: int, out: bytearray) -> None:
    if value < 0:
        raise ValueError(f"varint cannot store the negative number {value}")
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("stream ends inside its header")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("header number longer than 64 bits")


def pack_stream(height: int, width: int, shape: tuple[int, ...], strings: list[bytes]) -> bytes:
    """The ``cbl`` stream of one image: header, then the entropy-coded strings back to back."""
    out = bytearray(MAGIC)
    for value in (height, width, len(shape), *shape, len(strings), *(len(s) for s in strings)):
        _write_varint(int(value), out)
    for string in strings:
        out += string
    return bytes(out)


def unpack_stream(data: bytes) -> tuple[int, int, tuple[int, ...], list[bytes]]:
    """``(height, width, latent shape, strings)`` of a ``cbl`` stream; ValueError says what is malformed."""
    if data[:4] != MAGIC:
        raise ValueError(f"not a cbl stream: starts with {bytes(data[:4])!r}, expected {MAGIC!r}")
    pos = len(MAGIC)
    height, pos = _read_varint(data, pos)
    width, pos = _read_varint(data, pos)
    n_dims, pos = _read_varint(data, pos)
    shape = []
    for _ in range(n_dims):
        side, pos = _read_varint(data, pos)
        shape.append(side)
    n_strings, pos = _read_varint(data, pos)
    lengths = []
    for _ in range(n_strings):
        length, pos = _read_varint(data, pos)
        lengths.append(length)
    if pos + sum(lengths) != len(data):
        raise ValueError(f"header announces {pos + sum(lengths)} bytes, the stream has {len(data)}")
    strings = []
    for length in lengths:
        strings.append(bytes(data[pos : pos + length]))
        pos += length
    return height, width, tuple(shape), strings


@dataclass
class _Loaded:
    model: Any  # a compressai CompressionModel, in eval mode on ``device``
    device: Any  # torch.device


# Models shared by every codec instance of this process: the pipeline makes one codec per image (and the
# target-bpp search one per probe), and building a model (reading its weights) must not be paid per image.
_MODELS: dict[tuple, _Loaded] = {}


class ModelSource:
    """Where a learned codec's model comes from (``checkpoint``, the zoo's ``pretrained`` weights, or seeded random
    weights), and the models built so far in this process, shared by every instance. The image codecs here and
    ssf2020 (:mod:`.learned_video`) differ only in the hooks: ``_pretrained_weights`` (the zoo file's (url, path)),
    ``_random_source`` (what identifies random weights), ``_build`` and ``_models`` (the cache they use). Both
    also share the checks of these options and the verdict on a decoder that does not reproduce its encoder
    (``on_mismatch``)."""

    name: ClassVar[str]
    quality: Any
    options: dict[str, Any]
    device: str
    last_encode_info: dict[str, float]
    _weights: str | None

    def _pretrained_weights(self) -> tuple:
        raise NotImplementedError

    def _random_source(self) -> tuple:
        raise NotImplementedError

    def _build(self) -> _Loaded:
        raise NotImplementedError

    def _models(self) -> dict[tuple, _Loaded]:
        return _MODELS

    def weights(self) -> str:
        """Where the weights come from: ``checkpoint <sha256[:12]>``, ``pretrained <zoo file>`` or ``random init``."""
        if self._weights is None:
            checkpoint = self.options["checkpoint"]
            if checkpoint is not None:
                try:
                    self._weights = f"checkpoint {file_digest(checkpoint)[:12]}"
                except OSError as exc:
                    raise LearnedCodecError(f"{self.name}: cannot read checkpoint {checkpoint}: {exc}") from exc
            elif self.options["pretrained"]:
                self._weights = f"pretrained {self._pretrained_weights()[1].name}"
            else:
                self._weights = "random init"
        return self._weights

    def _check_source_options(self) -> None:
        """ValueError naming the codec for a bad ``checkpoint``, ``pretrained``, ``device`` or ``on_mismatch``."""
        opts = self.options
        if opts["checkpoint"] is not None and not isinstance(opts["checkpoint"], str | os.PathLike):
            raise ValueError(f"codec {self.name!r}: checkpoint must be a file path, got {opts['checkpoint']!r}")
        if not isinstance(opts["pretrained"], bool):
            raise ValueError(f"codec {self.name!r}: pretrained must be true or false, got {opts['pretrained']!r}")
        device = str(opts["device"]).lower()
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            raise ValueError(f"codec {self.name!r}: device {opts['device']!r} unknown (use auto, cpu or cuda)")
        if opts["on_mismatch"] not in ON_MISMATCH:
            raise ValueError(
                f"codec {self.name!r}: on_mismatch must be one of {', '.join(ON_MISMATCH)}, got {opts['on_mismatch']!r}"
            )

    def _judge_mismatch(self, mismatch: int, what: str) -> None:
        """Record how far the decoder's output of ``what`` (e.g. "a 30x20 image") is from the encoder's
        reconstruction; beyond :data:`MISMATCH_TOLERANCE_LEVELS` raise a CodecError (``on_mismatch: fail``, the
        default: the measurements would not be those of a real decoder) or log a warning (``record``)."""
        self.last_encode_info["reconstruction_mismatch"] = float(mismatch)
        if mismatch <= MISMATCH_TOLERANCE_LEVELS:
            return
        problem = (
            f"{self.describe()}: {what} decodes {mismatch} levels away from the encoder's reconstruction (more than "
            f"{MISMATCH_TOLERANCE_LEVELS}; encoder and decoder disagree on entropy parameters)"
        )
        if self.options["on_mismatch"] == "record":
            log.warning("%s; kept, as on_mismatch is record: see its reconstruction_mismatch", problem)
            return
        raise CodecError(
            f"{problem}: a real decoder would not see the picture the encoder measured. CompressAI models compute "
            "their entropy parameters in floating point, and non-deterministic (GPU) kernels can make them differ "
            "between encoding and decoding: code on the CPU (device: cpu), or set on_mismatch: record to keep such "
            "images with their mismatch in the reconstruction_mismatch column"
        )

    def _cache_key(self) -> tuple:
        opts = self.options
        if opts["checkpoint"] is not None:
            path = Path(opts["checkpoint"]).resolve()
            stat = path.stat() if path.is_file() else None
            source: tuple = ("checkpoint", str(path), stat and stat.st_mtime_ns, stat and stat.st_size)
        elif opts["pretrained"]:
            source = ("pretrained", *self._pretrained_weights())
        else:
            source = self._random_source()
        return (self.name, int(self.quality), source, str(opts["device"]).lower())

    @classmethod
    def version(cls) -> str:
        return f"compressai {distribution_version('compressai')} (torch {distribution_version('torch')}, {cls.name})"

    def describe(self) -> str:
        try:
            weights = self.weights()
        except (LearnedCodecError, ValueError) as exc:
            weights = f"unavailable: {exc}"
        return f"{super().describe()} [{weights}]"

    def load_model(self) -> Any:
        """Build (or reuse) this codec's model and return it; callers timing the coding call this first."""
        return self._loaded().model

    def _loaded(self) -> _Loaded:
        key = self._cache_key()
        models = self._models()
        loaded = models.get(key)
        if loaded is None:
            loaded = models[key] = self._build()
        self.device = "cuda" if loaded.device.type == "cuda" else "cpu"
        return loaded


class LearnedCodec(ModelSource, Codec):
    """A CompressAI model as a codec. Subclasses only name their architecture (``name``).

    Options: ``metric`` picks the zoo weights trained for ``mse`` or ``ms-ssim``; ``pretrained`` uses the zoo's
    published weights (from torch.hub's cache, downloaded once if missing); ``checkpoint`` a file of
    :func:`codecbench.learned.models.save_checkpoint`, which wins over both (the quality is then only a
    label); ``pretrained: false`` without a checkpoint gives seeded random weights, a meaningless codec for
    tests. ``device``: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    After each :meth:`encode`, ``last_encode_info`` holds ``bpp_estimated`` (the model's likelihoods'
    ``sum(-log2 p)`` over the padded image, per original pixel); decoding those bytes adds
    ``reconstruction_mismatch`` (the largest difference in 8-bit levels between the decoder's output and the
    encoder's reconstruction from the latents it coded; above 1 the encoder and decoder disagree on entropy
    parameters). The pipeline decodes every image it encodes, so every image is checked: a mismatch above 1 is
    a CodecError (``on_mismatch: fail``, the default) or a warning with the image kept (``on_mismatch: record``).
    """

    keeps_decoded = True  # decoding again costs a network pass per image
    parallel_images = False  # the network runs on the job's threads

    extension = "cbl"
    higher_is_better = True
    shared_options = "learned_options"  # metric, pretrained, checkpoint, device, on_mismatch
    option_schemas = {"pretrained": {"default": True}}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        info = ARCHITECTURES[cls.name]
        cls.quality_min, cls.quality_max = info.quality_min, info.quality_max
        cls.quality_doc = info.quality_doc
        if cls.name != CAE:
            cls.quality_doc += "; with checkpoint: <file> the quality is only a label"

    def __init__(self, quality: float, **options: Any) -> None:
        super().__init__(quality, **options)
        opts = self.options
        if opts["metric"] not in METRICS:
            raise ValueError(f"codec {self.name!r}: metric {opts['metric']!r} unknown (known: {', '.join(METRICS)})")
        self._check_source_options()
        if self.name == CAE and opts["pretrained"] and opts["checkpoint"] is None:
            raise ValueError(
                "codec 'cae': there are no published pretrained weights for the compressive autoencoder; give "
                "checkpoint: <file> (from codecbench.learned.train), or set pretrained: false (random weights, tests)"
            )
        self.last_encode_info: dict[str, float] = {}
        self._coded: tuple[bytes, Any] | None = None  # the last stream encode wrote, and the latents it coded
        self._weights: str | None = None

    # -- the model -----------------------------------------------------------------------------------------

    def _pretrained_weights(self) -> tuple:
        from ..learned.models import pretrained_weights_path

        return pretrained_weights_path(self.name, int(self.quality), self.options["metric"])

    def _random_source(self) -> tuple:
        return ("random", RANDOM_INIT_SEED, self.options["metric"])

    def _build(self) -> _Loaded:
        import torch

        from ..learned.models import build_model, load_checkpoint, load_pretrained, pick_device

        opts, quality = self.options, int(self.quality)
        device = pick_device(opts["device"])
        if opts["checkpoint"] is not None:
            model, payload = load_checkpoint(opts["checkpoint"])
            if payload["architecture"] != self.name:
                raise LearnedCodecError(
                    f"codec {self.name!r}: checkpoint {opts['checkpoint']} holds a {payload['architecture']!r} model; "
                    f"use it with codec {payload['architecture']!r}"
                )
        elif opts["pretrained"]:
            model = load_pretrained(self.name, quality, opts["metric"])
        else:
            log.warning(
                "%s: random weights (pretrained: false, no checkpoint) make a meaningless codec, useful only for tests",
                self.name,
            )
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_INIT_SEED)
                model = build_model(self.name, quality, opts["metric"], pretrained=False)
            model.update(force=True)
        # Channels-last layout makes the convolutions about 1.5x faster on a CPU (oneDNN); encode uses it too.
        return _Loaded(model.to(device, memory_format=torch.channels_last).eval(), device)

    # -- coding ----------------------------------------------------------------------------------------------

    def encode(self, image: np.ndarray) -> bytes:
        import torch
        import torch.nn.functional as F

        from ..learned.models import encode_with_latents

        check_rgb(image)
        loaded = self._loaded()
        model, device = loaded.model, loaded.device
        height, width = image.shape[:2]
        multiple = int(getattr(model, "downsampling_factor", 64))
        x = torch.as_tensor(np.require(image, requirements=("C", "W"))).to(device).permute(2, 0, 1)[None].float() / 255
        x = F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="replicate")
        try:
            x = x.contiguous(memory_format=torch.channels_last)
            compressed, coded_latents, bits = encode_with_latents(model, x)
            strings = []
            for group in compressed["strings"]:
                if len(group) != 1:
                    raise CodecError(f"{self.describe()}: expected one string per group, got {len(group)}")
                strings.append(group[0])
            data = pack_stream(height, width, tuple(int(s) for s in compressed["shape"]), strings)
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, CodecError):
                raise
            raise CodecError(f"{self.describe()}: could not encode a {width}x{height} image: {exc}") from exc
        self.last_encode_info = {"bpp_estimated": bits / (height * width)}
        self._coded = (data, coded_latents)
        return data

    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        """Decode ``data``; when it is what :meth:`encode` just wrote, also check it against the encoder.

        The check compares the latents the decoder read with those the encoder coded. Equal latents give the
        same picture through the same synthesis transform (``reconstruction_mismatch`` 0); otherwise the
        encoder's reconstruction is computed and the largest difference in 8-bit levels is recorded in
        ``last_encode_info``; above 1 it fails or warns, as ``on_mismatch`` says.
        """
        import torch

        from ..learned.models import decode_with_latents, synthesize

        model = self._loaded().model
        try:
            height, width, shape, strings = unpack_stream(data)
            x_hat, decoded_latents = decode_with_latents(model, [[s] for s in strings], shape)
        except (RuntimeError, ValueError) as exc:
            raise CodecError(f"{self.describe()}: could not decode: {exc}") from exc
        if x_hat.shape[-2] < height or x_hat.shape[-1] < width:
            raise CodecError(
                f"{self.describe()}: the stream's latents decode to {x_hat.shape[-1]}x{x_hat.shape[-2]}, smaller "
                f"than its {width}x{height} image (a stream from another model?)"
            )
        levels = _to_levels(x_hat[..., :height, :width])
        coded = self._coded
        if coded is not None and coded[0] == data:
            coded_latents = coded[1]
            if coded_latents.shape == decoded_latents.shape and torch.equal(coded_latents, decoded_latents):
                mismatch = 0
            else:
                reference = _to_levels(synthesize(model, coded_latents)[..., :height, :width])
                mismatch = int((levels - reference).abs().max())
            self._judge_mismatch(mismatch, f"a {width}x{height} image")
        return levels[0].permute(1, 2, 0).to("cpu", torch.uint8).numpy()


def _to_levels(x):
    """[0, 1] floats to 8-bit levels, kept as int16 so that differences do not wrap."""
    import torch

    return (x.clamp(0, 1) * 255).round().to(torch.int16)


@register_codec
class Bmshj2018Factorized(LearnedCodec):
    """Balle et al. 2018, factorized prior (one EntropyBottleneck on the latents)."""

    name = "bmshj2018-factorized"
    description = "CompressAI zoo, Balle et al. 2018 factorized prior; quality = the zoo's quality index 1..8"


@register_codec
class Bmshj2018Hyperprior(LearnedCodec):
    """Balle et al. 2018, scale hyperprior."""

    name = "bmshj2018-hyperprior"
    description = "CompressAI zoo, Balle et al. 2018 scale hyperprior; quality = the zoo's quality index 1..8"


@register_codec
class Mbt2018Mean(LearnedCodec):
    """Minnen et al. 2018, mean-scale hyperprior."""

    name = "mbt2018-mean"
    description = "CompressAI zoo, Minnen et al. 2018 mean-scale hyperprior; quality = the zoo's quality index 1..8"


@register_codec
class Mbt2018(LearnedCodec):
    """Minnen et al. 2018, joint autoregressive and hierarchical priors (sequential decoding: slow)."""

    name = "mbt2018"
    description = (
        "CompressAI zoo, Minnen et al. 2018 joint autoregressive + hyperprior; quality = the zoo's quality index 1..8"
    )


@register_codec
class Cheng2020Anchor(LearnedCodec):
    """Cheng et al. 2020, anchor (residual blocks, autoregressive context: slow)."""

    name = "cheng2020-anchor"
    description = "CompressAI zoo, Cheng et al. 2020 anchor; quality = the zoo's quality index 1..6"


@register_codec
class Cheng2020Attention(LearnedCodec):
    """Cheng et al. 2020, with attention blocks (autoregressive context: slow)."""

    name = "cheng2020-attn"
    description = "CompressAI zoo, Cheng et al. 2020 with attention; quality = the zoo's quality index 1..6"


@register_codec
class CompressiveAutoencoder(LearnedCodec):
    """Theis et al. 2017's compressive autoencoder (``cae``): needs a checkpoint, or random weights for tests."""

    name = CAE
    description = "compressive autoencoder after Theis et al. 2017 (EntropyBottleneck rate); quality = size preset 1..4"
    option_schemas = {"pretrained": {"default": False}}  # no published weights


LEARNED_CODECS: tuple[type[LearnedCodec], ...] = (
    Bmshj2018Factorized,
    Bmshj2018Hyperprior,
    Mbt2018Mean,
    Mbt2018,
    Cheng2020Anchor,
    Cheng2020Attention,
    CompressiveAutoencoder,
)
