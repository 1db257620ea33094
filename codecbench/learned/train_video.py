"""CompressAI's scale-space-flow video model (``ssf2020``): its weights, its checkpoints, and training it on clips.

- :func:`load_ssf_pretrained` reads the zoo's published weights for a quality from torch.hub's cache
  (``$TORCH_HOME/hub/checkpoints``). It never downloads: without the file it fails at once naming the file, its
  URL and the alternative (a checkpoint trained here).
- :func:`save_ssf_checkpoint` / :func:`load_ssf_checkpoint` store a trained model in one self-describing file
  (what the ``ssf2020`` codec's ``checkpoint`` option reads).
- :func:`train_ssf` trains the model on random crops of consecutive frame groups, following CompressAI's
  ``examples/train_video.py``: each sample is ``frames_per_sample`` consecutive frames (the first coded as a key
  frame, the others predicted from the previous reconstruction); the loss is ``lambda * 255**2 * MSE + bpp``
  with the MSE averaged over the frames and the bpp the bits of all frames over the pixels of all frames (so
  both are per frame); one Adam optimiser for the network and one for the entropy bottlenecks' quantiles
  (driven by the summed ``aux_loss()``), gradient clipping at 1.0. It reuses the image trainer's machinery
  (:mod:`codecbench.learned.train`): seeding, deterministic kernels, optimisers, CSV log, the resumable
  ``.partial`` state, reproducible files and what to do with a checkpoint another process wrote.
"""

from __future__ import annotations

import json
import math
import os
import urllib.parse
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import read_torch_payload
from . import LearnedCodecError
from .models import _jsonable, pick_device, save_torch_atomic
from .train import (
    CLIP_MAX_NORM,
    KEPT,
    REPLACED,
    _cuda_devices,
    _deterministic,
    _fingerprint,
    _optimisers,
    _prepare_images,
    _resume,
    _save_partial,
    finished_elsewhere,
    logger,
    partial_path,
    run_steps,
)

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
    from compressai.models.video import ScaleSpaceFlow
    from compressai.zoo import video as zoo_video
    from compressai.zoo.pretrained import load_pretrained as convert_zoo_state_dict

ARCHITECTURE = "ssf2020"
QUALITY_MIN, QUALITY_MAX = 1, 9  # compressai.zoo.video: one set of mse weights per quality
METRIC = "mse"  # the only metric with published ssf2020 weights
# Sides must be multiples of this: four stride-2 convolutions to the latents, then three more to the hyper-latents
# (whose transposed convolutions must give back the latents' exact size). The scale-space volume (num_levels 5:
# four 2x poolings) needs only 16.
PAD_MULTIPLE = 2 ** (4 + 3)
CHECKPOINT_FORMAT = "codecbench-learned-video-codec/1"
CHECKPOINT_NAME = "checkpoint.pth.tar"
TRAIN_CSV_NAME = "train.csv"
RANDOM_INIT_SEED = 0  # random weights are seeded so that every process builds the same (meaningless) codec

DEFAULT_SETTINGS: dict[str, Any] = {
    "lambda": 0.0130,
    "steps": 1000,
    "batch_size": 4,
    "patch_size": 256,
    "learning_rate": 1e-4,
    "aux_learning_rate": 1e-3,
    "frames_per_sample": 3,
    "seed": 0,
    "init": "random",  # or "zoo" (the cached zoo weights of ``quality``), or "auto" (zoo when cached, else random)
    "quality": None,  # the index the model is stored under (a label for the codec); picks the zoo weights for init
    "checkpoint_every": 100,
}
INITS = ("random", "zoo", "auto")


# -- weights ---------------------------------------------------------------------------------------------------


def _check_quality(quality: Any) -> int:
    if isinstance(quality, bool) or int(quality) != quality or not QUALITY_MIN <= quality <= QUALITY_MAX:
        raise ValueError(f"{ARCHITECTURE}: quality {quality!r} outside {QUALITY_MIN}..{QUALITY_MAX}")
    return int(quality)


def ssf_weights_path(quality: int) -> tuple[str, Path]:
    """The zoo URL of the ``quality`` weights and the file torch.hub caches it as (``$TORCH_HOME/hub/checkpoints``)."""
    url = zoo_video.model_urls[ARCHITECTURE][METRIC][_check_quality(quality)]  # read at call time: tests repoint it
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlparse(url).path)


def build_ssf(seed: int | None = RANDOM_INIT_SEED) -> ScaleSpaceFlow:
    """A randomly initialised ScaleSpaceFlow on the CPU in eval mode, seeded unless ``seed`` is None.

    Its entropy-coder CDFs are not computed: call ``update(force=True)`` before ``compress``.
    """
    if seed is None:
        return ScaleSpaceFlow().eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ScaleSpaceFlow().eval()


def load_ssf_pretrained(quality: int) -> ScaleSpaceFlow:
    """The zoo model of ``quality`` (eval mode, CPU, CDFs ready) from torch.hub's cache; never downloads."""
    url, path = ssf_weights_path(quality)
    what = f"{ARCHITECTURE} quality {quality} ({METRIC})"
    if not path.is_file():
        raise LearnedCodecError(
            f"{what}: pretrained weights {path.name} are not in {path.parent} (nothing is downloaded). Fetch {url} "
            f"and put it at {path}, or give checkpoint: <file> (a model trained by "
            "codecbench.learned.train_video.train_ssf)"
        )
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state_dict, dict) and isinstance(state_dict.get("state_dict"), dict):
            state_dict = state_dict["state_dict"]
        model = ScaleSpaceFlow.from_state_dict(convert_zoo_state_dict(state_dict))
    except Exception as exc:
        raise LearnedCodecError(
            f"{what}: {path} is not a usable {ARCHITECTURE} state dict ({type(exc).__name__}: {exc}). "
            f"Replace it with the file from {url}"
        ) from exc
    model.update(force=False)  # CDFs the file did not bring
    return model.eval()


def save_ssf_checkpoint(
    path: str | os.PathLike,
    model: ScaleSpaceFlow,
    quality: int | None,
    training: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write ``model`` and how it was made to ``path`` atomically and reproducibly (the same bytes for the same
    model); never over an existing file unless ``overwrite``. Returns the path.

    Updates the entropy-coder CDFs first (``update(force=True)``) so that the file codes exactly as the model
    does. ``quality`` is the index the model is known by (None: no index); ``training`` must be JSON-like.
    """
    path = Path(path)
    if quality is not None:
        quality = _check_quality(quality)
    if path.exists() and not overwrite:
        raise FileExistsError(f"checkpoint {path} already exists; delete it to write this model again")
    training = json.loads(json.dumps(training, default=_jsonable))
    model.update(force=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "architecture": ARCHITECTURE,
        "quality": quality,
        "metric": METRIC,
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "training": training,
    }
    save_torch_atomic(payload, path)
    return path


def load_ssf_checkpoint(path: str | os.PathLike) -> tuple[ScaleSpaceFlow, dict[str, Any]]:
    """The model stored by :func:`save_ssf_checkpoint` (eval mode, CPU, CDFs ready) and the file's payload."""
    path = Path(path)
    if not path.is_file():
        raise LearnedCodecError(
            f"checkpoint {path} does not exist (give the {CHECKPOINT_NAME} that "
            "codecbench.learned.train_video.train_ssf wrote)"
        )
    payload = read_torch_payload(
        path, CHECKPOINT_FORMAT, "checkpoint", ("architecture", "state_dict"), error=LearnedCodecError,
        advice=f" A bare state dict? CompressAI's {ARCHITECTURE} zoo weights belong in torch.hub's cache.",
    )  # fmt: skip
    if payload["architecture"] != ARCHITECTURE:
        raise LearnedCodecError(f"checkpoint {path} holds a {payload['architecture']!r} model, not {ARCHITECTURE}")
    model = build_ssf(seed=None)
    try:
        model.load_state_dict(payload["state_dict"])  # CompressAI's override resizes the empty CDF buffers
    except (ValueError, RuntimeError, KeyError) as exc:
        raise LearnedCodecError(
            f"checkpoint {path}: its weights do not fit {ARCHITECTURE} ({type(exc).__name__}: {exc})"
        ) from exc
    model.update(force=False)
    return model.eval(), payload


# -- training --------------------------------------------------------------------------------------------------


def train_ssf(
    clips: Sequence[Sequence[np.ndarray]],
    settings: dict[str, Any],
    out_dir: str | os.PathLike,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Train ScaleSpaceFlow on ``clips`` (lists of uint8 HxWx3 RGB frames, in display order) and save it.

    ``settings`` (defaults in :data:`DEFAULT_SETTINGS`; ``lambda`` is required): ``lambda`` (the rate-distortion
    trade-off), ``steps``, ``batch_size``, ``patch_size`` (a multiple of 128, the model's granularity),
    ``learning_rate``, ``aux_learning_rate``, ``frames_per_sample`` (consecutive frames per sample, >= 2),
    ``seed``, ``init`` (``random``; ``zoo``: start from the cached zoo weights of ``quality``; ``auto``: zoo when
    cached, else random), ``quality`` (1..9 or None: the index the checkpoint carries), ``checkpoint_every``
    (steps between resumable states in ``<checkpoint>.partial``; an existing one with the same settings and clips
    is resumed, giving the uninterrupted run's result).

    Writes ``out_dir/checkpoint.pth.tar`` (what the codec's ``checkpoint`` option loads) and ``out_dir/train.csv``
    (step, loss, bpp, mse, aux_loss per step). A checkpoint already there is kept if it is a finished run of
    exactly this training, else refused before training (:func:`codecbench.learned.train.finished_elsewhere`).
    Each sample is a random patch (the same place in each frame) of ``frames_per_sample`` consecutive frames of a
    random clip, flipped horizontally half the time; frames smaller than the patch are padded by reflection. All
    randomness follows ``seed``: a CPU run repeats bit for bit, checkpoint file included. Returns the training
    dict stored in the checkpoint.
    """
    say = log if log is not None else logger.info
    settings = _check_train_settings(settings)
    out_dir = Path(out_dir)
    checkpoint, train_csv = out_dir / CHECKPOINT_NAME, out_dir / TRAIN_CSV_NAME
    partial = partial_path(checkpoint)
    patch, group = settings["patch_size"], settings["frames_per_sample"]
    prepared = _prepare_clips(clips, patch, group)

    init = settings["init"]
    if init in ("zoo", "auto"):
        if settings["quality"] is None:
            raise ValueError(f"init {init!r} needs the quality whose zoo weights to start from (settings: quality)")
        cached = ssf_weights_path(settings["quality"])[1].is_file()
        init = "zoo" if cached or init == "zoo" else "random"
    hyper = {
        "architecture": ARCHITECTURE,
        **{key: value for key, value in settings.items() if key != "checkpoint_every"},  # resuming may change it
        "init": init,
        "clip_max_norm": CLIP_MAX_NORM,
        "num_clips": len(clips),
        "num_frames": sum(len(clip) for clip in clips),
        "clips_sha256": _fingerprint([frame for clip in clips for frame in clip]),
    }
    if init == "zoo":
        hyper["init_weights"] = ssf_weights_path(settings["quality"])[1].name
    done = finished_elsewhere(checkpoint, CHECKPOINT_FORMAT, train_csv, hyper, say, KEPT)  # before training
    if done is not None:
        return done

    dev = pick_device(device)
    if dev.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    started = (
        f"training {ARCHITECTURE} (lambda {settings['lambda']}, {group}-frame samples of {patch} px, {init} init) "
        f"on {dev.type} for {settings['steps']} steps"
    )
    logger.info(started)
    if log is not None:
        log(started)

    steps = settings["steps"]
    with _deterministic(), torch.random.fork_rng(devices=_cuda_devices(dev)):
        seed = settings["seed"]
        torch.manual_seed(seed)
        model = load_ssf_pretrained(settings["quality"]) if init == "zoo" else build_ssf(seed=None)
        model = model.to(dev).train()
        optimizer, aux_optimizer = _optimisers(model, settings["learning_rate"], settings["aux_learning_rate"])
        rng = np.random.default_rng(seed)
        rows: list[dict[str, float]] = []
        start = 0
        if partial.exists():
            start, rows = _resume(partial, hyper, model, optimizer, aux_optimizer, rng, dev)
            say(f"resuming from {partial} at step {start} of {steps}")

        run_steps(
            start, steps, settings["checkpoint_every"], rows, train_csv, say, on_step,
            train_step=lambda: _train_step(
                model, optimizer, aux_optimizer,
                [f.to(dev) for f in _sample_groups(prepared, rng, settings["batch_size"], patch, group)],
                settings["lambda"],
            ),
            save_partial=lambda step: _save_partial(
                partial, hyper, model, optimizer, aux_optimizer, rng, rows, step, dev
            ),
        )  # fmt: skip
        training = {**hyper, "device": dev.type, "steps_done": int(steps), "final": dict(rows[-1])}
        model.eval()
        # Another process may have finished the same training meanwhile: then ours replaces its equal result.
        overwrite = finished_elsewhere(checkpoint, CHECKPOINT_FORMAT, train_csv, hyper, say, REPLACED) is not None
        save_ssf_checkpoint(checkpoint, model.cpu(), settings["quality"], training, overwrite=overwrite)
    partial.unlink(missing_ok=True)
    say(f"saved {checkpoint} (trained on {dev.type})")
    return training


def _check_train_settings(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ValueError(f"unknown training setting(s) {unknown} (known: {', '.join(sorted(DEFAULT_SETTINGS))})")
    if "lambda" not in settings:
        raise ValueError("training settings need lambda (the rate-distortion trade-off)")
    merged = {**DEFAULT_SETTINGS, **settings}
    for name in ("steps", "batch_size", "patch_size", "frames_per_sample", "checkpoint_every", "seed"):
        value = merged[name]
        if isinstance(value, bool) or int(value) != value or value < (0 if name == "seed" else 1):
            raise ValueError(
                f"{name} must be a {'non-negative' if name == 'seed' else 'positive'} integer, got {value!r}"
            )
        merged[name] = int(value)
    if merged["patch_size"] % PAD_MULTIPLE:
        raise ValueError(
            f"patch_size must be a multiple of {PAD_MULTIPLE} ({ARCHITECTURE}), got {merged['patch_size']}"
        )
    if merged["frames_per_sample"] < 2:
        raise ValueError("frames_per_sample must be at least 2 (a key frame and a predicted frame)")
    for name in ("lambda", "learning_rate", "aux_learning_rate"):
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
        merged[name] = float(value)
    if merged["init"] not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {merged['init']!r}")
    if merged["quality"] is not None:
        merged["quality"] = _check_quality(merged["quality"])
    return merged


def _prepare_clips(clips: Sequence[Sequence[np.ndarray]], patch: int, group: int) -> list[np.ndarray]:
    """Each usable clip as one uint8 TxHxWx3 array, padded by reflection to at least the patch size."""
    if len(clips) == 0:
        raise ValueError("no training clips given")
    prepared = []
    for index, clip in enumerate(clips):
        if len(clip) < group:
            continue
        shapes = {np.shape(frame) for frame in clip}
        if len(shapes) != 1:
            raise ValueError(f"training clip {index}: frames of different sizes {sorted(shapes)}")
        try:
            frames = _prepare_images(clip, patch)
        except ValueError as error:
            raise ValueError(f"training clip {index}: {error}") from None
        prepared.append(np.stack(frames))
    if not prepared:
        longest = max(len(clip) for clip in clips)
        raise ValueError(f"no training clip has the {group} frames a sample needs (the longest has {longest})")
    return prepared


def _sample_groups(
    clips: list[np.ndarray], rng: np.random.Generator, batch_size: int, patch: int, group: int
) -> list[torch.Tensor]:
    """``group`` tensors (one per frame position), each float NCHW in [0, 1]; all randomness from ``rng``."""
    batch = np.empty((group, batch_size, patch, patch, 3), dtype=np.uint8)
    for i in range(batch_size):
        clip = clips[int(rng.integers(len(clips)))]
        first = int(rng.integers(clip.shape[0] - group + 1))
        top = int(rng.integers(clip.shape[1] - patch + 1))
        left = int(rng.integers(clip.shape[2] - patch + 1))
        crop = clip[first : first + group, top : top + patch, left : left + patch]
        batch[:, i] = crop[:, :, ::-1] if rng.random() < 0.5 else crop
    # contiguous NCHW (a permuted view would be channels-last, as in the image trainer)
    tensor = torch.from_numpy(batch).permute(0, 1, 4, 2, 3).contiguous().float().div_(255.0)
    return list(tensor.unbind(0))


def _train_step(model, optimizer, aux_optimizer, frames: list[torch.Tensor], lmbda: float) -> dict[str, float]:
    """One step of CompressAI's video training; returns the logged numbers (per-frame averages) for this batch."""
    optimizer.zero_grad()
    aux_optimizer.zero_grad()
    out = model(frames)
    n, _, h, w = frames[0].shape
    num_pixels = n * h * w * len(frames)
    log_likelihood = sum(
        torch.log(lik).sum() for per_frame in out["likelihoods"] for part in per_frame.values() for lik in part.values()
    )
    bpp = log_likelihood / (-math.log(2) * num_pixels)
    per_frame = [torch.nn.functional.mse_loss(x_hat, x) for x_hat, x in zip(out["x_hat"], frames, strict=True)]
    mse = torch.stack(per_frame).mean()
    loss = lmbda * 255**2 * mse + bpp
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_MAX_NORM)
    optimizer.step()

    aux_loss = sum(model.aux_loss())  # ScaleSpaceFlow returns one aux loss per hyperprior
    aux_loss.backward()
    aux_optimizer.step()
    return {"loss": loss.item(), "bpp": bpp.item(), "mse": mse.item(), "aux_loss": aux_loss.item()}


__all__ = [
    "ARCHITECTURE",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "DEFAULT_SETTINGS",
    "PAD_MULTIPLE",
    "build_ssf",
    "load_ssf_checkpoint",
    "load_ssf_pretrained",
    "save_ssf_checkpoint",
    "ssf_weights_path",
    "train_ssf",
]
