"""What each codec and each task model costs to run: parameters and multiply-accumulates per pixel (kMAC/px).

MPEG's common test conditions for learned image coding (JPEG AI) ask for the complexity of encoder and decoder in
kMAC/px: multiply-accumulate operations of one forward pass divided by the image's pixels, in thousands. The
counts come from torch's own operator-level counter, :class:`torch.utils.flop_counter.FlopCounterMode`, which
counts the operations it knows the cost of: convolutions (transposed too), matrix products (linear layers,
``mm``/``addmm``/``bmm``) and scaled dot-product attention, at 2 FLOPs per MAC, biases not counted. Elementwise
work (activations, normalisation, GDN's square root and division, additions, pooling, resampling, warping) is not
counted: that is the convention of kMAC/px in the learned-compression literature, where such work is small next to
the convolutions. GDN's own 1x1 convolution over the squared input is a convolution and is counted.

- :func:`count_macs`: parameters and MACs of one forward of any ``nn.Module``.
- :func:`codec_complexity`: a codec of the registry at one quality; a learned codec's encoder and decoder sides
  separately; a classical codec has no network, so its counts are NaN.
- :func:`task_model_complexity`: a task's model (classifier, YOLO detector) on one image.
- :func:`coding_times_per_megapixel`: measured coding seconds per megapixel from a ladder's rate rows, the
  wall-clock complement of the operation counts (and the only cost a classical codec has here).

Torch is imported inside the functions: planning a config imports this package, and torch costs seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    import torch

# The parts of a CompressAI image model (attribute names) that its compress() runs and its decompress() runs.
# A hyperprior's encoder runs the hyper-synthesis h_s too: it needs the scales (and means) of y to entropy-code
# y. The autoregressive models (mbt2018, cheng2020-*) run their context model on both sides, pixel by pixel;
# pixel by pixel it costs the same MACs as the one masked convolution of forward().
ENCODER_PARTS = ("g_a", "h_a", "h_s", "context_prediction", "entropy_parameters")
DECODER_PARTS = ("h_s", "context_prediction", "entropy_parameters", "g_s")
MODEL_PARTS = ("g_a", "h_a", "h_s", "g_s", "context_prediction", "entropy_parameters")
# ssf2020's key frames go through its intra path only; everything else a clip of two frames computes is the P frame.
VIDEO_INTRA_PARTS = ("img_encoder", "img_hyperprior", "img_decoder")
TIME_COLUMNS = ["dataset", "codec", "n_images", "n_points", "megapixels", "encode_s_per_mp", "decode_s_per_mp"]
_RATE_COLUMNS_NEEDED = ("dataset", "codec", "quality", "image_id", "width", "height", "encode_s", "decode_s")


def _per_pixel(macs: float, pixels: int) -> dict[str, float]:
    return {"macs_per_pixel": macs / pixels, "kmacs_per_pixel": macs / pixels / 1000}


@contextmanager
def _counting_mode(module: torch.nn.Module) -> Iterator[None]:
    """Eval mode and frozen parameters for one counted forward; the module's state is restored afterwards.

    Frozen because FlopCounterMode's module tracker hooks every module input that requires grad, and without
    autograd those hooks fail on a parameter passed as a module's input (CompressAI's GDN gives its ``beta`` to
    a reparametrization module): ``'NoneType' object has no attribute 'next_functions'``. Restored because the
    module may be one the caller goes on training, or a codec's model shared by the process.
    """
    was_training = module.training
    requires_grad = [(parameter, parameter.requires_grad) for parameter in module.parameters()]
    module.eval()
    for parameter, _ in requires_grad:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in requires_grad:
            parameter.requires_grad_(flag)
        module.train(was_training)


def _counted_forward(
    module: torch.nn.Module,
    inputs: torch.Tensor,
    forward: Callable[[torch.nn.Module, torch.Tensor], Any] | None,
) -> tuple[float, dict[str, float], int]:
    """(MACs of the whole forward, MACs per module name of FlopCounterMode's hierarchy, pixels of ``inputs``).

    Module names are the root's class name then attribute paths, e.g. ``FactorizedPrior.g_a``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4:
        shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a tensor N x C x H x W, got {shape}")
    batch, _, height, width = inputs.shape
    pixels = int(batch * height * width)
    if pixels == 0:
        raise ValueError(f"inputs {tuple(inputs.shape)} have no pixels")
    counter = FlopCounterMode(display=False)
    with _counting_mode(module), torch.no_grad(), counter:
        if forward is None:
            module(inputs)
        else:
            forward(module, inputs)
    by_module = {name: sum(ops.values()) / 2 for name, ops in counter.get_flop_counts().items()}
    return counter.get_total_flops() / 2, by_module, pixels


def count_macs(
    module: torch.nn.Module,
    inputs: torch.Tensor,
    forward: Callable[[torch.nn.Module, torch.Tensor], Any] | None = None,
) -> dict[str, float | int]:
    """Parameters and multiply-accumulates of one forward of ``module`` on ``inputs``, per pixel too.

    ``inputs``: a tensor N x C x H x W on the module's device; its pixels are N * H * W. ``forward(module,
    inputs)`` runs a model whose call is not ``module(inputs)`` (a flattening step, a list of video frames). The
    forward runs in eval mode under ``torch.no_grad()``; the module's mode and its parameters' ``requires_grad``
    are restored afterwards. Not ``torch.inference_mode()``: CompressAI's masked convolution (mbt2018,
    cheng2020-*) rewrites its weight in place in forward, which there would turn a parameter of the model (shared
    by the process's codecs) into an inference tensor that can no longer be trained.

    MACs are FlopCounterMode's FLOPs / 2: convolutions, linear layers, matrix products and attention; not
    elementwise activations or normalisation (the convention of kMAC/px in the learned-compression literature,
    see the module's docstring). Returns ``{"params": int (sum of p.numel()), "macs": float, "macs_per_pixel":
    float, "kmacs_per_pixel": float}``.
    """
    macs, _, pixels = _counted_forward(module, inputs, forward)
    params = sum(parameter.numel() for parameter in module.parameters())
    return {"params": int(params), "macs": float(macs), **_per_pixel(macs, pixels)}


def _example_input(module: torch.nn.Module, shape: Sequence[int]) -> torch.Tensor:
    """A mid-grey tensor of ``shape`` on the module's device, in its parameters' dtype (the counts do not depend
    on the pixel values; a constant keeps every run alike)."""
    import torch

    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    return torch.full(tuple(int(side) for side in shape), 0.5, device=device, dtype=dtype)


def task_model_complexity(module: torch.nn.Module, image_shape: Sequence[int]) -> dict[str, float | int]:
    """:func:`count_macs` of a task's model on one image of ``image_shape``: (height, width) of an RGB image, or
    (channels, height, width).

    Classifiers are ``nn.Module`` s as they are: torchvision's (e.g. ``mobilenet_v2(weights=None)``: 300.8 M MACs
    at 224 x 224, the 0.301 "GFLOPS" torchvision's weights metadata lists, which are in fact multiply-adds) or
    the project's ``small_cnn`` (:func:`codecbench.tasks.classification._build_network`). For an Ultralytics
    detector pass its network, ``YOLO(...).model`` (a ``DetectionModel``), not the ``YOLO`` wrapper, whose call
    runs prediction with pre- and post-processing. FlopCounterMode counts a DetectionModel without trouble:
    yolov8n at 640 x 640 is 4.37 G MACs (8.74 GFLOPs; Ultralytics' own THOP-based count says 8.86, as THOP also
    counts batch normalisation and additions). Non-maximum suppression is post-processing, outside the network,
    and not counted.
    """
    shape = tuple(int(side) for side in image_shape)
    if len(shape) == 2:
        shape = (3, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width) or (channels, height, width), got {image_shape!r}")
    return count_macs(module, _example_input(module, (1, *shape)))


def _nan_complexity() -> dict[str, float]:
    return {
        "params": math.nan,
        "macs": math.nan,
        "macs_per_pixel": math.nan,
        "kmacs_per_pixel": math.nan,
        "encoder_kmacs_per_pixel": math.nan,
        "decoder_kmacs_per_pixel": math.nan,
    }


def _check_side(codec_name: str, image_side: int, multiple: int) -> None:
    # Another side would be padded by the codec, and its pixels would then not be the image's.
    if int(image_side) != image_side or image_side < multiple or image_side % multiple:
        rounded_up = max(multiple, -(-int(image_side) // multiple) * multiple)
        raise ValueError(
            f"{codec_name}: image_side {image_side!r} must be a positive multiple of {multiple} (the model's "
            f"downsampling factor; the codec pads other sides to it), e.g. {rounded_up}"
        )


def _image_model_complexity(model: torch.nn.Module, codec_name: str, image_side: int) -> dict[str, float]:
    multiple = int(getattr(model, "downsampling_factor", 64))
    _check_side(codec_name, image_side, multiple)
    macs, by_module, pixels = _counted_forward(model, _example_input(model, (1, 3, image_side, image_side)), None)
    root = type(model).__name__

    def side_macs(parts: Sequence[str]) -> float:
        return sum(by_module.get(f"{root}.{part}", 0.0) for part in parts if hasattr(model, part))

    row = {
        "macs": macs,
        **_per_pixel(macs, pixels),
        "encoder_kmacs_per_pixel": side_macs(ENCODER_PARTS) / pixels / 1000,
        "decoder_kmacs_per_pixel": side_macs(DECODER_PARTS) / pixels / 1000,
    }
    for part in MODEL_PARTS:
        if hasattr(model, part):
            row[f"{part}_kmacs_per_pixel"] = side_macs([part]) / pixels / 1000
    return row


def _video_model_complexity(model: torch.nn.Module, codec_name: str, image_side: int) -> dict[str, float]:
    from ..learned.train_video import PAD_MULTIPLE

    _check_side(codec_name, image_side, PAD_MULTIPLE)
    frames = _example_input(model, (2, 3, image_side, image_side))  # one key frame, then one predicted frame
    macs, by_module, pixels = _counted_forward(model, frames, lambda network, x: network(list(x.split(1))))
    frame_pixels = pixels // 2
    root = type(model).__name__
    intra = sum(by_module.get(f"{root}.{part}", 0.0) for part in VIDEO_INTRA_PARTS)
    return {
        "macs": macs,
        **_per_pixel(macs, pixels),
        "encoder_kmacs_per_pixel": math.nan,
        "decoder_kmacs_per_pixel": math.nan,
        "i_frame_kmacs_per_pixel": intra / frame_pixels / 1000,
        "p_frame_kmacs_per_pixel": (macs - intra) / frame_pixels / 1000,
    }


def codec_complexity(
    codec_name: str, quality: float, options: dict[str, Any] | None = None, image_side: int = 256
) -> dict[str, Any]:
    """Parameters and kMAC/px of codec ``codec_name`` at ``quality`` with ``options``, on an RGB image of
    ``image_side`` x ``image_side`` (a multiple of the model's downsampling factor: 16 for bmshj2018-factorized,
    8 for cae, 64 for the other zoo models, 128 for ssf2020).

    The codec is made as the pipeline makes it (:func:`codecbench.codecs.make_codec`), so the model is the one
    its options give: ``checkpoint`` (our trained weights) or ``pretrained`` (the zoo's, from torch.hub's cache,
    downloaded if missing). ``pretrained: false`` without a checkpoint gives seeded random weights, with the same
    counts and no download. ``device`` defaults to ``cpu`` here: counting needs no accelerator.

    Returned keys: ``codec``, ``quality``, ``image_side``, ``params``, ``macs`` (one forward of the model, as in
    training: every transform, plus the entropy model's likelihood products, which coding does not need),
    ``macs_per_pixel``, ``kmacs_per_pixel``, ``encoder_kmacs_per_pixel`` and ``decoder_kmacs_per_pixel``.

    - An image model's encoder side is what ``compress`` runs: g_a and, where present, h_a, h_s (the entropy
      parameters of y) and the context model (``context_prediction``, ``entropy_parameters``); its decoder
      side is what ``decompress`` runs: h_s, the context model and g_s. Both count transforms only, not the
      arithmetic coder. So h_s and the context model are in both sides, and encoder + decoder minus them is
      ``macs`` minus the entropy model's own products. Each part present is reported too, as
      ``<part>_kmacs_per_pixel`` (``g_a``, ``h_a``, ``h_s``, ``g_s``, ``context_prediction``,
      ``entropy_parameters``).
    - ssf2020 (video) is measured on a clip of one key frame and one predicted frame: ``kmacs_per_pixel`` is
      their mean per frame pixel, ``i_frame_kmacs_per_pixel`` the intra path's (image encoder, hyperprior and
      decoder) and ``p_frame_kmacs_per_pixel`` the rest (motion and residual paths, the scale-space blur
      convolutions; not the warping, which is resampling). Its encoder and decoder sides are NaN: a video
      encoder runs its decoder too (it predicts from reconstructions), which this split does not attempt.
    - A classical (or external) codec has no network here: ``params``, ``macs`` and the per-pixel values are NaN;
      its cost is its coding time (:func:`coding_times_per_megapixel`).
    """
    from ..codecs import get_codec_class, make_codec
    from ..codecs.base import SequenceCodec
    from ..codecs.learned import ModelSource

    row: dict[str, Any] = {"codec": codec_name, "quality": quality, "image_side": image_side}
    if not issubclass(get_codec_class(codec_name), ModelSource):
        make_codec(codec_name, quality, options)  # refuses a quality or options the pipeline would refuse
        return row | _nan_complexity()
    codec = make_codec(codec_name, quality, {"device": "cpu", **(options or {})})
    model = codec.load_model()
    params = int(sum(parameter.numel() for parameter in model.parameters()))
    if isinstance(codec, SequenceCodec):
        return row | {"params": params} | _video_model_complexity(model, codec_name, image_side)
    return row | {"params": params} | _image_model_complexity(model, codec_name, image_side)


def coding_times_per_megapixel(rates: pd.DataFrame, by: Sequence[str] = ("dataset", "codec")) -> pd.DataFrame:
    """Measured coding time per megapixel of each (dataset, codec), or each group of the columns ``by`` (e.g. with
    ``quality`` too: per point), from a ladder's rate rows.

    ``rates``: rows with ``dataset``, ``codec``, ``quality``, ``image_id``, ``width``, ``height``, ``encode_s`` and
    ``decode_s`` (the rate table of :func:`codecbench.stages.compress.compress_ladder`, datasets and codecs
    concatenated). ``encode_s_per_mp`` is the sum of encoding seconds over all images and points of the pair
    divided by the sum of their megapixels (width * height / 1e6): a ratio of totals, so that large images
    weigh as much as the time they take, rather than a mean of per-image ratios. ``decode_s_per_mp`` likewise.
    A row whose time is missing counts in neither sum of that time. A video codec's rows are frames, each
    carrying its clip's time divided by the clip's frames, so the same formula gives the clip's time over the
    clip's pixels. ``n_images``: distinct image ids (frames for video); ``n_points``: distinct qualities;
    ``megapixels``: the total coded. Columns :data:`TIME_COLUMNS` (``by`` in place of dataset and codec), the
    groups in order of first appearance.
    """
    by = list(by)
    missing = [column for column in dict.fromkeys([*_RATE_COLUMNS_NEEDED, *by]) if column not in rates.columns]
    if missing:
        raise ValueError(f"rate rows lack the column(s) {', '.join(missing)}")
    table = rates.assign(_megapixels=rates["width"].astype(float) * rates["height"].astype(float) / 1e6)
    rows = []
    for keys, group in table.groupby(by, sort=False):
        row = {
            **dict(zip(by, keys, strict=True)),
            "n_images": int(group["image_id"].nunique()),
            "n_points": int(group["quality"].nunique()),
            "megapixels": float(group["_megapixels"].sum()),
        }
        for side in ("encode", "decode"):
            seconds = group[f"{side}_s"].astype(float)
            timed = seconds.notna()
            megapixels = group.loc[timed, "_megapixels"].sum()
            row[f"{side}_s_per_mp"] = float(seconds[timed].sum() / megapixels) if megapixels > 0 else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, *TIME_COLUMNS[2:]])


__all__ = [
    "DECODER_PARTS",
    "ENCODER_PARTS",
    "TIME_COLUMNS",
    "codec_complexity",
    "coding_times_per_megapixel",
    "count_macs",
    "task_model_complexity",
]
