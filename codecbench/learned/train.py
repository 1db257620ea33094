"""Train a learned image codec on a dataset's training images, resumably and reproducibly.

The recipe follows CompressAI's ``examples/train.py``: random crops with horizontal flips, the
rate-distortion loss ``lmbda * 255**2 * MSE + bpp`` (or ``lmbda * (1 - MS-SSIM) + bpp``), one Adam
optimiser for the network and one for the entropy bottlenecks' ``quantiles`` (driven by ``aux_loss()``),
and gradient clipping at 1.0.

Reproducibility: with a given seed a CPU run is bit-for-bit repeatable (the checkpoint file itself, byte for
byte), and a run that is interrupted and restarted from its ``<checkpoint>.partial`` state ends with exactly the
weights and log of an uninterrupted run, because the partial state carries the model, both optimisers, the step,
every random-number generator and the log rows so far. A checkpoint that another process finished for exactly
the same training (an orphaned job of an earlier run) is kept as the result: see :func:`finished_elsewhere`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..io import check_rgb, read_torch_payload, write_csv_atomic
from ..workflow import written_by_another_process
from .models import CHECKPOINT_FORMAT, _jsonable, build_model, pick_device, save_checkpoint, save_torch_atomic

logger = logging.getLogger("codecbench.learned")

PARTIAL_FORMAT = "codecbench-learned-training-state/1"
CSV_COLUMNS = ("step", "loss", "bpp", "mse", "aux_loss")
CLIP_MAX_NORM = 1.0  # CompressAI's examples/train.py default
METRICS = ("mse", "ms-ssim")
# pytorch_msssim's MS-SSIM downsamples four times with an 11-pixel window: the smaller side must exceed 160.
MS_SSIM_MIN_CROP = 161


def train_codec(
    images: Sequence[np.ndarray],
    architecture: str,
    quality: int,
    lmbda: float,
    out_checkpoint: str | Path,
    train_csv: str | Path,
    *,
    metric: str = "mse",
    steps: int = 200,
    batch_size: int = 8,
    crop_px: int = 64,
    learning_rate: float = 1e-4,
    aux_learning_rate: float = 1e-3,
    seed: int = 0,
    device: str = "auto",
    checkpoint_every: int = 50,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Train ``architecture`` at ``quality`` for ``steps`` steps and save it to ``out_checkpoint``.

    ``images`` are uint8 HxWx3 arrays; sides shorter than ``crop_px`` are padded by reflection.
    ``train_csv`` gets one row per step (step, loss, bpp, mse, aux_loss). Every ``checkpoint_every``
    steps a resumable state goes to ``<out_checkpoint>.partial``; if that file exists when training starts,
    training resumes from it (it must have been written with the same hyperparameters and images, else
    ValueError). ``log`` receives progress lines (default: the ``codecbench.learned`` logger).
    ``on_step(step, row)`` is called after each step, once that step's partial state (if any) is saved;
    an exception raised there aborts training as an interruption would (the tests use this to simulate one).

    Returns the training dict stored in the checkpoint: the hyperparameters, ``device`` ("cpu" or
    "cuda"), ``steps_done`` and ``final`` (the last CSV row). An existing ``out_checkpoint`` is never
    overwritten by another training (FileExistsError, raised before any training, saying which process wrote
    it); one of exactly this training is kept and its training dict returned (:func:`finished_elsewhere`).
    """
    out_checkpoint = Path(out_checkpoint)
    train_csv = Path(train_csv)
    partial = partial_path(out_checkpoint)
    say = log if log is not None else logger.info

    _check_settings(metric, steps, batch_size, crop_px, checkpoint_every, lmbda)
    crops = _prepare_images(images, crop_px)

    hyper = {
        "architecture": architecture,
        "quality": int(quality),
        "metric": metric,
        "lmbda": float(lmbda),
        "steps": int(steps),
        "batch_size": int(batch_size),
        "crop_px": int(crop_px),
        "learning_rate": float(learning_rate),
        "aux_learning_rate": float(aux_learning_rate),
        "clip_max_norm": CLIP_MAX_NORM,
        "seed": int(seed),
        "num_images": len(images),
        # Resuming on other images would silently mix two trainings: the fingerprint catches it.
        "images_sha256": _fingerprint(images),
    }
    # Before spending the training time: a checkpoint already there is this training's (kept) or an error.
    done = finished_elsewhere(out_checkpoint, CHECKPOINT_FORMAT, train_csv, hyper, say, KEPT)
    if done is not None:
        return done

    dev = pick_device(device)
    if dev.type == "cuda":
        # cuBLAS is only deterministic with a fixed workspace; this takes effect if no cuBLAS handle exists yet.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    started = f"training {architecture} quality {quality} (lambda {lmbda}, {metric}) on {dev.type} for {steps} steps"
    logger.info(started)  # which device did the work always reaches the log, whatever ``log`` is
    if log is not None:
        log(started)

    with _deterministic(), torch.random.fork_rng(devices=_cuda_devices(dev)):
        # fork_rng: seeding here must not disturb the caller's random numbers.
        torch.manual_seed(seed)
        model = build_model(architecture, quality, metric=metric, pretrained=False).to(dev)
        model.train()
        optimizer, aux_optimizer = _optimisers(model, learning_rate, aux_learning_rate)
        rng = np.random.default_rng(seed)
        rows: list[dict[str, float]] = []
        start = 0

        if partial.exists():
            start, rows = _resume(partial, hyper, model, optimizer, aux_optimizer, rng, dev)
            say(f"resuming from {partial} at step {start} of {steps}")

        distortion = _distortion_fn(metric)
        run_steps(
            start, steps, checkpoint_every, rows, train_csv, say, on_step,
            train_step=lambda: _train_step(
                model, optimizer, aux_optimizer, _sample_batch(crops, rng, batch_size, crop_px).to(dev), lmbda,
                distortion,
            ),
            save_partial=lambda step: _save_partial(
                partial, hyper, model, optimizer, aux_optimizer, rng, rows, step, dev
            ),
        )  # fmt: skip
        training = {**hyper, "device": dev.type, "steps_done": int(steps), "final": dict(rows[-1])}
        model.eval()
        # Another process may have finished the same training meanwhile: then ours replaces its equal result.
        overwrite = finished_elsewhere(out_checkpoint, CHECKPOINT_FORMAT, train_csv, hyper, say, REPLACED) is not None
        save_checkpoint(out_checkpoint, model, architecture, quality, metric, training, overwrite=overwrite)
    partial.unlink(missing_ok=True)
    say(f"saved {out_checkpoint} (trained on {dev.type})")
    return training


# What a training does with a checkpoint of exactly its own training that another process wrote (the ``outcome``
# finished_elsewhere logs): found before training it is the result; found after, this run's equal one replaces it.
KEPT = "it is kept as this job's result"
REPLACED = "it is replaced by this run's equal result"


def finished_elsewhere(
    checkpoint: Path,
    checkpoint_format: str,
    train_csv: Path,
    hyper: dict[str, Any],
    say: Callable[[str], None],
    outcome: str,
) -> dict[str, Any] | None:
    """None when ``checkpoint`` does not exist; its stored training dict when it is a finished run of exactly this
    training (the same ``hyper``: settings, images, steps) with a complete ``train_csv`` (``say`` is told so,
    and the ``outcome``: :data:`KEPT` or :data:`REPLACED`); else FileExistsError.

    A training job never finds its own checkpoint: Snakemake deletes a job's outputs before starting it. One that
    is there was written by another process, typically an earlier run's job that outlived its Snakemake (killed
    with kill -9) and went on training in the same folder. Training is deterministic, so a finished run of the
    same settings on the same images is the model this job would make, and it is kept (a resume at the last
    step). Anything else is an error that says so and what to do.
    """
    if not checkpoint.exists():
        return None
    try:
        stored = read_torch_payload(checkpoint, checkpoint_format, "checkpoint", ("training",))["training"]
    except ValueError as exc:
        problem = f"is not a usable checkpoint ({exc})"
    else:
        expected = json.loads(json.dumps(hyper, default=_jsonable))  # as save_checkpoint stored them
        differ = [key for key in expected if stored.get(key) != expected[key]]
        if differ:
            problem = f"records another training (its {', '.join(differ)} differ)"
        elif not _curve_complete(train_csv, int(hyper["steps"])):
            problem = f"records this very training, but its curve {train_csv} is missing or incomplete"
        else:
            say(
                f"{checkpoint} was written by another process (an earlier run's job that outlived its Snakemake?) "
                f"and records exactly this training (same settings, images and steps): {outcome}"
            )
            return stored
    raise written_by_another_process(checkpoint, problem, "train_codec.py")


def _curve_complete(train_csv: Path, steps: int) -> bool:
    """Whether ``train_csv`` holds the rows of steps 1..steps."""
    try:
        return pd.read_csv(train_csv).step.tolist() == list(range(1, steps + 1))
    except (OSError, ValueError, AttributeError):  # missing, unreadable, or no step column
        return False


def partial_path(out_checkpoint: str | Path) -> Path:
    """Where ``train_codec`` keeps the resumable state for ``out_checkpoint``."""
    out_checkpoint = Path(out_checkpoint)
    return out_checkpoint.with_name(out_checkpoint.name + ".partial")


def _check_settings(metric: str, steps: int, batch_size: int, crop_px: int, checkpoint_every: int, lmbda: float):
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("crop_px", crop_px)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if int(checkpoint_every) != checkpoint_every or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}")
    if not lmbda > 0:
        raise ValueError(f"lmbda must be positive, got {lmbda!r}")
    if metric == "ms-ssim" and crop_px < MS_SSIM_MIN_CROP:
        raise ValueError(
            f"metric 'ms-ssim' needs crops of at least {MS_SSIM_MIN_CROP} px "
            f"(MS-SSIM's five scales with an 11-pixel window), got crop_px={crop_px}"
        )


def _prepare_images(images: Sequence[np.ndarray], crop_px: int) -> list[np.ndarray]:
    """Validate the images; pad any side shorter than the crop by reflection so every image can be cropped."""
    if len(images) == 0:
        raise ValueError("no training images given")
    prepared = []
    for index, image in enumerate(images):
        try:
            check_rgb(image)
        except ValueError as error:
            raise ValueError(f"training image {index}: {error}") from None
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            raise ValueError(f"training image {index} is empty ({height}x{width})")
        pad_h, pad_w = max(0, crop_px - height), max(0, crop_px - width)
        if pad_h or pad_w:
            image = np.pad(
                image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect" if min(height, width) > 1 else "edge"
            )
        prepared.append(np.ascontiguousarray(image))
    return prepared


def _fingerprint(images: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for image in images:
        digest.update(repr(image.shape).encode())
        digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def _sample_batch(crops: list[np.ndarray], rng: np.random.Generator, batch_size: int, crop_px: int) -> torch.Tensor:
    """Random crops with random horizontal flips, as float NCHW in [0, 1]; all randomness from ``rng``."""
    batch = np.empty((batch_size, crop_px, crop_px, 3), dtype=np.uint8)
    for i in range(batch_size):
        image = crops[int(rng.integers(len(crops)))]
        top = int(rng.integers(image.shape[0] - crop_px + 1))
        left = int(rng.integers(image.shape[1] - crop_px + 1))
        crop = image[top : top + crop_px, left : left + crop_px]
        batch[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    # contiguous NCHW: the permuted view is channels-last, whose backward pass crashes torch 2.14's CPU kernels
    # in cheng2020's layers (segmentation fault)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().float().div_(255.0)


def _optimisers(model: torch.nn.Module, learning_rate: float, aux_learning_rate: float):
    """CompressAI's net/aux split: the entropy bottlenecks' quantiles learn only from aux_loss()."""
    named = dict(model.named_parameters())
    main = [named[n] for n in sorted(named) if named[n].requires_grad and not n.endswith(".quantiles")]
    aux = [named[n] for n in sorted(named) if named[n].requires_grad and n.endswith(".quantiles")]
    return torch.optim.Adam(main, lr=learning_rate), torch.optim.Adam(aux, lr=aux_learning_rate)


def _distortion_fn(metric: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if metric == "mse":
        return lambda x_hat, x: 255**2 * torch.nn.functional.mse_loss(x_hat, x)
    from pytorch_msssim import ms_ssim

    return lambda x_hat, x: 1 - ms_ssim(x_hat, x, data_range=1.0)


def run_steps(
    start: int,
    steps: int,
    checkpoint_every: int,
    rows: list[dict[str, float]],
    train_csv: Path,
    say: Callable[[str], None],
    on_step: Callable[[int, dict[str, float]], None] | None,
    train_step: Callable[[], dict[str, float]],
    save_partial: Callable[[int], None],
) -> None:
    """Steps ``start + 1 .. steps`` of a training (image codecs and ssf2020 alike): ``train_step`` gives each
    step's losses; every ``checkpoint_every`` steps the resumable state is saved (``save_partial(step)``) and the
    curve written; about ten progress lines; ``train_csv`` holds every row at the end."""
    every = max(1, steps // 10)
    for step in range(start + 1, steps + 1):
        row = {"step": step, **train_step()}
        rows.append(row)
        if step % checkpoint_every == 0:
            save_partial(step)
            _write_csv(rows, train_csv)
        if step % every == 0 or step == steps:
            say(
                f"step {step}/{steps}: loss {row['loss']:.4f}, bpp {row['bpp']:.4f}, "
                f"mse {row['mse']:.6f}, aux {row['aux_loss']:.2f}"
            )
        if on_step is not None:
            on_step(step, row)
    _write_csv(rows, train_csv)


def _train_step(model, optimizer, aux_optimizer, batch, lmbda, distortion) -> dict[str, float]:
    """One step of CompressAI's train_one_epoch; returns the logged numbers for this batch."""
    optimizer.zero_grad()
    aux_optimizer.zero_grad()
    out = model(batch)
    n, _, h, w = batch.shape
    bpp = sum(torch.log(lik).sum() for lik in out["likelihoods"].values()) / (-math.log(2) * n * h * w)
    loss = lmbda * distortion(out["x_hat"], batch) + bpp
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_MAX_NORM)
    optimizer.step()

    aux_loss = model.aux_loss()
    aux_loss.backward()
    aux_optimizer.step()
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(out["x_hat"], batch)
    return {"loss": loss.item(), "bpp": bpp.item(), "mse": mse.item(), "aux_loss": aux_loss.item()}


def _write_csv(rows: list[dict[str, float]], path: Path) -> None:
    write_csv_atomic(pd.DataFrame(rows, columns=list(CSV_COLUMNS)), path)


def _save_partial(path, hyper, model, optimizer, aux_optimizer, rng, rows, step, dev) -> None:
    state = {
        "format": PARTIAL_FORMAT,
        "hyperparameters": hyper,
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "aux_optimizer": aux_optimizer.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        # The entropy bottlenecks' training noise comes from the device's generator.
        "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
        "rows": [dict(r) for r in rows],
        "device": dev.type,
    }
    save_torch_atomic(state, path)


def _resume(path, hyper, model, optimizer, aux_optimizer, rng, dev) -> tuple[int, list[dict[str, float]]]:
    state = read_torch_payload(path, PARTIAL_FORMAT, "resumable training state", advice=" Delete it to start over.")
    saved = state["hyperparameters"]
    if saved != hyper:
        differ = sorted(k for k in set(saved) | set(hyper) if saved.get(k) != hyper.get(k))
        raise ValueError(
            f"{path} was written by a training with different settings ({', '.join(differ)}); "
            "delete it to start this training from scratch"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    aux_optimizer.load_state_dict(state["aux_optimizer"])
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    if dev.type == "cuda" and state["cuda_rng"] is not None:
        torch.cuda.set_rng_state(state["cuda_rng"], dev)
    elif state["device"] != dev.type:
        logger.warning(
            "resuming a %s training on %s: the result will not match an uninterrupted run", state["device"], dev.type
        )
    return int(state["step"]), [dict(r) for r in state["rows"]]


def _cuda_devices(dev: torch.device) -> list[int]:
    if dev.type != "cuda":
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Ask torch for deterministic kernels (warning where none exists) and restore the caller's setting after."""
    was_enabled = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_enabled, warn_only=was_warn_only)
