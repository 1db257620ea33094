"""The models behind the learned codecs: CompressAI's zoo, a compressive autoencoder, their weights and checkpoints.

- :func:`build_model` makes a model by architecture name and quality: the six zoo architectures through
  ``compressai.zoo`` (optionally with their published weights), and ``cae``, the compressive autoencoder of
  Theis et al. 2017 defined here, whose rate is modelled by CompressAI's ``EntropyBottleneck`` so that it writes
  real bitstreams exactly like the zoo models.
- :func:`load_pretrained` gets the zoo's published weights from torch.hub's cache, or downloads them once into
  it, failing at once with an error that says where to put the file when there is no network;
  :func:`fetch_weights` is that step for any published weights file (the classifiers' ImageNet weights too).
- :func:`save_checkpoint` / :func:`load_checkpoint` store our own trained weights in one self-describing file;
  :func:`save_torch_atomic` writes any such file (checkpoints, resumable states) reproducibly.
- :func:`encode_with_latents` is ``model.compress`` plus what an honest codec checks against: the latents the
  encoder coded and the likelihoods' rate estimate; :func:`decode_with_latents` is ``model.decompress`` plus
  the latents the decoder read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import urllib.parse
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..io import atomic_path, read_torch_payload, write_bytes_atomic
from . import CAE, CAE_PRESETS, METRICS, ZOO_ARCHITECTURES, LearnedCodecError, architecture_info

with warnings.catch_warnings():
    # compressai's registry imports torch_geometric, which calls the deprecated torch.jit.script at import time.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
    import compressai.zoo
    from compressai.entropy_models import EntropyBottleneck
    from compressai.layers import ResidualBlock, subpel_conv3x3
    from compressai.models import CompressionModel, JointAutoregressiveHierarchicalPriors
    from compressai.models.utils import conv
    from compressai.ops import quantize_ste
    from compressai.zoo import image as zoo_image
    from compressai.zoo.pretrained import load_pretrained as convert_zoo_state_dict

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "codecbench-learned-codec/1"
# Published weights are named <model>-<sha256 prefix>.<ext> (CompressAI's zoo, torchvision): torch.hub's
# check_hash compares that prefix with the downloaded file's sha256, and so does fetch_weights.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.")


class CompressiveAutoencoder(CompressionModel):
    """A compressive autoencoder after Theis et al. 2017, "Lossy image compression with compressive autoencoders".

    As in the paper: two strided 5x5 convolutions, residual blocks, a third strided convolution down to ``M``
    latent channels (8x smaller sides); the decoder mirrors it with sub-pixel convolutions. Latents are
    rounded at test time. Training replaces rounding's derivative by the identity for the decoder's input
    (``train_quantizer="ste"``, the paper's choice) while the rate term uses additive uniform noise, which is
    what CompressAI's ``EntropyBottleneck`` does; ``train_quantizer="noise"`` feeds the noisy latents to the
    decoder as well. Unlike the paper's Gaussian scale mixtures, the rate is CompressAI's factorized
    ``EntropyBottleneck``, so :meth:`compress` writes real rANS bitstreams like ``FactorizedPrior`` does.
    """

    def __init__(self, N: int = 64, M: int = 48, n_residual: int = 3, train_quantizer: str = "ste", **kwargs: Any):
        super().__init__(**kwargs)
        if train_quantizer not in ("ste", "noise"):
            raise ValueError(f"train_quantizer must be 'ste' or 'noise', got {train_quantizer!r}")
        self.N, self.M, self.n_residual, self.train_quantizer = int(N), int(M), int(n_residual), train_quantizer
        half = max(self.N // 2, 1)
        self.entropy_bottleneck = EntropyBottleneck(self.M)
        self.g_a = nn.Sequential(
            conv(3, half, kernel_size=5, stride=2),
            nn.LeakyReLU(inplace=True),
            conv(half, self.N, kernel_size=5, stride=2),
            nn.LeakyReLU(inplace=True),
            *(ResidualBlock(self.N, self.N) for _ in range(self.n_residual)),
            conv(self.N, self.M, kernel_size=5, stride=2),
        )
        self.g_s = nn.Sequential(
            subpel_conv3x3(self.M, self.N, 2),
            nn.LeakyReLU(inplace=True),
            *(ResidualBlock(self.N, self.N) for _ in range(self.n_residual)),
            subpel_conv3x3(self.N, half, 2),
            nn.LeakyReLU(inplace=True),
            subpel_conv3x3(half, 3, 2),
        )

    @property
    def downsampling_factor(self) -> int:
        return 2**3

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        y = self.g_a(x)
        y_hat, y_likelihoods = self.entropy_bottleneck(y)  # noisy in training, rounded around the medians in eval
        if self.training and self.train_quantizer == "ste":
            medians = self.entropy_bottleneck._get_medians().detach()  # (C, 1, 1): broadcasts over (B, C, H, W)
            y_hat = quantize_ste(y - medians) + medians
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods}}

    def compress(self, x: torch.Tensor) -> dict[str, Any]:
        y = self.g_a(x)
        return {"strings": [self.entropy_bottleneck.compress(y)], "shape": y.size()[-2:]}

    def decompress(self, strings: list, shape) -> dict[str, torch.Tensor]:
        if not (isinstance(strings, list) and len(strings) == 1):
            raise ValueError(f"a CompressiveAutoencoder stream has 1 string group, got {len(strings)}")
        y_hat = self.entropy_bottleneck.decompress(strings[0], shape)
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1)}


def _check_quality_and_metric(architecture: str, quality: int, metric: str) -> None:
    info = architecture_info(architecture)
    if int(quality) != quality or not info.quality_min <= quality <= info.quality_max:
        raise ValueError(f"{architecture}: quality {quality!r} outside {info.quality_min}..{info.quality_max}")
    if metric not in METRICS:
        raise ValueError(f"{architecture}: metric {metric!r} unknown (known: {', '.join(METRICS)})")


def build_model(architecture: str, quality: int, metric: str = "mse", pretrained: bool = False) -> CompressionModel:
    """A model of ``architecture`` at ``quality``, in eval mode on the CPU.

    Zoo architectures come from ``compressai.zoo``; with ``pretrained`` their published weights for ``metric``
    (see :func:`load_pretrained`). ``cae`` has no published weights. Entropy-coder CDFs are not computed here
    (a checkpoint may bring its own): call ``model.update(force=True)`` before ``compress`` on a fresh model.
    """
    _check_quality_and_metric(architecture, quality, metric)
    quality = int(quality)
    if architecture == CAE:
        if pretrained:
            raise ValueError(
                "cae: there are no published pretrained weights for the compressive autoencoder; train one "
                "(codecbench.learned.train) and give checkpoint: <file>, or set pretrained: false"
            )
        n, m = CAE_PRESETS[quality]
        model = CompressiveAutoencoder(N=n, M=m)
    elif pretrained:
        model = load_pretrained(architecture, quality, metric)
    else:
        model = compressai.zoo.image_models[architecture](quality=quality, metric=metric, pretrained=False)
    return model.to("cpu").eval()


def pretrained_weights_path(architecture: str, quality: int, metric: str = "mse") -> tuple[str, Path]:
    """The zoo URL of these weights and the exact file torch.hub caches it as (under ``$TORCH_HOME/hub``)."""
    if architecture not in ZOO_ARCHITECTURES:
        raise ValueError(
            f"{architecture!r} has no CompressAI zoo weights (zoo architectures: {', '.join(ZOO_ARCHITECTURES)})"
        )
    _check_quality_and_metric(architecture, quality, metric)
    url = zoo_image.model_urls[architecture][metric][int(quality)]  # read at call time: tests may repoint it
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlparse(url).path)


def _download(url: str, destination: Path, timeout_s: float) -> None:
    """Download ``url`` to ``destination`` atomically (temporary name in the same folder, then rename).

    Not ``torch.hub.download_url_to_file``: it has no timeout, so an unreachable host could hang a job for
    minutes. The sha256 prefix in the file name is checked, as ``torch.hub`` does with ``check_hash``.
    """
    sha256 = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "codecbench"})
    with atomic_path(destination) as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(request, timeout=timeout_s) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                sha256.update(chunk)
        match = _HASH_IN_NAME.search(destination.name)
        if match and not sha256.hexdigest().startswith(match.group(1)):
            raise ValueError(f"downloaded file's sha256 {sha256.hexdigest()} does not start with {match.group(1)}")


def fetch_weights(
    url: str,
    path: Path,
    what: str,
    alternatives: str,
    timeout_s: float = 30,
    error: type[Exception] = LearnedCodecError,
) -> bool:
    """Make sure ``path`` (in torch.hub's cache) holds the published weights at ``url``; True if downloaded now.

    A missing file is downloaded once (:func:`_download`: atomic, with a timeout, sha256 prefix checked). If that
    fails it raises ``error`` at once: "<what> are not in <path> and downloading them from <url> failed (<cause>).
    Download the file and put it at <path>, or <alternatives>".
    """
    if path.is_file():
        return False
    try:
        _download(url, path, timeout_s)
    except Exception as exc:
        raise error(
            f"{what} are not in {path} and downloading them from {url} failed ({type(exc).__name__}: {exc}). "
            f"Download the file and put it at {path}, or {alternatives}"
        ) from exc
    logger.info("downloaded %s to %s", url, path)
    return True


def _ensure_cdfs(model: CompressionModel) -> None:
    """Compute the entropy coder's CDFs where the weights did not bring them (update(force=False) skips the rest)."""
    model.update(force=False)


def load_pretrained(architecture: str, quality: int, metric: str = "mse", timeout_s: float = 30) -> CompressionModel:
    """The zoo model with its published weights, from torch.hub's cache or downloaded into it once.

    Fails at once (one attempt, ``timeout_s`` per network operation) with a :class:`LearnedCodecError` naming
    the file expected, its URL, the cause and the fix.
    """
    url, path = pretrained_weights_path(architecture, quality, metric)
    what = f"{architecture} quality {quality} metric {metric}"
    fetch_weights(
        url, path, f"{what}: pretrained weights",
        "set pretrained: false (random weights, tests only), or give checkpoint: <file>", timeout_s,
    )  # fmt: skip
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state_dict, dict) and isinstance(state_dict.get("state_dict"), dict):
            state_dict = state_dict["state_dict"]
        model = zoo_image.model_architectures[architecture].from_state_dict(convert_zoo_state_dict(state_dict))
    except Exception as exc:
        raise LearnedCodecError(
            f"{what}: {path} is not a usable {architecture} state dict ({type(exc).__name__}: {exc}). Delete it "
            f"so that it is downloaded again, or replace it with the file from {url}"
        ) from exc
    _ensure_cdfs(model)
    return model.eval()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy and torch scalars
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"training metadata holds a {type(value).__name__}, which a checkpoint cannot store: {value!r}")


def save_checkpoint(
    path: str | os.PathLike,
    model: CompressionModel,
    architecture: str,
    quality: int,
    metric: str,
    training: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write ``model``'s weights and how they were made to ``path``, atomically; return the path.

    Refuses to replace an existing file unless ``overwrite``. Updates the model's entropy-coder CDFs first
    (``update(force=True)``) so that the file codes exactly as the trained model does. ``training`` must be
    JSON-like (numbers, strings, lists, dicts; numpy scalars and paths are converted).
    """
    path = Path(path)
    _check_quality_and_metric(architecture, quality, metric)
    if path.exists() and not overwrite:
        raise FileExistsError(f"checkpoint {path} already exists; choose another path or pass overwrite=True")
    training = json.loads(json.dumps(training, default=_jsonable))
    model.update(force=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture,
        "quality": int(quality),
        "metric": metric,
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "training": training,
    }
    save_torch_atomic(payload, path)
    return path


def save_torch_atomic(payload: Any, path: str | os.PathLike) -> None:
    """``torch.save(payload)`` to ``path`` atomically, as readable as any result file, the same bytes every time.

    Saved in memory first: ``torch.save`` to a file name records that name as the zip archive's root folder, so
    saving to a temporary name would put a random name in the file. The bytes then go through
    :func:`codecbench.io.write_bytes_atomic` (permissions from the umask, not a temporary file's 0600).
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> tuple[CompressionModel, dict[str, Any]]:
    """The model stored by :func:`save_checkpoint` (eval mode, CPU) and the file's whole payload."""
    path = Path(path)
    if not path.is_file():
        raise LearnedCodecError(f"checkpoint {path} does not exist (give the file that training wrote)")
    bare_state_dict = " A bare state dict? CompressAI zoo weights belong in torch.hub's cache (pretrained: true)."
    payload = read_torch_payload(
        path, CHECKPOINT_FORMAT, "checkpoint", ("architecture", "quality", "metric", "state_dict"),
        error=LearnedCodecError, advice=bare_state_dict,
    )  # fmt: skip
    try:
        model = build_model(payload["architecture"], payload["quality"], payload["metric"], pretrained=False)
        model.load_state_dict(payload["state_dict"])  # CompressAI's override resizes the empty CDF buffers
    except (ValueError, RuntimeError, KeyError) as exc:
        raise LearnedCodecError(
            f"checkpoint {path}: its weights do not fit {payload['architecture']} quality {payload['quality']} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    _ensure_cdfs(model)
    return model.eval(), payload


def pick_device(preference: str = "auto") -> torch.device:
    """``auto``: CUDA when torch sees a GPU, else the CPU; ``cpu``; ``cuda`` (or ``cuda:N``): that GPU or an error."""
    choice = str(preference).strip().lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda" or choice.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise LearnedCodecError(
                f"device {preference!r} requested but torch {torch.__version__} sees no CUDA GPU; "
                "set device: auto or cpu"
            )
        return torch.device(choice)
    raise ValueError(f"unknown device {preference!r} (use auto, cpu or cuda)")


def _compress_autoregressive(model: JointAutoregressiveHierarchicalPriors, x: torch.Tensor):
    """``model.compress(x)`` for the context models (mbt2018, cheng2020), also returning the coded latents.

    The same steps as CompressAI 1.2.8's ``JointAutoregressiveHierarchicalPriors.compress``; its
    ``_compress_ar`` writes each dequantized latent into the padded ``y_hat`` in place, which we keep.
    """
    y = model.g_a(x)
    z = model.h_a(y)
    z_strings = model.entropy_bottleneck.compress(z)
    z_hat = model.entropy_bottleneck.decompress(z_strings, z.size()[-2:])
    params = model.h_s(z_hat)
    s, kernel_size = 4, 5  # y is 4x larger than z; the context model's kernel
    padding = (kernel_size - 1) // 2
    y_height, y_width = z_hat.size(2) * s, z_hat.size(3) * s
    y_hat = F.pad(y, (padding, padding, padding, padding))
    y_strings = [
        model._compress_ar(y_hat[i : i + 1], params[i : i + 1], y_height, y_width, kernel_size, padding)
        for i in range(y.size(0))
    ]
    compressed = {"strings": [y_strings, z_strings], "shape": z.size()[-2:]}
    return compressed, F.pad(y_hat, (-padding, -padding, -padding, -padding))


@contextlib.contextmanager
def _substituted(model: nn.Module, name: str, function: Any):
    """Within the block ``model.<name>(...)`` calls ``function``: an instance attribute shadows the submodule.

    CompressAI's ``forward``, ``compress`` and ``decompress`` all reach the transforms as ``self.g_a`` and
    ``self.g_s``; shadowing them lets one encoding reuse the analysis transform's output instead of running
    it twice, and lets the decoder's latents be seen on their way into the synthesis transform.
    """
    object.__setattr__(model, name, function)  # nn.Module.__setattr__ refuses a function for a child's name
    try:
        yield
    finally:
        del model.__dict__[name]


@torch.no_grad()
def encode_with_latents(model: CompressionModel, x: torch.Tensor) -> tuple[dict, torch.Tensor, float]:
    """``model.compress(x)``, the dequantized latents it coded, and the likelihoods' rate estimate in bits.

    One analysis transform serves both the estimate and the bitstream: ``forward`` runs with ``g_a``'s output
    recorded and without the synthesis transform (its picture is not needed), then ``compress`` reuses that
    output. For the factorized and hyperprior models ``forward`` in eval mode quantizes exactly as ``compress``
    codes, so its ``g_s`` input is the coded latents; the context models' ``forward`` rounds without the
    predicted means, so theirs are taken from the compression itself. The estimate is ``sum(-log2 p)`` over all
    of ``forward``'s likelihoods (what CompressAI reports as estimated bpp, times the pixels).
    """
    analysis, seen = model.g_a, {}

    def recorded_analysis(inputs: torch.Tensor) -> torch.Tensor:
        seen["y"] = analysis(inputs)
        return seen["y"]

    def skipped_synthesis(y_hat: torch.Tensor) -> torch.Tensor:
        seen["y_hat"] = y_hat
        return y_hat.new_zeros(())

    with _substituted(model, "g_a", recorded_analysis), _substituted(model, "g_s", skipped_synthesis):
        out = model(x)
    bits = sum(float(-torch.log2(lik).sum()) for lik in out["likelihoods"].values())
    with _substituted(model, "g_a", lambda inputs: seen["y"]):
        if isinstance(model, JointAutoregressiveHierarchicalPriors):
            compressed, y_hat = _compress_autoregressive(model, x)
        else:
            compressed, y_hat = model.compress(x), seen["y_hat"]
    return compressed, y_hat, bits


@torch.no_grad()
def decode_with_latents(model: CompressionModel, strings: list, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """``model.decompress(strings, shape)["x_hat"]`` clamped to [0, 1], and the latents it synthesised them from."""
    synthesis, seen = model.g_s, {}

    def recorded_synthesis(y_hat: torch.Tensor) -> torch.Tensor:
        seen["y_hat"] = y_hat
        return synthesis(y_hat)

    with _substituted(model, "g_s", recorded_synthesis):
        x_hat = model.decompress(strings, shape)["x_hat"]
    return x_hat.clamp(0, 1), seen["y_hat"]


@torch.no_grad()
def synthesize(model: CompressionModel, y_hat: torch.Tensor) -> torch.Tensor:
    """The picture of latents ``y_hat`` in [0, 1]: what a decoder that read exactly these latents outputs."""
    return model.g_s(y_hat).clamp(0, 1)


__all__ = [
    "CHECKPOINT_FORMAT",
    "CompressiveAutoencoder",
    "LearnedCodecError",
    "ZOO_ARCHITECTURES",
    "build_model",
    "decode_with_latents",
    "encode_with_latents",
    "fetch_weights",
    "load_checkpoint",
    "load_pretrained",
    "pick_device",
    "pretrained_weights_path",
    "save_checkpoint",
    "save_torch_atomic",
    "synthesize",
]
