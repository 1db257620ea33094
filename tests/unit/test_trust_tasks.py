"""What the detection and OCR tasks trust: YOLO checkpoints are unpickled only with Ultralytics' allow-list and
weights fetched by name only with their pinned sha256; the PaddleOCR worker is waited for with bounded timeouts,
its stray output is skipped, its errors name the image, and parallel workers set up their models safely."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

# --- detection: checkpoints ------------------------------------------------------------------------------------


class _RunsCode:
    """Unpickles as a call of os.system that creates ``marker``: what a crafted checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.fixture(scope="module")
def genuine(tmp_path_factory) -> Path:
    """An untrained yolov8n, saved as the pipeline saves its trained detectors (Ultralytics' checkpoint dict,
    run-specific fields blanked, the ``codecbench`` entry added: detection._repeatable_checkpoint)."""
    import copy

    import torch
    from ultralytics import YOLO

    from codecbench.tasks.detection import CHECKPOINT_FORMAT, _repeatable_checkpoint

    model = YOLO("yolov8n.yaml").model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    payload = {
        "epoch": -1,
        "best_fitness": None,
        "model": None,
        "ema": copy.deepcopy(model).half(),
        "updates": 0,
        "optimizer": optimizer.state_dict(),
        "train_args": {"data": "/tmp/data.yaml", "imgsz": 64, "epochs": 1, "project": "/tmp/runs"},
        "train_results": {"epoch": [1], "time": [1.0]},
        "date": "2026-01-01T00:00:00",
        "version": "8.4.190",
    }
    metadata = {"format": CHECKPOINT_FORMAT, "classes": [str(k) for k in range(80)], "settings": {}, "training": {}}
    path = tmp_path_factory.mktemp("genuine") / "checkpoint.pt"
    path.write_bytes(_repeatable_checkpoint(payload, metadata))
    return path


def _injected(genuine: Path, marker: Path, out: Path, zip_format: bool) -> Path:
    """The genuine checkpoint with one object added that runs code when unpickled, in either torch format."""
    import torch

    payload = torch.load(genuine, map_location="cpu", weights_only=False)  # the test's own file
    payload["codecbench"]["note"] = _RunsCode(marker)
    torch.save(payload, out, _use_new_zipfile_serialization=zip_format)
    return out


def _predicts(task) -> None:
    predictions = task.predict([np.zeros((64, 64, 3), np.uint8)], ["blank"])
    assert predictions.image_id.tolist() == ["blank"] and isinstance(json.loads(predictions.detections[0]), list)


@pytest.mark.parametrize("given_as", ["model", "checkpoint"])
def test_checkpoints_unpickle_only_what_a_yolo_checkpoint_holds(genuine, tmp_path, given_as):
    from codecbench.tasks.detection import Detection

    def load(path: Path) -> Detection:
        if given_as == "model":  # the pretrained variant: the weights the settings name
            task = Detection({"model": str(path), "image_px": 64})
            task.load(None, device="cpu")
        else:  # a user's checkpoint: the pipeline hands the setting to load()
            task = Detection({"checkpoint": str(path), "image_px": 64})
            task.load(path, device="cpu")
        return task

    _predicts(load(genuine))  # a genuine checkpoint loads and predicts
    marker = tmp_path / "code-ran"
    for zip_format in (True, False):
        crafted = _injected(genuine, marker, tmp_path / f"crafted-{zip_format}.pt", zip_format)
        with pytest.raises(ValueError, match=f"YOLO weights {re.escape(str(crafted))} cannot be loaded: ") as error:
            load(crafted)
        assert not marker.exists()
        if zip_format:  # torch's own format names what the pickle would call (the legacy one stops earlier)
            assert "refused to unpickle posix.system" in str(error.value)


def test_a_crafted_file_is_refused_naming_what_it_would_call(tmp_path):
    import torch

    from codecbench.tasks.detection import Detection

    marker = tmp_path / "code-ran"
    torch.save({"model": _RunsCode(marker)}, tmp_path / "crafted.pt")
    with pytest.raises(ValueError, match="crafted.pt cannot be loaded: refused to unpickle posix.system"):
        Detection().load(tmp_path / "crafted.pt", device="cpu")
    assert not marker.exists()


# --- detection: weights fetched by name ------------------------------------------------------------------------


@pytest.fixture
def weights_dir(tmp_path, monkeypatch) -> Path:
    """Ultralytics' weights folder in a temporary folder, and a fresh working directory."""
    from ultralytics.utils import SETTINGS

    import codecbench.tasks.detection  # noqa: F401 (Ultralytics' settings in our environment first)

    folder = tmp_path / "weights"
    monkeypatch.setitem(SETTINGS, "weights_dir", str(folder))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return folder


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


YOLOV8N_SHA256 = "f59b3d833e2ff32e194b5bb8e08d211dc7c5bdf144b90d2c8412c47ccfc83b36"  # Ultralytics' v8.4.0 asset


def test_a_pinned_name_loads_only_the_published_file(genuine, weights_dir):
    from codecbench.tasks.detection import Detection

    other = f"sha256 {_sha256(genuine)}, not the {YOLOV8N_SHA256}"
    for folder in (Path.cwd(), weights_dir):  # found in the working directory or in Ultralytics' weights folder
        folder.mkdir(exist_ok=True)
        shutil.copy(genuine, folder / "yolov8n.pt")
        found = re.escape(str(folder.resolve() / "yolov8n.pt"))
        with pytest.raises(ValueError, match=f"YOLO weights {found} have {other}.* path with a folder"):
            Detection({"model": "yolov8n.pt"}).load(None, device="cpu")
        if folder == Path.cwd():
            _predicts_after_load(Detection({"model": "./yolov8n.pt", "image_px": 64}))  # as a path: the user's file
        (folder / "yolov8n.pt").unlink()


def _predicts_after_load(task) -> None:
    task.load(None, device="cpu")
    _predicts(task)


def test_a_download_is_checked_before_it_is_kept(genuine, weights_dir, monkeypatch):
    import ultralytics.utils.downloads as downloads

    from codecbench.tasks import detection

    fetched = []

    def download(file, *args, **kwargs):  # what Ultralytics fetches: here the genuine file, not yolov8n's
        fetched.append(Path(file))
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(genuine, file)
        return str(file)

    monkeypatch.setattr(downloads, "attempt_download_asset", download)
    with pytest.raises(
        ValueError, match=f"'yolov8n.pt' downloaded by Ultralytics have sha256 .*{YOLOV8N_SHA256}.* discarded"
    ):
        detection.Detection({"model": "yolov8n.pt"}).load(None, device="cpu")
    assert fetched and not (weights_dir / "yolov8n.pt").exists() and list(weights_dir.iterdir()) == []
    monkeypatch.setitem(detection.PINNED_WEIGHTS, "yolov8n.pt", _sha256(genuine))  # now it is the pinned file
    _predicts_after_load(detection.Detection({"model": "yolov8n.pt", "image_px": 64}))
    assert _sha256(weights_dir / "yolov8n.pt") == _sha256(genuine) and list(weights_dir.iterdir()) == [
        weights_dir / "yolov8n.pt"
    ]


def test_an_unpinned_name_is_only_a_local_file(genuine, weights_dir, monkeypatch):
    import ultralytics.utils.downloads as downloads

    from codecbench.tasks.detection import Detection

    fetched = []
    monkeypatch.setattr(downloads, "attempt_download_asset", lambda file, *a, **k: fetched.append(file) or str(file))
    weights_dir.mkdir()
    shutil.copy(genuine, weights_dir / "yolov8m.pt")  # an Ultralytics name whose content is not pinned here
    with pytest.raises(FileNotFoundError, match="'yolov8m.pt' not found .*only the names with a pinned sha256"):
        Detection({"model": "yolov8m.pt"}).load(None, device="cpu")
    assert fetched == []
    shutil.copy(genuine, "yolov8m.pt")  # a file of that name in the working directory is the user's own
    _predicts_after_load(Detection({"model": "yolov8m.pt", "image_px": 64}))


# --- OCR: the PaddleOCR worker ---------------------------------------------------------------------------------

FAKE_WORKER = """
import json, os, sys, time

mode = os.environ["FAKE_WORKER_MODE"]
with open(os.environ["FAKE_WORKER_PID"], "w") as handle:
    handle.write(str(os.getpid()))


def say(message):
    print(json.dumps(message), flush=True)


if mode == "hang_start":
    time.sleep(600)
if mode == "stray":
    print("a library says hello", flush=True)
    print("[1, 2]", flush=True)  # JSON, but no message
say({"ready": True, "info": "fake worker"})
for count, line in enumerate(sys.stdin, 1):
    paths = json.loads(line)["images"]
    if mode == "hang":
        time.sleep(600)
    if mode == "exit":
        sys.exit(3)
    if mode == "error" and count == 2:
        say({"error": "ValueError: cannot decode"})
        continue
    if mode == "stray":
        print("progress: 100%", flush=True)
    say({"results": [[[None, "AB 12", 0.9]] for _ in paths]})
"""


@pytest.fixture
def fake_worker(tmp_path, monkeypatch):
    """Make the OCR task start FAKE_WORKER (in this interpreter) in place of the paddle worker; returns a function
    that sets its mode and gives the pid file."""
    from codecbench.tasks import ocr

    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    monkeypatch.setattr(ocr, "PADDLE_WORKER", script)
    pid_file = tmp_path / "worker.pid"
    monkeypatch.setenv("FAKE_WORKER_PID", str(pid_file))

    def use(mode: str) -> Path:
        monkeypatch.setenv("FAKE_WORKER_MODE", mode)
        return pid_file

    return use


def _paddle(**settings):
    from codecbench.tasks.ocr import OCR

    return OCR({"engine": "paddleocr", "python": sys.executable, **settings})


IMAGES = [np.full((32, 100, 3), 200, np.uint8), np.full((32, 100, 3), 100, np.uint8)]


def _stopped(pid_file: Path) -> bool:
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_hung_worker_is_stopped_naming_the_image_and_the_setting(fake_worker):
    pid_file = fake_worker("hang")
    task = _paddle(image_timeout_s=0.5)
    task.load(None)
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"no answer on image plate_a within 0.5 s \(setting 'image_timeout_s'\)"):
        task.predict(IMAGES, ["plate_a", "plate_b"])
    assert time.monotonic() - start < 10 and _stopped(pid_file)
    task.close()


def test_a_worker_hung_at_start_up_is_stopped_naming_the_setting(fake_worker):
    pid_file = fake_worker("hang_start")
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"while loading its models within 0.5 s \(setting 'start_timeout_s'\)"):
        _paddle(start_timeout_s=0.5).load(None)
    assert time.monotonic() - start < 10 and _stopped(pid_file)


def test_stray_lines_on_the_workers_output_are_logged_and_skipped(fake_worker, caplog):
    fake_worker("stray")
    task = _paddle()
    with caplog.at_level("WARNING", logger="codecbench.tasks.ocr"):
        task.load(None)
        predictions = task.predict(IMAGES, ["plate_a", "plate_b"])
    task.close()
    assert predictions.text.tolist() == ["AB 12", "AB 12"]
    assert predictions.confidence.tolist() == pytest.approx([0.9, 0.9])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "a library says hello" in logged and "[1, 2]" in logged and "progress: 100%" in logged


def test_worker_errors_name_the_image(fake_worker):
    fake_worker("error")
    task = _paddle()
    task.load(None)
    with pytest.raises(RuntimeError, match="failed on image plate_b: ValueError: cannot decode"):
        task.predict(IMAGES, ["plate_a", "plate_b"])
    task.close()
    fake_worker("exit")
    task.load(None)
    with pytest.raises(RuntimeError, match="exited with status 3 before answering on image plate_a"):
        task.predict(IMAGES, ["plate_a", "plate_b"])
    task.close()


def test_timeouts_are_checked_settings():
    for value in (0, -1, "60", True, float("inf")):
        with pytest.raises(ValueError, match="setting 'image_timeout_s' must be a positive number of seconds"):
            _paddle(image_timeout_s=value)
    assert _paddle(start_timeout_s=5).settings["start_timeout_s"] == 5.0


def test_the_worker_names_the_image_it_failed_on():
    from codecbench.tasks import ocr_paddle_worker

    def read_one(path):
        if path == "b.png":
            raise OSError("cannot identify image file")
        return [[None, "AB", 0.5]]

    assert ocr_paddle_worker.answer('{"images": ["a.png"]}\n', read_one) == {"results": [[[None, "AB", 0.5]]]}
    assert ocr_paddle_worker.answer('{"images": ["a.png", "b.png"]}', read_one) == {
        "error": "image b.png: OSError: cannot identify image file"
    }
    assert "bad request" in ocr_paddle_worker.answer("hello\n", read_one)["error"]


def test_parallel_workers_set_up_the_same_models_safely(tmp_path, monkeypatch):
    """Two workers preparing the same model folder at once (each link made at the same moment) both get the one
    complete folder."""
    from codecbench.tasks import ocr_paddle_worker

    models = tmp_path / "models"
    rec = models / "ch_PP-OCRv4_rec_infer"
    rec.mkdir(parents=True)
    for name in ("inference.pdmodel", "inference.pdiparams"):
        (rec / name).write_bytes(b"weights")
    (models / "ppocr_keys_v1.txt").write_text("A\nB\n")
    together = threading.Barrier(2, timeout=5)
    symlink = os.symlink

    def symlink_together(*args, **kwargs):  # both workers make each link at the same time
        together.wait()
        return symlink(*args, **kwargs)

    monkeypatch.setattr(os, "symlink", symlink_together)
    results, errors = [], []

    def prepare():
        try:
            results.append(ocr_paddle_worker.prepared(rec, "rec", models, tmp_path / "cache"))
        except Exception as error:  # noqa: BLE001 (collected for the assertion)
            errors.append(error)

    threads = [threading.Thread(target=prepare) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    folder, name = results[0]
    assert name == "PP-OCRv4_mobile_rec"
    assert sorted(p.name for p in folder.iterdir()) == ["inference.pdiparams", "inference.pdmodel", "inference.yml"]
    assert (folder / "inference.pdmodel").resolve() == (rec / "inference.pdmodel").resolve()
    assert "character_dict" in (folder / "inference.yml").read_text()
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no temporary folder left behind
