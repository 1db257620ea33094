"""Shared fixtures. Every cache goes to a temporary folder: the tests write nothing to $HOME."""

from __future__ import annotations

import functools
import http.server
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

PROJECT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
# Each folder of tests is a layer, and its tests carry the layer's marker (registered in pyproject.toml): unit (the
# library, no Snakemake process), dryrun (Snakemake plans or reads the rules, runs no job), workflow (Snakemake runs).
LAYERS = ("unit", "dryrun", "workflow")
_CACHE = Path(tempfile.mkdtemp(prefix="codecbench-test-cache-"))
for _variable in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "TORCH_HOME", "YOLO_CONFIG_DIR"):
    os.environ[_variable] = str(_CACHE / _variable.lower())


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    """Mark each test with its layer, the folder under tests/ that holds its file."""
    for item in items:
        folder = item.path.resolve().parent
        if folder.parent == TESTS and folder.name in LAYERS:
            item.add_marker(folder.name)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photograph (scikit-image's astronaut), cropped to odd sides to exercise padding paths."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[96:361, 128:429])


@pytest.fixture(scope="session")
def project() -> Path:
    return PROJECT


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www over HTTP on 127.0.0.1; yield (base url, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch.hub cache of the test's own: no zoo or ImageNet weights are found (nor downloaded) unless the
    test puts them there. Modules that need it for every test use ``pytest.mark.usefixtures("torch_home")``."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home
