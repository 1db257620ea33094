"""Trusting learned models' results: a decoder that does not reproduce its encoder fails the job (or is recorded
when asked), pretrained classifiers get their ImageNet weights or fail saying which file to place (never a silent
start from scratch), and trained checkpoints are reproducible files that survive an orphaned training job.

Everything is tiny (random-weight models, a few training steps); weights are served from 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import logging
import os
import shutil
import threading

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from codecbench.codecs import CodecError, learned_video, make_codec
from codecbench.datasets import prepare_dataset
from codecbench.learned import models
from codecbench.learned.train import partial_path, train_codec
from codecbench.learned.train_video import CHECKPOINT_NAME, build_ssf, save_ssf_checkpoint, train_ssf
from codecbench.stages.compress import compress_point
from codecbench.tasks.classification import Classification, _build_network, imagenet_weights_file

pytestmark = pytest.mark.usefixtures("torch_home")  # every test gets an empty torch.hub cache (conftest.py)


def _quiet(_line: str) -> None:
    pass


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


# -- a decoder that disagrees with its encoder --------------------------------------------------------------------


@pytest.fixture
def disagreeing_decoder(monkeypatch):
    """Every learned image decoder reads latents one step off and outputs pictures 4 levels brighter: what a
    decoder whose entropy parameters differ from the encoder's does (CompressAI's best-known failure)."""
    original = models.decode_with_latents

    def decode(model, strings, shape):
        x_hat, y_hat = original(model, strings, shape)
        return (x_hat + 4 / 255).clamp(0, 1), y_hat + 1

    monkeypatch.setattr(models, "decode_with_latents", decode)


@pytest.fixture
def one_image_dataset(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(smooth_image(24, 40, seed=1) // 2).save(folder / "harbour.png")  # // 2: no clipping at 255
    prepare_dataset("mine", {"source": "local", "path": str(folder)}, tmp_path / "mine", tmp_path / "downloads")
    return tmp_path / "mine" / "manifest.csv"


def _compress(manifest, out, **options):
    return compress_point(manifest, "cae", 1, {"pretrained": False, **options}, out)[0]


def test_a_mismatching_decoder_fails_the_job_naming_the_image_and_the_mismatch(
    disagreeing_decoder, one_image_dataset, tmp_path
):
    with pytest.raises(CodecError) as caught:
        _compress(one_image_dataset, tmp_path / "out")  # on_mismatch: fail is the default
    message = str(caught.value)
    for part in ("image 'harbour'", "harbour.png", "cae quality=1", "a 40x24 image decodes 4 levels away", "device: cpu",
                 "on_mismatch: record"):  # fmt: skip
        assert part in message, part
    assert not (tmp_path / "out" / "rate.csv").exists()


def test_on_mismatch_record_keeps_the_row_and_warns(disagreeing_decoder, one_image_dataset, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        rates = _compress(one_image_dataset, tmp_path / "out", on_mismatch="record")
    assert rates.reconstruction_mismatch.tolist() == [4.0]
    assert pd.read_csv(tmp_path / "out" / "rate.csv").reconstruction_mismatch.tolist() == [4.0]
    assert "image harbour kept with reconstruction_mismatch 4.0" in caplog.text
    assert "a 40x24 image decodes 4 levels away" in caplog.text


def test_on_mismatch_is_checked_and_declared_for_every_learned_codec():
    with pytest.raises(ValueError, match="on_mismatch must be one of fail, record, got 'ignore'"):
        make_codec("cae", 1, {"pretrained": False, "on_mismatch": "ignore"})
    with pytest.raises(ValueError, match="'ssf2020': on_mismatch must be one of fail, record"):
        make_codec("ssf2020", 1, {"pretrained": False, "on_mismatch": True})
    for name in ("bmshj2018-hyperprior", "cae", "ssf2020"):
        assert make_codec(name, 1, {"pretrained": False}).options["on_mismatch"] == "fail"


def test_ssf2020_mismatch_fails_naming_the_frame_or_is_recorded(monkeypatch, caplog):
    monkeypatch.setattr(learned_video, "_MODELS", {})
    clip = [smooth_image(32, 48, seed=s) // 2 for s in range(2)]  # a key frame, then a predicted one
    options = {"pretrained": False, "device": "cpu"}
    failing, recording = (make_codec("ssf2020", 1, {**options, "on_mismatch": m}) for m in ("fail", "record"))
    model = failing.load_model()
    assert recording.load_model() is model  # one model, whose predicted frames decode 4 levels brighter
    inter = model.decode_inter
    monkeypatch.setattr(model, "decode_inter", lambda *args: (inter(*args) + 4 / 255).clamp(0, 1))

    data = failing.encode_sequence(clip, fps=25.0).data
    with pytest.raises(CodecError, match=r"frame 1 \(P frame\) of a 48x32 clip of 2 frames decodes 4 levels away"):
        failing.decode_sequence(data, (32, 48), 2)
    data = recording.encode_sequence(clip, fps=25.0).data
    with caplog.at_level(logging.WARNING, logger="codecbench.codecs.learned"):
        frames = recording.decode_sequence(data, (32, 48), 2)
    assert len(frames) == 2 and recording.last_encode_info["reconstruction_mismatch"] == 4.0
    assert "on_mismatch is record" in caplog.text


# -- ImageNet weights of the classifiers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet18_file() -> tuple[str, bytes, dict[str, torch.Tensor]]:
    """Stand-in ImageNet weights: a seeded random 1000-class resnet18 in float16 (half the bytes; loading converts),
    named as torchvision names its files, <model>-<sha256[:8]>.pth."""
    import torchvision

    torch.manual_seed(11)
    state = {k: v.half() if v.is_floating_point() else v for k, v in torchvision.models.resnet18().state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    content = buffer.getvalue()
    return f"resnet18-{hashlib.sha256(content).hexdigest()[:8]}.pth", content, state


@pytest.fixture(scope="module")
def server(resnet18_file):
    """127.0.0.1 serving the stand-in weights under any path."""
    _, content, _ = resnet18_file

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/models"
    httpd.shutdown()
    httpd.server_close()


def point_resnet18_at(monkeypatch, url: str) -> None:
    weights, _ = imagenet_weights_file("resnet18")
    monkeypatch.setattr(weights.value, "url", url)


def test_missing_imagenet_weights_are_downloaded_with_their_hash_checked(
    monkeypatch, server, resnet18_file, torch_home
):
    name, content, state = resnet18_file
    point_resnet18_at(monkeypatch, f"{server}/{name}")
    _, path = imagenet_weights_file("resnet18")
    assert path == torch_home / "hub" / "checkpoints" / name
    network, pretrained_used, how = _build_network("resnet18", 3, pretrained=True)
    assert pretrained_used and path.read_bytes() == content
    assert f"starts from ImageNet weights ({path})" in how and f"downloaded from {server}/{name}" in how
    torch.testing.assert_close(network.conv1.weight.data, state["conv1.weight"].float(), atol=0, rtol=0)
    assert network.fc.out_features == 3

    # The same bytes under a name whose hash prefix they do not have are refused and not cached.
    path.unlink()
    wrong = name.replace(name[9:17], "00000000")
    point_resnet18_at(monkeypatch, f"{server}/{wrong}")
    with pytest.raises(FileNotFoundError, match="sha256 [0-9a-f]{64} does not start with 00000000"):
        _build_network("resnet18", 3, pretrained=True)
    assert list(path.parent.iterdir()) == []


def test_offline_pretrained_training_fails_naming_the_file_and_scratch_needs_pretrained_false(
    monkeypatch, tmp_path, torch_home
):
    url = "http://127.0.0.1:9/models/resnet18-f37072fd.pth"  # nothing listens there
    point_resnet18_at(monkeypatch, url)
    expected = torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    images = [smooth_image(32, 32, seed=s) for s in range(4)]
    annotations = pd.DataFrame({"image_id": list("abcd"), "label": ["x", "y", "x", "y"]})
    settings = {"model": "resnet18", "epochs": 1, "batch_size": 4}
    with pytest.raises(FileNotFoundError) as caught:
        Classification(settings).train(images, annotations, tmp_path / "run", device="cpu", log=_quiet)
    message = str(caught.value)
    for part in (f"put it at {expected}", url, "resnet18", "pretrained: false"):
        assert part in message, part
    assert not (tmp_path / "run" / "checkpoint.pt").exists()

    lines: list[str] = []
    task = Classification({**settings, "pretrained": False})
    info = task.train(images, annotations, tmp_path / "scratch", device="cpu", log=lines.append)
    assert info["pretrained_used"] is False and "resnet18 trains from scratch (pretrained is false)" in lines
    assert not expected.exists()


# -- trained checkpoints: reproducible files, and orphaned jobs ----------------------------------------------------


TRAIN = {"steps": 4, "batch_size": 1, "crop_px": 32, "learning_rate": 1e-3, "checkpoint_every": 2}


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return [smooth_image(40, 48, seed=3), smooth_image(36, 36, seed=4)]


@pytest.fixture
def umask_022(monkeypatch):
    """Run under umask 022 (codecbench.io reads the umask once, at import)."""
    import codecbench.io

    previous = os.umask(0o022)
    monkeypatch.setattr(codecbench.io, "_UMASK", 0o022)
    yield
    os.umask(previous)


def _train(images, folder, seed=0, **hooks):
    return train_codec(
        images, "cae", 1, 0.01, folder / "model.pt", folder / "train.csv", seed=seed, log=hooks.pop("log", _quiet),
        **TRAIN, **hooks,
    )  # fmt: skip


class Interrupt(Exception):
    pass


def _interrupt_at(step_to_stop: int):
    def on_step(step, _row):
        if step == step_to_stop:
            raise Interrupt

    return on_step


def test_same_seed_trainings_write_byte_identical_0644_files(images, tmp_path, umask_022):
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        with pytest.raises(Interrupt):  # leaves the resumable state of step 2
            _train(images, folder, on_step=_interrupt_at(2))
    partials = [partial_path(folder / "model.pt") for folder in folders]
    assert partials[0].read_bytes() == partials[1].read_bytes()
    assert {oct(p.stat().st_mode & 0o777) for p in partials} == {"0o644"}
    for folder in folders:
        _train(images, folder)  # resumes, finishes
    checkpoints = [folder / "model.pt" for folder in folders]
    assert checkpoints[0].read_bytes() == checkpoints[1].read_bytes()
    assert {oct(p.stat().st_mode & 0o777) for p in checkpoints} == {"0o644"}


def test_ssf2020_checkpoints_are_byte_identical_0644_files_and_others_are_explained(tmp_path, umask_022):
    # What train_ssf saves at its end, for one seeded model twice (a real training step takes 20 s on 2 cores).
    model = build_ssf()
    training = {"seed": 0, "steps": 1}
    paths = [save_ssf_checkpoint(tmp_path / name / CHECKPOINT_NAME, model, 1, training) for name in ("a", "b")]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert {oct(path.stat().st_mode & 0o777) for path in paths} == {"0o644"}
    clip = [smooth_image(128, 128, seed=5)] * 3
    with pytest.raises(FileExistsError, match=r"a/checkpoint\.pth\.tar already exists and records another training"):
        train_ssf([clip], {"lambda": 0.01, "steps": 1, "patch_size": 128}, tmp_path / "a", device="cpu", log=_quiet)


@pytest.fixture(scope="module")
def finished(images, tmp_path_factory):
    """One finished training, as an orphaned job would leave it: checkpoint, curve and the returned record."""
    folder = tmp_path_factory.mktemp("orphan")
    return folder, _train(images, folder)


def test_a_checkpoint_of_another_training_is_explained_not_overwritten(images, finished):
    folder, _ = finished
    before = (folder / "model.pt").read_bytes(), (folder / "train.csv").read_bytes()
    with pytest.raises(FileExistsError) as caught:
        _train(images, folder, seed=5)
    message = str(caught.value)
    for part in (str(folder / "model.pt"), "records another training (its seed differ)", "another process",
                 "outlived its Snakemake", "kill -9", "Wait for that process to end or kill it",
                 f"delete {folder / 'model.pt'} and rerun"):  # fmt: skip
        assert part in message, part
    assert ((folder / "model.pt").read_bytes(), (folder / "train.csv").read_bytes()) == before


def test_the_same_training_finished_by_an_orphaned_job_is_kept(images, finished):
    folder, training = finished
    before = (folder / "model.pt").read_bytes(), (folder / "train.csv").read_bytes()
    lines: list[str] = []
    assert _train(images, folder, log=lines.append) == training
    assert ((folder / "model.pt").read_bytes(), (folder / "train.csv").read_bytes()) == before
    assert any("written by another process" in line and "kept as this job's result" in line for line in lines)


def test_the_same_training_finished_meanwhile_by_an_orphaned_job_does_not_fail_this_one(images, finished, tmp_path):
    orphan, training = finished
    last = TRAIN["steps"]

    def orphan_finishes(step, _row):  # just before this run saves, the orphan's checkpoint lands
        if step == last:
            shutil.copy(orphan / "model.pt", tmp_path / "model.pt")

    lines: list[str] = []
    assert _train(images, tmp_path, on_step=orphan_finishes, log=lines.append) == training
    assert (tmp_path / "model.pt").read_bytes() == (orphan / "model.pt").read_bytes()
    assert any("replaced by this run's equal result" in line for line in lines)
