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

Fine-tuning for a task: ``init_checkpoint`` starts the weights from a trained codec (fresh optimisers), and
``task`` (a frozen classifier, :class:`codecbench.learned.task_loss.TaskLoss`) with ``gamma`` adds
``gamma * task_loss`` to the loss, the classifier's cross-entropy on the reconstruction against each image's
label. Such batches are whole labelled images (``crop_px=None``), not flipped unless asked (a mirrored digit is
another digit). ``gamma=0`` is the control: the same code path, the task loss logged but adding nothing.
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

from ..io import check_rgb, file_digest, read_torch_payload, write_csv_atomic
from ..workflow import written_by_another_process
from .models import CHECKPOINT_FORMAT, _jsonable, build_model, pick_device, save_checkpoint, save_torch_atomic
from .task_loss import TaskLoss, labels_digest

logger = logging.getLogger("codecbench.learned")

PARTIAL_FORMAT = "codecbench-learned-training-state/1"
CSV_COLUMNS = ("step", "loss", "bpp", "mse", "aux_loss")
TASK_CSV_COLUMN = "task_loss"  # only task-loss trainings log it, so other trainings' curves keep their columns
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
    crop_px: int | None = 64,
    learning_rate: float = 1e-4,
    aux_learning_rate: float = 1e-3,
    seed: int = 0,
    device: str = "auto",
    checkpoint_every: int = 50,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    hflip: bool | None = None,
    init_checkpoint: str | Path | None = None,
    task: TaskLoss | None = None,
    gamma: float | None = None,
    labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train ``architecture`` at ``quality`` for ``steps`` steps and save it to ``out_checkpoint``.

    ``images`` are uint8 HxWx3 arrays; sides shorter than ``crop_px`` are padded by reflection.
    ``train_csv`` gets one row per step (step, loss, bpp, mse, aux_loss). Every ``checkpoint_every``
    steps a resumable state goes to ``<out_checkpoint>.partial``; if that file exists when training starts,
    training resumes from it (it must have been written with the same hyperparameters and images, else
    ValueError). ``log`` receives progress lines (default: the ``codecbench.learned`` logger).
    ``on_step(step, row)`` is called after each step, once that step's partial state (if any) is saved;
    an exception raised there aborts training as an interruption would (the tests use this to simulate one).

    ``crop_px=None`` makes each batch whole images instead of crops (all images must have one size; none is
    padded). ``hflip``: random horizontal flips; None (the default) flips crops, as CompressAI's recipe does, but
    not whole images, which may be labelled (a mirrored digit is another digit). ``init_checkpoint``: start from
    the weights of a :func:`~codecbench.learned.models.save_checkpoint` file of the same architecture and quality
    (else ValueError naming it) instead of random ones, with fresh optimisers. ``task`` with ``gamma`` (>= 0)
    adds ``gamma * task(x_hat, label)`` to the loss, the frozen task model's loss on each reconstruction against
    its image's label in ``labels`` (one per image, in order); it needs ``crop_px=None`` and adds a ``task_loss``
    column to ``train_csv``. The init and task model files' sha256, ``gamma`` and the labels' digest are part of
    the settings that a resume or a finished checkpoint must match.

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
    if hflip is None:  # flip crops, as CompressAI does; keep whole (perhaps labelled) images as they are
        hflip = crop_px is not None
    if not isinstance(hflip, bool):
        raise ValueError(f"hflip must be true, false or None, got {hflip!r}")
    crops = _prepare_images(images, crop_px)
    _check_task_settings(task, gamma, labels, crop_px, len(images))
    if metric == "ms-ssim" and crop_px is None and min(crops[0].shape[:2]) < MS_SSIM_MIN_CROP:
        raise ValueError(
            f"metric 'ms-ssim' needs images of at least {MS_SSIM_MIN_CROP} px (MS-SSIM's five scales with an "
            f"11-pixel window), got whole {crops[0].shape[0]}x{crops[0].shape[1]} images"
        )
    init_state, init_sha256 = None, None
    if init_checkpoint is not None:  # read (and checked) before any training
        init_state, init_sha256 = _init_state(init_checkpoint, architecture, quality)

    hyper = {
        "architecture": architecture,
        "quality": int(quality),
        "metric": metric,
        "lmbda": float(lmbda),
        "steps": int(steps),
        "batch_size": int(batch_size),
        "crop_px": None if crop_px is None else int(crop_px),
        "learning_rate": float(learning_rate),
        "aux_learning_rate": float(aux_learning_rate),
        "clip_max_norm": CLIP_MAX_NORM,
        "seed": int(seed),
        "num_images": len(images),
        # Resuming on other images would silently mix two trainings: the fingerprint catches it.
        "images_sha256": _fingerprint(images),
    }
    # The settings below enter only where they differ from a plain training's, so that a plain training's
    # settings (the resume guard, the checkpoint's bytes) stay what they always were.
    if crop_px is None or not hflip:
        hyper["hflip"] = hflip
    if init_sha256 is not None:
        hyper["init_checkpoint_sha256"] = init_sha256  # a resume from another start would mix two trainings
    if task is not None:
        # The frozen model's digest: a state made against another classifier is another training.
        hyper.update(task.describe())
        hyper["gamma"] = float(gamma)
        hyper["labels_sha256"] = labels_digest(labels)
    # Before spending the training time: a checkpoint already there is this training's (kept) or an error.
    done = finished_elsewhere(out_checkpoint, CHECKPOINT_FORMAT, train_csv, hyper, say, KEPT)
    if done is not None:
        return done

    dev = pick_device(device)
    if dev.type == "cuda":
        # cuBLAS is only deterministic with a fixed workspace; this takes effect if no cuBLAS handle exists yet.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    started = f"training {architecture} quality {quality} (lambda {lmbda}, {metric}) on {dev.type} for {steps} steps"
    if init_checkpoint is not None:
        started += f", from {init_checkpoint}"
    if task is not None:
        started += f", with the {task.name} loss of model {task.digest[:12]} at gamma {gamma}"
    logger.info(started)  # which device did the work always reaches the log, whatever ``log`` is
    if log is not None:
        log(started)

    with _deterministic(), torch.random.fork_rng(devices=_cuda_devices(dev)):
        # fork_rng: seeding here must not disturb the caller's random numbers.
        torch.manual_seed(seed)
        model = build_model(architecture, quality, metric=metric, pretrained=False)
        if init_state is not None:
            _load_init(model, init_state, init_checkpoint)
        model = model.to(dev)
        model.train()
        optimizer, aux_optimizer = _optimisers(model, learning_rate, aux_learning_rate)
        rng = np.random.default_rng(seed)
        rows: list[dict[str, float]] = []
        start = 0

        if partial.exists():
            start, rows = _resume(partial, hyper, model, optimizer, aux_optimizer, rng, dev)
            say(f"resuming from {partial} at step {start} of {steps}")

        distortion = _distortion_fn(metric)
        targets = None if task is None else task.to(dev).targets(labels)

        def train_step() -> dict[str, float]:
            batch, drawn = _draw_batch(crops, rng, batch_size, crop_px, hflip)
            return _train_step(
                model, optimizer, aux_optimizer, batch.to(dev), lmbda, distortion, task=task,
                targets=None if targets is None else targets[torch.from_numpy(drawn)].to(dev),
                gamma=0.0 if gamma is None else float(gamma),
            )  # fmt: skip

        run_steps(
            start, steps, checkpoint_every, rows, train_csv, say, on_step, train_step=train_step,
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


def _check_settings(
    metric: str, steps: int, batch_size: int, crop_px: int | None, checkpoint_every: int, lmbda: float
) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    sizes = (("steps", steps), ("batch_size", batch_size)) + ((("crop_px", crop_px),) if crop_px is not None else ())
    for name, value in sizes:
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if int(checkpoint_every) != checkpoint_every or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}")
    if not lmbda > 0:
        raise ValueError(f"lmbda must be positive, got {lmbda!r}")
    if metric == "ms-ssim" and crop_px is not None and crop_px < MS_SSIM_MIN_CROP:
        raise ValueError(
            f"metric 'ms-ssim' needs crops of at least {MS_SSIM_MIN_CROP} px "
            f"(MS-SSIM's five scales with an 11-pixel window), got crop_px={crop_px}"
        )


def _check_task_settings(
    task: TaskLoss | None, gamma: float | None, labels: Sequence[str] | None, crop_px: int | None, num_images: int
) -> None:
    """A task needs a gamma, one label per image and whole-image batches; without one, neither gamma nor labels."""
    if task is None:
        for name, value in (("gamma", gamma), ("labels", labels)):
            if value is not None:
                raise ValueError(f"{name} is given but no task: it only weights or labels a task loss")
        return
    if not isinstance(task, TaskLoss):
        raise ValueError(f"task must be a codecbench.learned.task_loss.TaskLoss, got {type(task).__name__}")
    if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not math.isfinite(gamma) or gamma < 0:
        raise ValueError(f"a task loss needs its weight gamma, a finite number >= 0 (0: the control), got {gamma!r}")
    if labels is None or isinstance(labels, str) or len(labels) != num_images:
        found = "none" if labels is None else f"{len(labels)}"
        raise ValueError(f"a task loss needs one label per training image: {num_images} images, {found} labels")
    if crop_px is not None:
        raise ValueError(
            f"a task loss scores whole labelled images, not crops of them: give crop_px=None (got {crop_px})"
        )
    task.targets(labels)  # unknown labels fail now, before any work


def _init_state(path: str | Path, architecture: str, quality: int) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict of the codec checkpoint to start from, and the file's sha256; ValueError naming the file
    when it is not a checkpoint of ``architecture`` at ``quality`` (other weights would not fit, or not mean the
    same model)."""
    payload = read_torch_payload(path, CHECKPOINT_FORMAT, "init_checkpoint", ("architecture", "quality", "state_dict"))
    found = (payload["architecture"], payload["quality"])
    if found != (architecture, int(quality)):
        raise ValueError(
            f"init_checkpoint {path} holds a {found[0]} quality {found[1]} model, but this training is "
            f"{architecture} quality {quality}: fine-tune from a checkpoint of the same architecture and quality"
        )
    return payload["state_dict"], file_digest(path)


def _load_init(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    try:
        model.load_state_dict(state)  # CompressAI's override resizes the entropy coder's (empty) CDF buffers
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ValueError(f"init_checkpoint {path}: its weights do not fit ({type(exc).__name__}: {exc})") from exc


def _prepare_images(images: Sequence[np.ndarray], crop_px: int | None) -> list[np.ndarray]:
    """Validate the images; pad any side shorter than the crop by reflection so every image can be cropped.

    ``crop_px=None`` (batches of whole images): nothing is padded (a labelled image must stay the image its label
    describes), and every image must have the first one's size, to be stacked into a batch.
    """
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
        if crop_px is None:
            if prepared and image.shape != prepared[0].shape:
                first = prepared[0].shape
                raise ValueError(
                    f"batches of whole images (crop_px=None) need images of one size: image 0 is "
                    f"{first[0]}x{first[1]}, image {index} is {height}x{width}"
                )
            prepared.append(np.ascontiguousarray(image))
            continue
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


def _sample_batch(
    crops: list[np.ndarray], rng: np.random.Generator, batch_size: int, crop_px: int | None, hflip: bool = True
) -> torch.Tensor:
    """Random crops (whole images if ``crop_px`` is None) with random horizontal flips if ``hflip``, as float
    NCHW in [0, 1]; all randomness from ``rng``."""
    return _draw_batch(crops, rng, batch_size, crop_px, hflip)[0]


def _draw_batch(
    crops: list[np.ndarray], rng: np.random.Generator, batch_size: int, crop_px: int | None, hflip: bool
) -> tuple[torch.Tensor, np.ndarray]:
    """:func:`_sample_batch`'s batch and the index of the image each sample came from (so labels follow them).

    Crops draw image, top, left and (with ``hflip``) flip per sample, in that order: with flips that is the
    random stream trainings have always used, so their results do not change. Whole images (``crop_px=None``)
    draw the batch's image indices at once (with replacement, like the crops), then its flips.
    """
    if crop_px is None:
        drawn = rng.integers(len(crops), size=batch_size)
        batch = np.stack([crops[int(i)] for i in drawn])
        if hflip:
            flip = rng.random(batch_size) < 0.5
            batch[flip] = batch[flip][:, :, ::-1]
        return _to_tensor(batch), drawn
    batch = np.empty((batch_size, crop_px, crop_px, 3), dtype=np.uint8)
    drawn = np.empty(batch_size, dtype=np.int64)
    for i in range(batch_size):
        drawn[i] = int(rng.integers(len(crops)))
        image = crops[drawn[i]]
        top = int(rng.integers(image.shape[0] - crop_px + 1))
        left = int(rng.integers(image.shape[1] - crop_px + 1))
        crop = image[top : top + crop_px, left : left + crop_px]
        batch[i] = crop[:, ::-1] if hflip and rng.random() < 0.5 else crop
    return _to_tensor(batch), drawn


def _to_tensor(batch: np.ndarray) -> torch.Tensor:
    """uint8 NHWC to float NCHW in [0, 1]."""
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
            extra = f", task {row[TASK_CSV_COLUMN]:.4f}" if TASK_CSV_COLUMN in row else ""
            say(
                f"step {step}/{steps}: loss {row['loss']:.4f}, bpp {row['bpp']:.4f}, "
                f"mse {row['mse']:.6f}, aux {row['aux_loss']:.2f}{extra}"
            )
        if on_step is not None:
            on_step(step, row)
    _write_csv(rows, train_csv)


def _train_step(
    model, optimizer, aux_optimizer, batch, lmbda, distortion, task=None, targets=None, gamma=0.0
) -> dict[str, float]:
    """One step of CompressAI's train_one_epoch; returns the logged numbers for this batch.

    With a ``task`` the loss gains ``gamma`` times the task model's loss on the reconstruction against
    ``targets``, computed (and logged) whatever ``gamma``: gamma 0 runs exactly the code of gamma > 0.
    """
    optimizer.zero_grad()
    aux_optimizer.zero_grad()
    out = model(batch)
    n, _, h, w = batch.shape
    bpp = sum(torch.log(lik).sum() for lik in out["likelihoods"].values()) / (-math.log(2) * n * h * w)
    loss = lmbda * distortion(out["x_hat"], batch) + bpp
    if task is not None:
        task_loss = task(out["x_hat"], targets)
        loss = loss + gamma * task_loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_MAX_NORM)
    optimizer.step()

    aux_loss = model.aux_loss()
    aux_loss.backward()
    aux_optimizer.step()
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(out["x_hat"], batch)
    row = {"loss": loss.item(), "bpp": bpp.item(), "mse": mse.item(), "aux_loss": aux_loss.item()}
    if task is not None:
        row[TASK_CSV_COLUMN] = task_loss.item()
    return row


def _write_csv(rows: list[dict[str, float]], path: Path) -> None:
    task_run = bool(rows) and TASK_CSV_COLUMN in rows[0]
    write_csv_atomic(pd.DataFrame(rows, columns=[*CSV_COLUMNS, *([TASK_CSV_COLUMN] if task_run else [])]), path)


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
