"""Object detection with Ultralytics YOLO: trained from a model .yaml in the pipeline, or pretrained .pt weights
evaluated as they are; scored with COCO-style mAP (:mod:`codecbench.tasks.detection_metrics`).

Annotations are manifest rows (``image_id``, ...) with a column ``objects``: per image a list of
``(class_name, x_min, y_min, x_max, y_max)`` in pixels, far edges exclusive (a JSON string of such lists is
accepted too). ``annotations.attrs["classes"]`` holds the dataset's class names in their canonical order (the
dataset layer sets it); a trained model's class i is ``classes[i]``.

Models (``model`` setting):

* a YOLO model .yaml (default ``yolov8n.yaml``; any name Ultralytics ships, or a path): :meth:`Detection.train`
  builds it untrained and trains it on the train split;
* ``.pt`` weights: pretrained, evaluated as they are (the pipeline's ``pretrained`` train variant), so
  :meth:`Detection.train` refuses them. A path with a folder is the user's file, as given. A bare name in
  :data:`PINNED_WEIGHTS` (``yolov8n.pt``) is Ultralytics' published file: found in the working directory or
  Ultralytics' ``weights_dir``, or else downloaded into ``weights_dir``, and used only if its sha256 is the pinned
  one. Any other bare name is only a file in the working directory, never fetched (see :func:`find_weights`).
  Missing weights are a FileNotFoundError naming the file, the places looked in and the URL to fetch it from.

Training (:meth:`Detection.train`) writes the images as PNG files and YOLO labels (class, then centre x, centre y,
width, height normalised by the image size) into a temporary folder, with a data.yaml listing the classes in
canonical order. Ultralytics needs a validation set: it is the training set itself. It is used only for the
metrics of the last epoch (``val=False`` skips validating the epochs before); the checkpoint is the last epoch's
weights (``last.pt``, Ultralytics' EMA weights), never a choice made on validation data. Ultralytics trains with
its default augmentation (mosaic, HSV jitter, flips, scale and translation) and loss; we set the optimizer
(``optimizer``: SGD by default, so that ``learning_rate`` is Ultralytics' ``lr0``; Ultralytics' ``auto`` would
pick AdamW with its own rate for short runs and ignore ``learning_rate``, so it is not offered), ``seed``,
``deterministic=True``, ``workers=0``, ``amp=False`` (mixed precision would first test AMP on downloaded weights),
``plots=False`` (plots download a font) and a temporary ``project`` folder (no ``./runs``).

Reproducibility: with a given seed a CPU training repeats bit for bit (checkpoint file and train.csv losses) on
the same number of CPU threads. Ultralytics seeds and configures the process-wide random generators and torch's
deterministic mode; they are restored afterwards, so the caller's random generators and settings are left
untouched. Ultralytics would also cut torch to (cores - 1) CPU threads; the process's own count is kept.

Nothing goes to $HOME, and only missing pinned weights are downloaded (into Ultralytics' ``weights_dir``;
offline that fails at once with an error naming the file): importing this module sets
``YOLO_CONFIG_DIR`` (Ultralytics' settings file; when unset: ``$XDG_CACHE_HOME/ultralytics``, else a folder in
the temp directory), ``YOLO_OFFLINE=1`` (no online checks) and ``YOLO_VERBOSE=false`` unless already set, and
Ultralytics' dataset check's font download is switched off while training.

Checkpoint: Ultralytics' own .pt (a pickled dict) with an added ``codecbench`` entry ``{"format":
"codecbench-detector/1", "classes", "settings", "training"}`` and the run-specific fields (date, temporary paths,
timings) blanked so that the file repeats bit for bit. ``YOLO(path)`` loads it as any Ultralytics checkpoint, and
any Ultralytics detection .pt can be evaluated (``checkpoint``).

Trust: a pickle can run any code while it is read, so every .pt this module reads (``model``, ``checkpoint``, the
weights of its own training) is unpickled by torch's ``weights_only`` unpickler with Ultralytics' allow-list
(:func:`_restricted_unpickling`): Ultralytics' model classes, torch.nn modules, tensors and plain data. A file
that needs anything else (``os.system``, ``builtins.exec``, a layer from another package) is refused with a
ValueError naming the file and what it asked for, before any of it runs. What is trusted is the installed
ultralytics and torch code, and, for pinned names, Ultralytics' published files; the .pt files themselves are
not. Ultralytics' own training (:meth:`Detection.train`) reloads the files it has just written into our temporary
folder as it always does.

Prediction: ``image_id, detections``; ``detections`` is a JSON list of ``[class_name, confidence, x_min, y_min,
x_max, y_max]`` in the input image's pixels, by descending confidence, at most ``max_detections`` per image, with
confidence >= ``confidence`` (0.001 by default, as for mAP) after NMS at IoU ``iou``. Images are passed to
Ultralytics as BGR arrays (its in-memory convention, as cv2 reads files).

Scoring: see :meth:`Detection.score`. Classes the model predicts that the dataset does not have are dropped (one
log line); dataset classes the model cannot predict score AP 0 where they have objects.

Ultralytics and torch are imported only when first needed.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import logging
import os
import pickle
import random
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import check_rgb, file_digest, write_bytes_atomic, write_csv_atomic
from ..workflow import written_by_another_process
from . import Task, register_task
from .detection_metrics import average_precision, detection_summary, image_counts, match_images

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "codecbench-detector/1"
OPTIMIZERS = ("SGD", "AdamW", "Adam", "Adamax", "NAdam", "RAdam", "RMSProp")
TRAIN_CSV_COLUMNS = ("epoch", "box_loss", "cls_loss", "dfl_loss", "learning_rate", "images_per_s")
WEIGHTS_URL = "https://github.com/ultralytics/assets/releases/download/v8.4.0/{name}"
# sha256 of the Ultralytics assets (WEIGHTS_URL) that may be fetched by name, as GitHub publishes them for the
# release: a file by one of these names, found or downloaded, loads only if it is exactly the published one.
PINNED_WEIGHTS = {
    "yolo11n.pt": "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1",
    "yolov8n.pt": "f59b3d833e2ff32e194b5bb8e08d211dc7c5bdf144b90d2c8412c47ccfc83b36",
    "yolov8s.pt": "1f47a78bf100391c2a140b7ac73a1caae18c32779be7d310658112f7ac9aa78a",
}
MIN_IMAGE_PX = 32  # YOLO's largest stride; image_px must be a multiple of it


def _ultralytics_environment() -> None:
    """Keep Ultralytics off $HOME and offline; variables the user set win. Must run before ``import ultralytics``."""
    if not os.environ.get("YOLO_CONFIG_DIR"):
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) if xdg else Path(tempfile.gettempdir()) / f"codecbench-{os.getuid()}"
        os.environ["YOLO_CONFIG_DIR"] = str(base / "ultralytics")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "false")


_ultralytics_environment()


def _yolo_class():
    """ultralytics.YOLO, imported with the environment of :func:`_ultralytics_environment`."""
    import sys

    if "ultralytics" not in sys.modules:
        _ultralytics_environment()  # in case the variables were removed since this module was imported
    from ultralytics import YOLO

    return YOLO


def weights_candidates(name: str | os.PathLike) -> list[Path]:
    """Where :func:`find_weights` looks for an Ultralytics asset ``name``: the working directory, then
    Ultralytics' ``weights_dir``."""
    from ultralytics.utils import SETTINGS

    return [Path(name), Path(SETTINGS["weights_dir"]) / name]


def _is_asset_name(name: str) -> bool:
    """A bare file name (``yolov8n.pt``) names an Ultralytics asset; anything with a folder (``./yolov8n.pt``,
    ``models/best.pt``) is the user's own file."""
    return Path(name).name == name


def _sha256_mismatch(path: Path, name: str) -> str | None:
    """None if ``path`` holds exactly the asset ``name`` (its pinned sha256), else what it has instead."""
    actual, expected = file_digest(path), PINNED_WEIGHTS[name]
    if actual == expected:
        return None
    return f"sha256 {actual}, not the {expected} pinned for {name!r} ({WEIGHTS_URL.format(name=name)})"


def _download_pinned(name: str, target: Path) -> str:
    """Download the asset ``name`` to ``target`` through Ultralytics, checked against its pin before it is put
    there (a temporary file beside it, then a rename: a failed or wrong download leaves nothing behind).

    Returns "" when done, else why not (for the FileNotFoundError); ValueError on a checksum mismatch."""
    from ultralytics.utils.downloads import attempt_download_asset

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as staging:
        staged = Path(staging) / name
        try:
            attempt_download_asset(staged)
        except Exception as error:  # noqa: BLE001 (network errors of many kinds; offline it fails at once)
            return f"; downloading it failed ({type(error).__name__}: {str(error).strip()[:200]})"
        if not staged.is_file():
            return "; Ultralytics has no such asset to download"
        mismatch = _sha256_mismatch(staged, name)
        if mismatch:
            raise ValueError(
                f"YOLO weights {name!r} downloaded by Ultralytics have {mismatch}, so they were discarded (the "
                "published file changed, or the download was altered): fetch the file yourself, check it, and give "
                "its path"
            )
        os.replace(staged, target)
    return ""


def find_weights(name: str | os.PathLike) -> Path:
    """The file of YOLO weights ``name``.

    * A path with a folder (``./mine.pt``, ``/models/best.pt``): that file, as given.
    * An asset name in :data:`PINNED_WEIGHTS` (``yolov8n.pt``): the file in the working directory or Ultralytics'
      ``weights_dir`` (see :func:`weights_candidates`), else downloaded into ``weights_dir``, in every case only
      if its sha256 is the pinned one (ValueError naming the file otherwise).
    * Any other bare name: only a file of that name in the working directory; nothing is fetched by a name whose
      content is not pinned.

    FileNotFoundError naming the file, the places looked in, why a download failed and, for an asset name, the
    URL to fetch it from on a machine online.
    """
    _yolo_class()  # Ultralytics' settings (weights_dir) with our environment
    text = os.fspath(name)
    if not _is_asset_name(text) or text not in PINNED_WEIGHTS:
        path = Path(text)
        if path.is_file():
            return path
        advice = "give the path of the weights file"
        if _is_asset_name(text):
            advice = (
                f"only the names with a pinned sha256 ({', '.join(PINNED_WEIGHTS)}) are looked up in Ultralytics' "
                f"weights folder or downloaded; download {WEIGHTS_URL.format(name=text)} (or wherever your weights "
                f"come from) yourself and {advice}"
            )
        raise FileNotFoundError(f"YOLO weights {text!r} not found (looked for {path.resolve()}): {advice}")
    candidates = weights_candidates(text)
    for candidate in candidates:
        if candidate.is_file():
            mismatch = _sha256_mismatch(candidate, text)
            if mismatch:
                raise ValueError(
                    f"YOLO weights {candidate.resolve()} have {mismatch}, so they are not Ultralytics' {text}: "
                    f"delete the file to fetch it again, or, if it is your own model, give it by a path with a folder "
                    f"(./{text})"
                )
            return candidate
    failure = _download_pinned(text, candidates[-1])
    if not failure:
        return candidates[-1]
    where = " or ".join(str(c.resolve()) for c in candidates)
    raise FileNotFoundError(
        f"YOLO weights {text!r} not found (looked for {where}){failure}: download {WEIGHTS_URL.format(name=text)} "
        "on a machine online and put it there, or give the path of the weights file"
    )


@contextlib.contextmanager
def _restricted_unpickling() -> Iterator[None]:
    """Unpickle YOLO checkpoints only through torch's ``weights_only`` unpickler with Ultralytics' allow-list
    (``ULTRALYTICS_SAFE_LOAD``: its model classes, torch.nn modules, tensors and plain data), so that a crafted
    .pt cannot run code when it loads.

    Ultralytics' loader unpickles with ``weights_only=False`` unless its safe mode is on; the mode is switched on
    for the duration, and ``torch.load`` is held to ``weights_only=True`` meanwhile, so that no other path of the
    loader (a retry, a future version ignoring the mode) can unpickle freely: such a path fails loudly instead.
    Both are process-wide while they last (jobs load their model from one thread). RuntimeError when the installed
    Ultralytics or torch has no safe mode.
    """
    import torch
    import ultralytics.nn.tasks as ultralytics_tasks

    safe_load = getattr(ultralytics_tasks, "_SafeLoad", None)
    if safe_load is None or not getattr(safe_load, "SUPPORTED", False) or not hasattr(ultralytics_tasks, "SAFE_LOAD"):
        raise RuntimeError(
            "detection: the installed ultralytics or torch cannot load YOLO checkpoints without running their "
            "pickled code (Ultralytics' safe loading needs torch >= 2.6 and a recent ultralytics); install the "
            "project's pinned requirements ('make setup')"
        )
    unrestricted_load, safe_mode = torch.load, ultralytics_tasks.SAFE_LOAD

    def weights_only_load(*args, **kwargs):
        kwargs["weights_only"] = True
        return unrestricted_load(*args, **kwargs)

    ultralytics_tasks.SAFE_LOAD, torch.load = True, weights_only_load
    try:
        yield
    finally:
        ultralytics_tasks.SAFE_LOAD, torch.load = safe_mode, unrestricted_load


def _load_failure(path: Path, error: Exception) -> str:
    """Why ``path`` did not load: what the restricted unpickler refused or stopped at, else the error itself."""
    unpickling = next((e for e in _error_chain(error) if isinstance(e, pickle.UnpicklingError)), None)
    if unpickling is not None:
        refused = re.search(r"GLOBAL ([\w.]+)|unsafe getattr\([^)]*\)", str(unpickling))
        if refused:
            return (
                f"YOLO weights {path} cannot be loaded: refused to unpickle {refused.group(1) or refused.group(0)}, "
                "which is no part of a YOLO checkpoint (only Ultralytics' model classes, torch.nn modules, tensors "
                "and plain data are unpickled, so that a file cannot run code when it loads); give a checkpoint "
                "that Ultralytics or this pipeline wrote"
            )
        reason = re.search(r"WeightsUnpickler error:\s*(.+)", str(unpickling))
        return (
            f"YOLO weights {path} cannot be loaded: the restricted unpickler stopped at "
            f"{(reason.group(1) if reason else str(unpickling)).strip()!r}; the file is damaged, of another format, "
            "or holds more than a YOLO checkpoint does: give an Ultralytics detection checkpoint (.pt)"
        )
    return (
        f"YOLO weights {path} cannot be loaded ({type(error).__name__}: {str(error).strip()}); give an Ultralytics "
        "detection checkpoint (.pt)"
    )


def _error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the exceptions it was raised from or during."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _load_yolo(path: Path):
    """``ultralytics.YOLO`` of the checkpoint ``path``, unpickled with :func:`_restricted_unpickling`; ValueError
    naming the file when it cannot be loaded or is refused."""
    YOLO = _yolo_class()
    with _global_state_kept(), _restricted_unpickling():
        try:
            return YOLO(str(path))
        except Exception as error:  # noqa: BLE001 (unpickling raises anything)
            raise ValueError(_load_failure(path, error)) from error


def _checkpoint_payload(path: Path) -> dict[str, Any]:
    """The checkpoint dict of ``path``, unpickled as :func:`_load_yolo` does."""
    from ultralytics.nn.tasks import torch_safe_load

    with _restricted_unpickling():
        try:
            payload, _ = torch_safe_load(path, safe_only=True)
        except Exception as error:  # noqa: BLE001 (unpickling raises anything)
            raise ValueError(_load_failure(path, error)) from error
    return payload


def _is_weights(model: str) -> bool:
    return str(model).lower().endswith(".pt")


@contextlib.contextmanager
def _global_state_kept() -> Iterator[None]:
    """Restore what Ultralytics' training changes process-wide: random generators, torch's deterministic mode,
    cuDNN flags, thread count and the environment variables it sets."""
    import torch

    saved_env = {key: os.environ.get(key) for key in ("CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED")}
    python_state, numpy_state = random.getstate(), np.random.get_state()
    deterministic = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    fill = torch.utils.deterministic.fill_uninitialized_memory
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    threads = torch.get_num_threads()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
        torch.set_num_threads(threads)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _threads_kept() -> Iterator[None]:
    """Ultralytics sets torch's CPU threads to its NUM_THREADS (cores - 1: one thread on two cores) whenever it
    picks a device; let it keep the process's own count instead."""
    import torch
    import ultralytics.utils.torch_utils as torch_utils

    original = torch_utils.NUM_THREADS
    torch_utils.NUM_THREADS = torch.get_num_threads()
    try:
        yield
    finally:
        torch_utils.NUM_THREADS = original


@contextlib.contextmanager
def _no_font_download() -> Iterator[None]:
    """Ultralytics' dataset check fetches a plotting font (Arial.ttf) online; plots are off, so skip it."""
    import ultralytics.data.utils as data_utils

    original = data_utils.check_font
    data_utils.check_font = lambda *args, **kwargs: None
    try:
        yield
    finally:
        data_utils.check_font = original


def _dataset_classes(annotations: pd.DataFrame) -> list[str] | None:
    classes = annotations.attrs.get("classes")
    if classes is None:
        return None
    classes = [str(c) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"annotations.attrs['classes'] must list distinct class names, got {classes}")
    return classes


def _json_cell(value: Any) -> list:
    """A per-image list cell: a JSON string (as read back from CSV) parsed, a missing value as no entries."""
    if isinstance(value, str):
        value = json.loads(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return value


def _objects(value: Any, image_id: str) -> list[tuple[str, float, float, float, float]]:
    """One image's ``objects`` cell as (class, x_min, y_min, x_max, y_max) tuples (a JSON string is parsed)."""
    objects = []
    for obj in _json_cell(value):
        if len(obj) != 5:
            raise ValueError(f"image {image_id}: an object is (class, x_min, y_min, x_max, y_max), got {obj!r}")
        name, *box = obj
        objects.append((str(name), *(float(v) for v in box)))
    return objects


def _annotation_objects(annotations: pd.DataFrame, what: str) -> list[list[tuple]]:
    missing = [c for c in ("image_id", "objects") if c not in annotations.columns]
    if missing:
        raise ValueError(f"{what} lack the column(s) {', '.join(missing)}")
    return [_objects(v, str(i)) for i, v in zip(annotations["image_id"], annotations["objects"], strict=True)]


def _yolo_labels(objects: list[tuple], width: int, height: int, index: dict[str, int], image_id: str) -> str:
    """YOLO label lines (class cx cy w h, normalised) for one image's pixel boxes."""
    lines = []
    for name, x0, y0, x1, y1 in objects:
        if name not in index:
            raise ValueError(f"training image {image_id}: object class {name!r} is not among the classes {list(index)}")
        x0, x1 = np.clip([x0, x1], 0, width)
        y0, y1 = np.clip([y0, y1], 0, height)
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"training image {image_id}: the {name} box {(x0, y0, x1, y1)} is empty in the image")
        cx, cy, w, h = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height
        lines.append(f"{index[name]} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}\n")
    return "".join(lines)


def _write_yolo_dataset(
    images: Sequence[np.ndarray], annotations: pd.DataFrame, objects: list[list[tuple]], classes: list[str], root: Path
) -> tuple[Path, int, str]:
    """images/train/*.png, labels/train/*.txt and data.yaml (train = val) under ``root``.

    Returns (data.yaml, number of objects, sha256 over the raw image arrays in order).
    """
    from PIL import Image

    index = {name: k for k, name in enumerate(classes)}
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    digest = hashlib.sha256()
    n_objects = 0
    for position, (image_id, image_objects) in enumerate(zip(annotations["image_id"], objects, strict=True)):
        image = images[position]  # read once (may be lazy)
        try:
            check_rgb(image)
        except ValueError as error:
            raise ValueError(f"training image {position} ({image_id}): {error}") from None
        digest.update(np.ascontiguousarray(image).tobytes())
        stem = f"{position:07d}"  # image ids may hold characters unfit for file names
        Image.fromarray(image, "RGB").save(root / "images" / "train" / f"{stem}.png", compress_level=1)
        labels = _yolo_labels(image_objects, image.shape[1], image.shape[0], index, str(image_id))
        (root / "labels" / "train" / f"{stem}.txt").write_text(labels)
        n_objects += len(image_objects)
    names = "".join(f"  {k}: {json.dumps(name)}\n" for k, name in enumerate(classes))
    data_yaml = root / "data.yaml"
    data_yaml.write_text(f"path: {json.dumps(str(root))}\ntrain: images/train\nval: images/train\nnames:\n{names}")
    return data_yaml, n_objects, digest.hexdigest()


def _ultralytics_device(device: str):
    """(torch device, the device argument Ultralytics takes: "cpu" or a CUDA index)."""
    from ..learned.models import pick_device

    dev = pick_device(device)
    if dev.type == "cuda":
        import torch

        return dev, dev.index if dev.index is not None else torch.cuda.current_device()
    if dev.type != "cpu":
        raise ValueError(f"detection: device {device!r} ({dev.type}) is not supported; use cpu or cuda")
    return dev, "cpu"


def _train_rows(results: pd.DataFrame, n_images: int) -> pd.DataFrame:
    """train.csv from Ultralytics' results.csv: per-epoch mean training losses, learning rate and speed."""
    results = results.rename(columns=lambda c: c.strip())
    seconds = np.diff(np.concatenate([[0.0], results["time"].to_numpy(dtype=float)]))
    with np.errstate(divide="ignore"):
        speed = np.where(seconds > 0, n_images / np.where(seconds > 0, seconds, 1), np.nan)
    return pd.DataFrame(
        {
            "epoch": results["epoch"].astype(int),
            "box_loss": results["train/box_loss"].astype(float),
            "cls_loss": results["train/cls_loss"].astype(float),
            "dfl_loss": results["train/dfl_loss"].astype(float),
            "learning_rate": results["lr/pg0"].astype(float),
            "images_per_s": speed,
        },
        columns=list(TRAIN_CSV_COLUMNS),
    )


def _repeatable_checkpoint(payload: dict[str, Any], metadata: dict[str, Any]) -> bytes:
    """Ultralytics' checkpoint dict with the run-specific fields blanked and ``metadata`` added, serialised."""
    import torch

    def blanked(args: Any) -> Any:
        if not isinstance(args, dict):
            return args
        return {key: None if key in ("data", "project", "name", "save_dir") else value for key, value in args.items()}

    payload = dict(payload)
    payload["date"] = None
    payload["train_args"] = blanked(payload.get("train_args") or {})
    for key in ("model", "ema"):  # the model keeps the training arguments too (a dict in a finished checkpoint)
        if payload.get(key) is not None and isinstance(getattr(payload[key], "args", None), dict):
            payload[key].args = blanked(payload[key].args)
    results = dict(payload.get("train_results") or {})
    results.pop("time", None)
    payload["train_results"] = results
    payload["codecbench"] = metadata
    buffer = io.BytesIO()  # saved in memory: the archive's inner name then does not depend on a temp file's
    torch.save(payload, buffer)
    return buffer.getvalue()


@register_task
class Detection(Task):
    """Boxes of known classes per image; see the module docstring for models, training, checkpoint and outputs."""

    name = "detection"
    notes = """
        * `model: yolov8n.yaml` (any ultralytics YOLO `.yaml`) trains from scratch on the train split in the
          pipeline (GPU-tagged): a temporary YOLO dataset, seeded and byte-identical on the same CPU, no `./runs`,
          no `$HOME` (`YOLO_CONFIG_DIR` is `.cache/ultralytics`, `YOLO_OFFLINE` is set). `checkpoint.pt` is
          ultralytics' own file, loadable by `YOLO()`.
        * `model: yolov8n.pt` is evaluated as is: the single variant `pretrained`. A bare name with a pinned sha256
          (`yolov8n.pt`, `yolov8s.pt`, `yolo11n.pt`: Ultralytics' v8.4.0 release assets) is looked for in the
          working directory, then in ultralytics' weights folder, and otherwise downloaded there; whichever it is,
          it loads only if its sha256 is the pinned one (a wrong download is discarded before it is kept; a wrong
          file found fails naming it: delete it, or give your own model as a path, `./yolov8n.pt`). Any other bare
          name is only a file in the working directory, never fetched; a path with a folder is your file as given.
          A missing file fails naming it and the URL to fetch it from; offline, put it in ultralytics' weights
          folder. `checkpoint: <file>` evaluates your own trained `.pt`.
        * **What is trusted:** a `.pt` is a pickle, and unpickling can run any code, so every checkpoint (`model`,
          `checkpoint`, and the pipeline's own trained `checkpoint.pt`) is read by torch's `weights_only` unpickler
          with ultralytics' allow-list (`ULTRALYTICS_SAFE_LOAD`): ultralytics' model classes, `torch.nn` modules,
          tensors and plain data. A file that needs anything else (`os.system`, `exec`, a layer from another
          package) fails before any of it runs, naming the file and what it asked for (`YOLO weights crafted.pt
          cannot be loaded: refused to unpickle posix.system ...`). Trusted are the installed ultralytics and
          torch, and for the pinned names Ultralytics' published files; the `.pt` files themselves are not.
        * Per image: the detections (JSON, class, confidence, box in pixels, kept down to `confidence` and at most
          `max_detections`), the objects, and TP/FP/FN at IoU 0.5 at the operating point `count_confidence`, whose
          F1 is the per-image quality.
        * Scores: COCO's mAP@0.5 and mAP@0.5:0.95 (greedy matching by confidence, 101-point interpolated
          precision, classes without objects left out; `codecbench/tasks/detection_metrics.py`, equal to
          pycocotools' COCOeval to 1e-6 in the tests) recomputed in every bootstrap draw, and precision, recall and
          F1 at `count_confidence`. `per_class.csv` has AP@0.5 and AP@0.5:0.95 per class with the change against
          uncompressed images, and the `per_class` figure shows which classes lose most.
    """
    annotation_kind = "objects"
    scores = ("map50", "map50_95", "precision", "recall", "f1")
    score_labels = {"map50_95": "mAP@0.5:0.95", "map50": "mAP@0.5", "precision": "precision", "recall": "recall"}
    # per image: 2 tp / (2 tp + fp + fn) at IoU 0.5 and count_confidence; 1 where nothing is there and nothing found
    sample_quality, sample_quality_label = "f1_50", "f1_50"  # per-image F1 at IoU 0.5, count_confidence
    text_columns = ("detections", "objects")
    setting_schemas = {
        "model": {
            "type": "string",
            "default": "yolov8n.yaml",
            "description": "ultralytics YOLO: a .yaml trains from scratch in the pipeline (e.g. yolov8n.yaml, "
            "yolo11n.yaml); a .pt is evaluated as is: a name with a pinned sha256 (yolov8n.pt, yolov8s.pt, "
            "yolo11n.pt; found or downloaded, checked), or a path; .pt files are unpickled only with Ultralytics' "
            "allow-list",
        },
        "epochs": {"type": "integer", "minimum": 1, "default": 30},
        "image_px": {"type": "integer", "minimum": 32, "default": 128, "description": "YOLO imgsz (multiple of 32)"},
        "batch_size": {"type": "integer", "minimum": 1, "default": 16},
        "optimizer": {
            "type": "string",
            "default": "SGD",
            "description": "ultralytics optimizer (SGD, Adam, AdamW, ...)",
        },
        "close_mosaic": {
            "type": "integer",
            "minimum": 0,
            "default": 10,
            "description": "mosaic augmentation stops for the last N epochs (ultralytics' default 10: a short "
            "training then never sees mosaics)",
        },
        "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 0.01, "description": "ultralytics lr0"},
        "seed": {"type": "integer", "minimum": 0, "default": 0},
        "confidence": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 0.001,
            "description": "kept detections (low, for mAP)",
        },
        "iou": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": 0.7,
            "description": "NMS IoU threshold",
        },
        "max_detections": {"type": "integer", "minimum": 1, "default": 100},
        "count_confidence": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 0.25,
            "description": "operating point of precision, recall and the per-image counts (TP, FP, FN at IoU 0.5)",
        },
        "checkpoint": {
            "type": ["string", "null"],
            "default": None,
            "description": "a trained .pt to evaluate without training (unpickled only with Ultralytics' allow-list)",
        },
    }

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self._model = None  # an ultralytics.YOLO, set by train() or load()
        self._device_arg: Any = None
        self.classes: list[str] = []  # the model's class names, by class index

    def check_settings(self) -> None:
        s = self.settings
        if not isinstance(s["model"], str | os.PathLike) or not str(s["model"]).lower().endswith(
            (".yaml", ".yml", ".pt")
        ):
            raise ValueError(
                f"detection: setting 'model' must name a YOLO model .yaml (trained here, e.g. yolov8n.yaml) or .pt "
                f"weights (pretrained, e.g. yolov8n.pt), got {s['model']!r}"
            )
        s["model"] = os.fspath(s["model"])
        for key in ("epochs", "batch_size", "max_detections"):
            s[key] = _checked_int(key, s[key], minimum=1)
        s["seed"] = _checked_int("seed", s["seed"], minimum=0)
        s["close_mosaic"] = _checked_int("close_mosaic", s["close_mosaic"], minimum=0)
        s["image_px"] = _checked_int("image_px", s["image_px"], minimum=MIN_IMAGE_PX)
        if s["image_px"] % MIN_IMAGE_PX:
            raise ValueError(
                f"detection: setting 'image_px' must be a multiple of {MIN_IMAGE_PX} (YOLO's largest stride), "
                f"got {s['image_px']}"
            )
        if s["optimizer"] not in OPTIMIZERS:
            raise ValueError(f"detection: setting 'optimizer' is {s['optimizer']!r}; known: {', '.join(OPTIMIZERS)}")
        s["learning_rate"] = _checked_float("learning_rate", s["learning_rate"], lambda v: v > 0, "a positive number")
        s["confidence"] = _checked_float("confidence", s["confidence"], lambda v: 0 <= v < 1, "a number in [0, 1)")
        s["count_confidence"] = _checked_float(
            "count_confidence", s["count_confidence"], lambda v: 0 <= v <= 1, "a number in [0, 1]"
        )
        s["iou"] = _checked_float("iou", s["iou"], lambda v: 0 < v <= 1, "a number in (0, 1]")
        if s["checkpoint"] is not None:
            if not isinstance(s["checkpoint"], str | os.PathLike):
                raise ValueError(f"detection: setting 'checkpoint' must be a file path, got {s['checkpoint']!r}")
            s["checkpoint"] = os.fspath(s["checkpoint"])

    @classmethod
    def is_pretrained(cls, settings: dict[str, Any]) -> bool:
        """A ``.pt`` model is pretrained weights, evaluated as they are."""
        return _is_weights(str(settings.get("model", cls.default_settings["model"])))

    @classmethod
    def describe_sample(cls, row: pd.Series) -> str:
        counts = f"{int(row['tp50'])} TP, {int(row['fp50'])} FP, {int(row['fn50'])} FN"
        return f"F1 {float(row['f1_50']):.2f} ({counts} at IoU 0.5)"

    @classmethod
    def resampled_scores(cls, rows: pd.DataFrame, weights: np.ndarray) -> dict[str, np.ndarray]:
        """mAP50 and mAP50-95 recomputed from the rows' ``detections`` and ``objects`` under each row of
        ``weights`` (:func:`codecbench.tasks.detection_metrics.average_precision`); precision, recall and F1 pooled from
        the weighted ``tp50``, ``fp50`` and ``fn50`` counts (the operating point :meth:`score` used)."""
        matches = _rows_matches(rows)
        ap = average_precision(matches, weights)  # (replicates, classes, thresholds)
        w = np.asarray(weights, dtype=float)
        tp, fp, fn = (w @ rows[column].to_numpy(dtype=float) for column in ("tp50", "fp50", "fn50"))
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no objects in a replicate: NaN
            return {
                "map50": np.nanmean(ap[:, :, 0], axis=1),
                "map50_95": np.nanmean(ap.reshape(ap.shape[0], -1), axis=1),
                "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
                "recall": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
                "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
            }

    @classmethod
    def per_class(cls, rows: pd.DataFrame) -> pd.DataFrame:
        """AP50 and AP50-95 per class with objects in ``rows``."""
        matches = _rows_matches(rows)
        ap = average_precision(matches)
        n_objects = matches.object_counts.sum(axis=0)
        frames = [
            pd.DataFrame({"class": list(matches.classes), "score": score, "value": values, "n_objects": n_objects})[
                n_objects > 0
            ]
            for score, values in (("ap50", ap[:, 0]), ("ap50_95", ap.mean(axis=1)))
        ]
        return pd.concat(frames, ignore_index=True)[["class", "score", "value", "n_objects"]]

    def train(
        self,
        images: list[np.ndarray],
        annotations: pd.DataFrame,
        out_dir: Path,
        device: str = "auto",
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Train the ``model`` .yaml from scratch on ``images`` (row i of ``annotations`` describes image i).

        Writes ``out_dir/checkpoint.pt`` (FileExistsError, before any work, if it exists) and ``out_dir/train.csv``
        (one row per epoch: epoch, box_loss, cls_loss, dfl_loss (Ultralytics' mean training losses over the epoch),
        learning_rate, images_per_s). Classes: ``annotations.attrs["classes"]``. ``device``: auto (CUDA when
        available), cpu or cuda. ``log`` gets progress lines (default: this module's logger). Afterwards the task
        predicts with the trained model. Returns the training info.
        """
        say = log if log is not None else logger.info
        out_dir = Path(out_dir)
        checkpoint = out_dir / "checkpoint.pt"
        s = self.settings
        if s["checkpoint"] is not None:
            raise ValueError(
                f"detection: settings give checkpoint {s['checkpoint']!r}, a model to evaluate: call load() with it "
                "instead of training"
            )
        if _is_weights(s["model"]):
            raise ValueError(
                f"detection: model {s['model']!r} is pretrained weights, evaluated as they are (train variant "
                "'pretrained', or load() it); to train a detector here give a model .yaml such as 'yolov8n.yaml'"
            )
        if checkpoint.exists():  # fail before spending the training time
            raise written_by_another_process(checkpoint, "would be overwritten", "train_task.py")
        if len(images) == 0:
            raise ValueError("no training images given")
        if len(annotations) != len(images):
            raise ValueError(f"{len(images)} training images but {len(annotations)} annotation rows (row i is image i)")
        classes = _dataset_classes(annotations)
        if classes is None:
            raise ValueError(
                "training annotations carry no class list: annotations.attrs['classes'] must hold the dataset's "
                "class names in canonical order (the dataset layer sets it)"
            )
        objects = _annotation_objects(annotations, "training annotations")
        dev, device_arg = _ultralytics_device(device)
        YOLO = _yolo_class()

        logged: set[int] = set()

        def progress(trainer) -> None:  # Ultralytics calls it once more after its final validation
            if trainer.epoch in logged or trainer.epoch >= trainer.epochs:
                return
            logged.add(trainer.epoch)
            losses = trainer.tloss if isinstance(trainer.tloss, dict) else {}
            shown = ", ".join(f"{name} {float(value):.4f}" for name, value in losses.items())
            say(f"epoch {trainer.epoch + 1}/{trainer.epochs}: {shown}")

        with tempfile.TemporaryDirectory(prefix="codecbench-yolo-") as tmp:
            root = Path(tmp)
            data_yaml, n_objects, images_sha256 = _write_yolo_dataset(
                images, annotations, objects, classes, root / "data"
            )
            say(f"training {s['model']} on {len(images)} images ({n_objects} objects, {len(classes)} classes) on {dev}")
            with _global_state_kept(), _threads_kept(), _no_font_download():
                try:
                    model = YOLO(s["model"])
                except Exception as error:  # noqa: BLE001 (Ultralytics raises many kinds for a bad model file)
                    raise ValueError(
                        f"detection: cannot build YOLO model {s['model']!r} ({type(error).__name__}: {error}); give "
                        "a model .yaml Ultralytics ships (e.g. yolov8n.yaml, yolo11n.yaml) or the path of one"
                    ) from error
                model.add_callback("on_fit_epoch_end", progress)
                start = time.perf_counter()
                model.train(
                    data=str(data_yaml),
                    epochs=s["epochs"],
                    imgsz=s["image_px"],
                    batch=s["batch_size"],
                    optimizer=s["optimizer"],
                    lr0=s["learning_rate"],
                    close_mosaic=s["close_mosaic"],
                    seed=s["seed"],
                    deterministic=True,
                    workers=0,
                    device=device_arg,
                    project=str(root / "runs"),
                    name="train",
                    exist_ok=True,
                    plots=False,
                    amp=False,
                    val=False,
                    verbose=False,
                    pretrained=False,
                )
                train_seconds = time.perf_counter() - start
            run = root / "runs" / "train"
            results = pd.read_csv(run / "results.csv")
            payload = _checkpoint_payload(run / "weights" / "last.pt")

        rows = _train_rows(results, len(images))
        last = results.rename(columns=lambda c: c.strip()).iloc[-1]
        training = {
            "task": self.name,
            "model": s["model"],
            "settings": copy.deepcopy(s),
            "device": dev.type,
            "classes": classes,
            "num_images": len(images),
            "num_objects": n_objects,
            "images_sha256": images_sha256,
            "epochs_done": len(rows),
            "final_box_loss": float(rows["box_loss"].iloc[-1]),
            "final_cls_loss": float(rows["cls_loss"].iloc[-1]),
            "final_dfl_loss": float(rows["dfl_loss"].iloc[-1]),
            # Ultralytics' own validation of the last weights on the training images (train = val)
            "final_train_map50": float(last["metrics/mAP50(B)"]),
            "final_train_map50_95": float(last["metrics/mAP50-95(B)"]),
        }
        metadata = {"format": CHECKPOINT_FORMAT, "classes": classes, "settings": copy.deepcopy(s), "training": training}
        write_csv_atomic(rows, out_dir / "train.csv")
        write_bytes_atomic(checkpoint, _repeatable_checkpoint(payload, metadata))
        say(f"saved {checkpoint} (trained on {dev.type}, {train_seconds:.1f} s)")
        self.load(checkpoint, device=device)
        return {**training, "images_per_s": len(images) * len(rows) / train_seconds, "train_seconds": train_seconds}

    def load(self, checkpoint: Path | str | None, device: str = "auto") -> None:
        """Load YOLO detection weights for :meth:`predict`: a checkpoint :meth:`train` wrote, any Ultralytics
        detection .pt, or an Ultralytics weights name (see :func:`find_weights`); None: the settings' ``model``.

        FileNotFoundError when the file is missing, ValueError when it is not a YOLO detection model; both name
        the file.
        """
        if checkpoint is None:  # the pretrained variant: the weights the settings name
            if not _is_weights(self.settings["model"]):
                raise ValueError(
                    f"detection: no checkpoint given and setting 'model' {self.settings['model']!r} is a model "
                    "definition to train, not weights; train() first or give a .pt"
                )
            checkpoint = self.settings["model"]
        path = find_weights(checkpoint)
        model = _load_yolo(path)
        if model.task != "detect":
            raise ValueError(f"YOLO weights {path} are a {model.task!r} model, not a detection ('detect') model")
        dev, device_arg = _ultralytics_device(device)
        names = model.names
        self.classes = [str(names[k]) for k in sorted(names)]
        self._model, self._device_arg, self.device = model, device_arg, dev.type

    def counted_network(self) -> tuple[Any, tuple[int, int]] | None:
        """The YOLO network (the ``DetectionModel``, without pre- and post-processing: non-maximum suppression is
        not counted) at ``image_px`` square, the size it predicts at."""
        if self._model is None:
            raise RuntimeError("detection: no model yet; call train() or load() first")
        side = self.settings["image_px"]
        return self._model.model, (side, side)

    def predict(self, images: list[np.ndarray], image_ids: list[str]) -> pd.DataFrame:
        """``image_id, detections`` (a JSON list of [class, confidence, x_min, y_min, x_max, y_max] per image)."""
        if self._model is None:
            raise RuntimeError("detection: no model yet; call train() or load() first")
        if len(images) != len(image_ids):
            raise ValueError(f"{len(images)} images but {len(image_ids)} image ids")
        s = self.settings
        detections = []
        for start in range(0, len(images), s["batch_size"]):
            batch = list(images[start : start + s["batch_size"]])  # read once (may be lazy)
            for image_id, image in zip(image_ids[start:], batch, strict=False):
                try:
                    check_rgb(image)
                except ValueError as error:
                    raise ValueError(f"image {image_id}: {error}") from None
            bgr = [np.ascontiguousarray(image[:, :, ::-1]) for image in batch]  # Ultralytics' arrays are BGR
            with _global_state_kept(), _threads_kept():
                results = self._model.predict(
                    bgr,
                    imgsz=s["image_px"],
                    conf=s["confidence"],
                    iou=s["iou"],
                    max_det=s["max_detections"],
                    device=self._device_arg,
                    batch=len(bgr),
                    verbose=False,
                    save=False,
                )
            for result in results:
                detections.append(json.dumps(_result_detections(result, self.classes)))
        return pd.DataFrame(
            {"image_id": [str(i) for i in image_ids], "detections": detections}, columns=["image_id", "detections"]
        )

    def score(self, predictions: pd.DataFrame, annotations: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Per image ``image_id, n_objects, n_detections, tp50, fp50, fn50, errors, f1_50, detections, objects`` in
        prediction order, and the aggregate metrics.

        Per image: ``n_detections`` counts all scored detections; ``tp50``, ``fp50`` (detections) and ``fn50``
        (missed objects) count at IoU 0.5 among the detections with confidence >= ``count_confidence`` (0.25,
        Ultralytics' usual display threshold), ``errors`` = fp50 + fn50, ``f1_50`` = 2 tp50 / (2 tp50 + fp50 +
        fn50) (1 for an image without objects and without such detections); ``detections`` and ``objects`` are
        JSON.
        Aggregate (:func:`codecbench.tasks.detection_metrics.detection_summary`): ``map50``, ``map50_95`` (COCO, over
        all detections), ``precision``, ``recall`` and ``f1`` pooled over classes at IoU 0.5 and ``count_confidence``
        (a fixed operating point, not Ultralytics' F1-maximising confidence, so that it is the same for every
        compression setting), ``per_class_ap50``, ``classes``, ``n`` (images) and ``n_objects``.

        Classes: ``annotations.attrs["classes"]`` when set, else the model's, else the sorted names seen.
        Detections of other classes are dropped (logged once). Every prediction needs an annotation.
        """
        for name, frame, columns in (
            ("predictions", predictions, ("image_id", "detections")),
            ("annotations", annotations, ("image_id", "objects")),
        ):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise ValueError(f"{name} lack the column(s) {', '.join(missing)}")
        ids = annotations["image_id"].astype(str)
        duplicated = ids[ids.duplicated()].unique().tolist()
        if duplicated:
            raise ValueError(f"annotations list image(s) {duplicated[:5]} more than once")
        truth = dict(zip(ids, annotations["objects"], strict=True))
        image_ids = predictions["image_id"].astype(str).tolist()
        unannotated = [i for i in image_ids if i not in truth]
        if unannotated:
            raise ValueError(f"{len(unannotated)} predicted image(s) have no annotation, e.g. {unannotated[:5]}")
        objects = [_objects(truth[i], i) for i in image_ids]
        detections = [_parsed_detections(v, i) for i, v in zip(image_ids, predictions["detections"], strict=True)]

        classes = _dataset_classes(annotations)
        if classes is None:
            seen = {o[0] for image in objects for o in image} | {d[0] for image in detections for d in image}
            classes = list(self.classes) or sorted(seen)
        known = set(classes)
        unknown_objects = sorted({o[0] for image in objects for o in image} - known)
        if unknown_objects:
            raise ValueError(f"annotations hold object class(es) {unknown_objects} outside the classes {classes}")
        dropped: dict[str, int] = {}
        for image in detections:
            for d in image:
                if d[0] not in known:
                    dropped[d[0]] = dropped.get(d[0], 0) + 1
        if dropped:
            logger.info(
                "detection: dropped %d detection(s) of %d class(es) the dataset does not have: %s",
                sum(dropped.values()),
                len(dropped),
                ", ".join(f"{k} ({v})" for k, v in sorted(dropped.items())),
            )
            detections = [[d for d in image if d[0] in known] for image in detections]
        if self.classes:
            unpredictable = sorted(known - set(self.classes))
            if unpredictable:
                logger.info("detection: the model cannot predict the dataset's class(es) %s (AP 0)", unpredictable)

        matches = match_images(detections, objects, classes)
        counts = image_counts(matches, confidence=self.settings["count_confidence"])
        table = pd.DataFrame(
            {
                "image_id": image_ids,
                "n_objects": [len(o) for o in objects],
                "n_detections": [len(d) for d in detections],
                "tp50": counts["tp"],
                "fp50": counts["fp"],
                "fn50": counts["fn"],
                "errors": counts["fp"] + counts["fn"],
                "f1_50": _f1(counts["tp"], counts["fp"], counts["fn"]),
                "detections": [json.dumps(d) for d in detections],
                "objects": [json.dumps([list(o) for o in image]) for image in objects],
            }
        )
        metrics = detection_summary(matches, count_confidence=self.settings["count_confidence"])
        metrics.update({"classes": list(classes), "n": len(image_ids), "n_objects": int(table["n_objects"].sum())})
        return table, metrics


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Per-image F1 = 2 tp / (2 tp + fp + fn); 1 where there is nothing to find and nothing was found."""
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 1.0)


def _rows_matches(rows: pd.DataFrame):
    """The matches of per-sample rows (their ``detections`` and ``objects`` JSON), classes sorted by name.

    Classes without objects have no AP, so this order-free class list gives the same mAP as the dataset's."""
    detections = [_parsed_detections(v, i) for i, v in zip(rows["image_id"], rows["detections"], strict=True)]
    objects = [_objects(v, i) for i, v in zip(rows["image_id"], rows["objects"], strict=True)]
    classes = sorted({o[0] for image in objects for o in image} | {d[0] for image in detections for d in image})
    return match_images(detections, objects, classes)


def _result_detections(result, classes: list[str]) -> list[list]:
    """One Ultralytics Results as [class, confidence, x_min, y_min, x_max, y_max] lists, by descending confidence."""
    boxes = result.boxes
    xyxy = boxes.xyxy.detach().cpu().double().numpy().reshape(-1, 4)
    confidence = boxes.conf.detach().cpu().double().numpy().reshape(-1)
    class_index = boxes.cls.detach().cpu().numpy().astype(int).reshape(-1)
    order = np.argsort(-confidence, kind="stable")
    return [
        [classes[class_index[i]], round(float(confidence[i]), 6), *(round(float(v), 3) for v in xyxy[i])] for i in order
    ]


def _parsed_detections(value: Any, image_id: str) -> list[tuple]:
    parsed = []
    for d in _json_cell(value):
        if len(d) != 6:
            raise ValueError(
                f"image {image_id}: a detection is [class, confidence, x_min, y_min, x_max, y_max], got {d!r}"
            )
        parsed.append((str(d[0]), *(float(v) for v in d[1:])))
    return parsed


def _checked_int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"detection: setting {key!r} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _checked_float(key: str, value: Any, valid: Callable[[float], bool], what: str) -> float:
    """``value`` as a float if ``valid`` accepts it; ValueError naming the key otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not valid(value):
        raise ValueError(f"detection: setting {key!r} must be {what}, got {value!r}")
    return float(value)
