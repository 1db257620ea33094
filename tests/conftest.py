"""Shared fixtures. Every cache goes to a temporary folder: the tests write nothing to $HOME."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

PROJECT = Path(__file__).resolve().parents[1]
_CACHE = Path(tempfile.mkdtemp(prefix="codecbench-test-cache-"))
for _variable in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "TORCH_HOME", "YOLO_CONFIG_DIR"):
    os.environ[_variable] = str(_CACHE / _variable.lower())


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photograph (scikit-image's astronaut), cropped to odd sides to exercise padding paths."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[96:361, 128:429])


@pytest.fixture(scope="session")
def project() -> Path:
    return PROJECT
