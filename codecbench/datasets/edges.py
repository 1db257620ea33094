"""Edge ground truth of a prepared dataset: human (or exact) boundary maps, one file per image.

``<dir>/edges/<image_id>.npz`` holds ``boundaries``: a bool array (annotators, height, width), True on boundary
pixels, one layer per annotator (BSDS500 has 4-9 per image; a synthetic set has one exact layer). The boundary
benchmark (:mod:`codecbench.tasks.edge_metrics`) matches a detector's map against every layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

EDGES_DIR = "edges"


def edges_file(dataset_dir: str | Path, image_id: str) -> Path:
    return Path(dataset_dir) / EDGES_DIR / f"{image_id}.npz"


def write_edges(dataset_dir: str | Path, image_id: str, boundaries: np.ndarray) -> Path:
    """Store one image's boundary maps (a (height, width) map is one annotator)."""
    maps = np.asarray(boundaries, dtype=bool)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ValueError(f"image {image_id!r}: boundary maps must be (annotators, height, width), got {maps.shape}")
    path = edges_file(dataset_dir, image_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez_compressed(partial, boundaries=maps)
    partial.replace(path)
    return path


def read_edges(path: str | Path) -> np.ndarray:
    """The (annotators, height, width) bool boundary maps stored at ``path``; ValueError naming the file if it is
    missing or not such a file."""
    path = Path(path)
    try:
        with np.load(path) as stored:
            maps = stored["boundaries"]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"cannot read edge ground truth {path}: {exc}; prepare the dataset again") from exc
    if maps.dtype != bool or maps.ndim != 3:
        raise ValueError(f"{path}: expected bool (annotators, height, width) maps, got {maps.dtype} {maps.shape}")
    return maps
