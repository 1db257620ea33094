"""File helpers shared by every stage: atomic writes and lossless 8-bit RGB image I/O."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    An interrupted or failing job therefore never leaves a half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are as readable as any file
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes by ``algorithm`` (a :func:`hashlib.new` name), read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.new(algorithm, usedforsecurity=False)).hexdigest()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv_atomic(frame, path: str | os.PathLike) -> None:
    """Write a pandas DataFrame as CSV without the index, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image the pipeline wrote itself (8-bit RGB PNG) as a uint8 HxWx3 array."""
    with Image.open(path) as im:
        if im.mode != "RGB":
            raise ValueError(f"{path}: expected an 8-bit RGB image, found mode {im.mode}")
        return np.asarray(im, dtype=np.uint8).copy()


def write_rgb_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a uint8 HxWx3 array as a lossless PNG, atomically (fast compression: these are work files)."""
    check_rgb(image)
    with atomic_path(path) as tmp:
        Image.fromarray(image, "RGB").save(tmp, format="PNG", compress_level=1)


def check_rgb(image: np.ndarray) -> None:
    """Raise unless ``image`` is a uint8 HxWx3 array, the one image type codecs and metrics accept."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected a uint8 HxWx3 RGB array, got {desc}")


def read_torch_payload(
    path: str | os.PathLike,
    expected_format: str,
    kind: str,
    required: tuple[str, ...] = (),
    error: type[Exception] = ValueError,
    advice: str = "",
) -> dict:
    """The dict a codecbench job saved with ``torch.save`` (checkpoints, resumable states), checked.

    Raises ``error`` naming the file (described as ``kind``) when it cannot be read, is not a dict whose
    ``format`` is ``expected_format`` (``advice`` is appended), or lacks one of the ``required`` keys.
    Only plain data and tensors are unpickled (``weights_only``).
    """
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise error(f"{kind} {path} cannot be read as a torch file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise error(f"{kind} {path} is not a {expected_format} file (format {found!r}).{advice}")
    missing = [key for key in required if key not in payload]
    if missing:
        raise error(f"{kind} {path} lacks {', '.join(missing)}")
    return payload
