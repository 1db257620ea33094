"""The codec interface: every codec, classical or learned, turns an RGB image into real bytes and back."""

from __future__ import annotations

import copy
import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


def bits_per_pixel(n_bytes: int, width: int, height: int) -> float:
    """The rate of a stored file: its bytes x 8 over the pixels of the original image."""
    return n_bytes * 8.0 / (width * height)


class CodecError(RuntimeError):
    """A codec failed on an input; the message names the codec and what went wrong."""


class LearnedCodecError(CodecError):
    """A learned codec cannot get its model (weights missing, bad checkpoint, no CUDA) or cannot code an image."""


def schema_ref(definition: str) -> dict[str, str]:
    """A reference to ``definition``, a fragment that several codecs share, defined once under ``$defs`` in
    ``schemas/config.schema.yaml`` (e.g. ``pix_fmt``)."""
    return {"$ref": f"#/$defs/{definition}"}


def _resolved(fragment: dict[str, Any]) -> dict[str, Any]:
    """``fragment`` with its ``$ref`` (if any) replaced by the shared definition, the fragment's own keys winning."""
    if "$ref" not in fragment:
        return fragment
    from ..config.validate import DEFAULT_SCHEMA, _schema_file

    definition = fragment["$ref"].removeprefix("#/$defs/")
    own = {key: value for key, value in fragment.items() if key != "$ref"}
    return {**_resolved(_schema_file(DEFAULT_SCHEMA)["$defs"][definition]), **own}


@functools.cache
def _option_defaults(cls: type[Codec]) -> dict[str, Any]:
    """Option -> default of a codec class: its shared option set's (if any), amended by its own fragments."""
    options: dict[str, dict[str, Any]] = {}
    if cls.shared_options is not None:
        options.update(_resolved(schema_ref(cls.shared_options))["properties"])
    for option, fragment in cls.option_schemas.items():
        options[option] = {**_resolved(options.get(option, {})), **fragment}
    defaults = {}
    for option, fragment in options.items():
        spec = _resolved(fragment)
        if "default" not in spec:
            raise TypeError(
                f"codec {cls.name!r}: option {option!r} has no default (a config names only what it changes)"
            )
        defaults[option] = spec["default"]
    return defaults


class _OptionDefaults:
    """``Codec.default_options``: the ``default`` of each option's schema fragment, read on first use (a shared
    fragment's default is in the schema file, which is then loaded once)."""

    def __get__(self, instance: Codec | None, owner: type[Codec]) -> dict[str, Any]:
        return copy.deepcopy(_option_defaults(owner))


class Codec(ABC):
    """One codec at one quality.

    Subclasses declare their registry ``name``, the file ``extension`` of their bitstream, the valid range of
    their native ``quality`` knob (``quality_min``..``quality_max``, integers unless ``quality_type`` is
    float) and what it means (``quality_doc``; ``higher_is_better`` says in which direction it improves).
    ``options`` are the codec's other settings from the config (e.g. ``method`` for WebP).

    The same attributes make the codec's entry in the config schema (:meth:`schema_entry`): ``description`` is
    its text; ``option_schemas`` gives each option as a JSON-schema fragment (type, enum or range,
    description) with its ``default``, or as :func:`schema_ref` to a fragment shared by several codecs;
    ``shared_options`` names a ``$defs`` entry holding a whole set of options shared by a family of codecs
    (``learned_options``), which ``option_schemas`` then only amends; ``supports_target_bpp`` allows equal-rate
    points. ``default_options`` is derived from these fragments, so that a config names only what it changes.

    ``notes`` (optional, Markdown) says what a user should know beyond the one-line ``description`` (the stored
    file's format, where weights come from); only docs/codecs.md shows it, not the schema.
    """

    name: ClassVar[str]
    extension: ClassVar[str]
    quality_min: ClassVar[float]
    quality_max: ClassVar[float]
    quality_type: ClassVar[type] = int
    higher_is_better: ClassVar[bool] = True
    quality_doc: ClassVar[str]
    description: ClassVar[str]
    notes: ClassVar[str] = ""  # longer Markdown for docs/codecs.md (make docs), beyond the one-line description
    option_schemas: ClassVar[dict[str, dict[str, Any]]] = {}
    shared_options: ClassVar[str | None] = None
    supports_target_bpp: ClassVar[bool] = False
    default_options: ClassVar[dict[str, Any]] = _OptionDefaults()  # type: ignore[assignment]
    device: ClassVar[str] = "cpu"  # where encode/decode run; learned codecs report "cuda" when they use it
    # Whether a point keeps its decoded images (PNG) beside its bitstreams: only where decoding again costs more
    # than reading a PNG (a network, one process per image). A config's keep_decoded overrides it per codec.
    keeps_decoded: ClassVar[bool] = False
    # Whether a job with several threads may code its images in parallel threads (one codec instance per thread).
    # False for a codec that spends the job's threads itself (a network on torch's threads).
    parallel_images: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "default_options" in cls.__dict__:
            raise TypeError(
                f"codec class {cls.__name__}: give each option's default in option_schemas, not in default_options "
                "(derived from them)"
            )

    @classmethod
    def ladder_items(cls) -> dict[str, Any]:
        """The schema of one point of the quality ladder: the knob's type and range."""
        kind = "integer" if cls.quality_type is int else "number"
        return {"type": kind, "minimum": cls.quality_min, "maximum": cls.quality_max}

    @classmethod
    def schema_entry(cls) -> dict[str, Any]:
        """The codec's entry under ``codecs`` in the config schema: its ladder, datasets, equal-rate points (when
        supported) and options; :func:`codecbench.codecs.fill_schema` puts it there."""
        properties: dict[str, Any] = {
            "qualities": {**schema_ref("ladder"), "items": cls.ladder_items()},
            "datasets": schema_ref("dataset_refs"),
            "keep_decoded": {
                "type": "boolean",
                "description": (
                    "keep each point's decoded images (PNG) beside its bitstreams, or decode the bitstreams again "
                    f"wherever pixels are needed; default for this codec: {str(cls.keeps_decoded).lower()}"
                ),
            },
        }
        if cls.supports_target_bpp:
            properties["target_bpp"] = schema_ref("target_bpp")
        properties["roi"] = schema_ref("roi")
        own = copy.deepcopy(cls.option_schemas)
        if cls.shared_options is not None:
            properties["options"] = {"allOf": [schema_ref(cls.shared_options)], "properties": own}
        elif own:
            properties["options"] = {"type": "object", "additionalProperties": False, "properties": own}
        return {
            "description": cls.description,
            "type": "object",
            "additionalProperties": False,
            "required": ["qualities"],
            "properties": properties,
        }

    def __init__(self, quality: float, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            known = ", ".join(sorted(self.default_options)) or "none"
            raise ValueError(f"codec {self.name!r}: unknown option(s) {unknown} (known: {known})")
        if not (self.quality_min <= quality <= self.quality_max):
            raise ValueError(f"codec {self.name!r}: quality {quality} outside {self.quality_min}..{self.quality_max}")
        if self.quality_type is int and int(quality) != quality:
            raise ValueError(f"codec {self.name!r}: quality must be an integer, got {quality}")
        self.quality = self.quality_type(quality)
        self.options = {**self.default_options, **options}

    @abstractmethod
    def encode(self, image: np.ndarray) -> bytes:
        """Encode a uint8 HxWx3 RGB image into the bytes a user would store."""

    @abstractmethod
    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        """Decode bytes from :meth:`encode` into a uint8 HxWx3 RGB image.

        ``size`` is the (height, width) of the encoded image; only codecs whose streams cannot state odd sides
        (4:2:0 video codecs) need it, to crop their padding away. All others ignore it.
        """

    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """The library (and its version) that really does the coding, e.g. ``Pillow 12.0.0 libjpeg-turbo 3.1``."""

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.name} quality={self.quality}" + (f" ({opts})" if opts else "")


def kilobits_per_second(n_bytes: float, n_frames: int, fps: float) -> float:
    """The rate of a stored clip: its bytes x 8 over its duration (frames / frames per second), in kbit/s."""
    if n_frames <= 0 or fps <= 0:
        raise ValueError(f"a clip needs frames and a positive frame rate, got {n_frames} frames at {fps} fps")
    return n_bytes * 8.0 / (n_frames / fps) / 1000.0


@dataclass(frozen=True)
class EncodedSequence:
    """A coded clip: ``data`` is the whole file a user would store (container included). ``frame_bytes`` and
    ``frame_types`` describe each frame in display order: the bytes of its coded frame (packet payload; their sum
    is at most ``len(data)``, the rest being container overhead) and its picture type ("I", "P", "B", or "" when the
    codec does not say)."""

    data: bytes
    frame_bytes: list[int]
    frame_types: list[str]


class SequenceCodec(Codec):
    """A video codec: it codes a whole clip (a list of equally sized frames at a frame rate) into one file, so
    frames may be predicted from each other. ``extension`` is the container's (mp4, webm, ...).

    :meth:`encode` / :meth:`decode` code a single image as a one-frame clip, so a sequence codec also runs where an
    image codec is expected.
    """

    sequence: ClassVar[bool] = True

    @abstractmethod
    def encode_sequence(self, frames: list[np.ndarray], fps: float) -> EncodedSequence:
        """Encode uint8 HxWx3 RGB frames (all the same size) shown at ``fps`` frames per second."""

    @abstractmethod
    def decode_sequence(self, data: bytes, size: tuple[int, int], n_frames: int) -> list[np.ndarray]:
        """Decode :attr:`EncodedSequence.data` into ``n_frames`` uint8 HxWx3 RGB frames of ``size`` (height,
        width), in display order; CodecError if the stream holds another number of frames or another size."""

    def encode(self, image: np.ndarray) -> bytes:
        return self.encode_sequence([image], fps=1.0).data

    def decode(self, data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        if size is None:
            raise CodecError(f"{self.describe()}: decoding needs the frame size")
        return self.decode_sequence(data, size, 1)[0]
