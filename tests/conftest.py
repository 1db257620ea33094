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
