"""Training a learned codec: the loss falls, runs repeat bit for bit, an interrupted run resumes exactly,
and no finished checkpoint is ever overwritten.

Small and short on purpose (2-image batches of 64 px crops, a few dozen steps) so the file runs in well under a
minute on two CPU cores; the runs are shared between tests through a module-scoped cache.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest
import torch

from codecbench.learned.models import load_checkpoint
from codecbench.learned.train import partial_path, train_codec

ARCH = "bmshj2018-factorized"
LMBDA = 0.0018
STEPS = 24
EVERY = 10  # checkpoint interval of the interrupted run
SETTINGS = {"steps": STEPS, "batch_size": 2, "crop_px": 64, "learning_rate": 1e-4}
# The small CAE learns too slowly at CompressAI's 1e-4 to show in 24 steps; the factorized model diverges at 1e-3.
LEARNING_RATE = {ARCH: 1e-4, "cae": 1e-3}


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    import skimage.data

    astronaut, coffee = skimage.data.astronaut(), skimage.data.coffee()
    # The last image is smaller than the crop on both sides: it must be padded, not crash the sampler.
    return [astronaut[:200, :200].copy(), coffee[100:250, :250].copy(), astronaut[300:340, 300:350].copy()]


@pytest.fixture(scope="module")
def trained(images, tmp_path_factory):
    """``trained(seed, arch)``: one finished run per (seed, architecture), trained once per module."""
    cache = {}

    def run(seed: int = 0, arch: str = ARCH):
        key = (seed, arch)
        if key not in cache:
            folder = tmp_path_factory.mktemp(f"{arch}-seed{seed}")
            settings = {**SETTINGS, "learning_rate": LEARNING_RATE[arch]}
            training = train_codec(
                images, arch, 1, LMBDA, folder / "model.pt", folder / "train.csv", seed=seed, log=_quiet, **settings
            )
            cache[key] = folder, training
        return cache[key]

    return run


def _state(folder) -> dict[str, torch.Tensor]:
    return torch.load(folder / "model.pt", map_location="cpu", weights_only=False)["state_dict"]


def _assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    differ = [name for name in a if not torch.equal(a[name], b[name])]
    assert not differ, f"tensors differ: {differ}"


@pytest.mark.parametrize("arch", [ARCH, "cae"])
@pytest.mark.parametrize("seed", [0, 1])
def test_training_lowers_the_loss(trained, seed, arch):
    folder, training = trained(seed, arch)
    log = pd.read_csv(folder / "train.csv")
    assert list(log.columns) == ["step", "loss", "bpp", "mse", "aux_loss"]
    assert log.step.tolist() == list(range(1, STEPS + 1))
    assert np.isfinite(log[["loss", "bpp", "mse", "aux_loss"]].to_numpy()).all()
    first, last = log.loss[:5].mean(), log.loss[-5:].mean()
    assert last < 0.8 * first, f"loss did not fall: first five steps {first:.3f}, last five {last:.3f}"
    assert training["final"] == pytest.approx(log.iloc[-1].to_dict())
    assert not partial_path(folder / "model.pt").exists()


def test_same_seed_repeats_bit_for_bit(trained, images, tmp_path):
    folder, training = trained(0)
    torch.manual_seed(987)  # the caller's random state must not leak into the run
    np.random.seed(987)
    again = train_codec(
        images, ARCH, 1, LMBDA, tmp_path / "model.pt", tmp_path / "train.csv", seed=0, log=_quiet, **SETTINGS
    )
    assert (tmp_path / "train.csv").read_bytes() == (folder / "train.csv").read_bytes()
    _assert_same_state(_state(tmp_path), _state(folder))
    assert again == training


def test_other_seed_gives_other_numbers(trained):
    (folder0, _), (folder1, _) = trained(0), trained(1)
    log0, log1 = pd.read_csv(folder0 / "train.csv"), pd.read_csv(folder1 / "train.csv")
    assert (log0.loss != log1.loss).all()
    state0, state1 = _state(folder0), _state(folder1)
    assert any(not torch.equal(state0[name], state1[name]) for name in state0)


def test_interrupted_run_resumes_exactly(trained, images, tmp_path):
    reference, reference_training = trained(0)
    out, csv = tmp_path / "model.pt", tmp_path / "train.csv"
    partial = partial_path(out)

    def interrupt(step, _row):
        if step == EVERY + 3:  # three steps past the checkpoint: those must be redone identically
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_codec(
            images, ARCH, 1, LMBDA, out, csv, seed=0, checkpoint_every=EVERY, log=_quiet, on_step=interrupt, **SETTINGS
        )
    assert partial.exists() and not out.exists()
    assert pd.read_csv(csv).step.tolist() == list(range(1, EVERY + 1))  # the log as of the checkpoint

    # A resumable state written with other settings is never silently continued.
    with pytest.raises(ValueError, match=re.escape(str(partial)) + ".*lmbda.*delete it"):
        train_codec(images, ARCH, 1, 2 * LMBDA, out, csv, seed=0, checkpoint_every=EVERY, log=_quiet, **SETTINGS)
    other_images = [*images[:2], np.ascontiguousarray(images[2][::-1])]  # same count and sizes, other pixels
    with pytest.raises(ValueError, match=re.escape(str(partial)) + ".*images_sha256"):
        train_codec(other_images, ARCH, 1, LMBDA, out, csv, seed=0, checkpoint_every=EVERY, log=_quiet, **SETTINGS)
    assert partial.exists() and not out.exists()

    lines: list[str] = []
    training = train_codec(
        images, ARCH, 1, LMBDA, out, csv, seed=0, checkpoint_every=EVERY, log=lines.append, **SETTINGS
    )
    assert any(f"resuming from {partial} at step {EVERY}" in line for line in lines)
    assert csv.read_bytes() == (reference / "train.csv").read_bytes()
    _assert_same_state(_state(tmp_path), _state(reference))
    assert training == reference_training
    assert not partial.exists()


def test_crops_are_seeded_flipped_and_padded(images):
    from codecbench.learned.train import _prepare_images, _sample_batch

    crops = _prepare_images(images, 64)
    assert crops[2].shape == (64, 64, 3)  # the 40x50 image, padded by reflection
    assert np.array_equal(crops[2][:40, :50], images[2]) and np.array_equal(crops[2][40:48, :50], images[2][38:30:-1])
    batch = _sample_batch(crops, np.random.default_rng(3), 64, 64)
    again = _sample_batch(crops, np.random.default_rng(3), 64, 64)
    assert batch.shape == (64, 3, 64, 64) and batch.dtype == torch.float32 and torch.equal(batch, again)
    assert 0 <= batch.min() and batch.max() <= 1
    flipped = 0
    for crop in (batch * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy():
        found = {
            (i, flip)
            for i, image in enumerate(crops)
            for flip in (False, True)
            if _contains(image, crop[:, ::-1] if flip else crop)
        }
        assert found, "a training crop that is not a crop of any image"
        flipped += all(flip for _, flip in found)
    assert 10 < flipped < 54  # about half the crops are mirrored


def _contains(image: np.ndarray, crop: np.ndarray) -> bool:
    size = crop.shape[0]
    candidates = np.argwhere((image[: image.shape[0] - size + 1, : image.shape[1] - size + 1] == crop[0, 0]).all(-1))
    return any(np.array_equal(image[top : top + size, left : left + size], crop) for top, left in candidates)


def test_aux_optimiser_trains_the_quantiles(trained):
    from codecbench.learned.models import build_model

    folder, _ = trained(0)
    initial = build_model(ARCH, 1).state_dict()["entropy_bottleneck.quantiles"]
    trained_quantiles = _state(folder)["entropy_bottleneck.quantiles"]
    assert not torch.equal(initial, trained_quantiles)
    log = pd.read_csv(folder / "train.csv")
    assert (log.aux_loss.diff()[1:] < 0).all()


def test_existing_checkpoint_is_never_overwritten(trained, images):
    folder, _ = trained(0)
    before = (folder / "model.pt").read_bytes(), (folder / "train.csv").read_bytes()
    with pytest.raises(FileExistsError, match="model.pt"):
        train_codec(images, ARCH, 1, LMBDA, folder / "model.pt", folder / "train.csv", seed=5, log=_quiet, **SETTINGS)
    assert ((folder / "model.pt").read_bytes(), (folder / "train.csv").read_bytes()) == before
    assert not partial_path(folder / "model.pt").exists()


@pytest.mark.parametrize("arch", [ARCH, "cae"])
def test_checkpoint_loads_and_codes(trained, images, arch):
    folder, training = trained(0, arch)
    model, payload = load_checkpoint(folder / "model.pt")
    assert payload["format"] == "codecbench-learned-codec/1"
    assert (payload["architecture"], payload["quality"], payload["metric"]) == (arch, 1, "mse")
    assert payload["training"] == training
    assert training["device"] == "cpu"
    assert (training["steps"], training["steps_done"], training["lmbda"]) == (STEPS, STEPS, LMBDA)
    assert training["batch_size"] == 2 and training["crop_px"] == 64 and training["seed"] == 0

    model = model.to("cpu").eval()
    model.update(force=True)
    x = torch.from_numpy(images[0][:64, :64].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        coded = model.compress(x)
        decoded = model.decompress(coded["strings"], coded["shape"])["x_hat"]
        expected = model(x)["x_hat"].clamp(0, 1)  # eval-mode forward quantises as the entropy coder does
    assert sum(len(s) for strings in coded["strings"] for s in strings) > 0
    assert decoded.shape == x.shape
    torch.testing.assert_close(decoded, expected, atol=1e-4, rtol=0)


def test_leaves_caller_state_alone_and_logs_device(images, tmp_path, caplog):
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        with caplog.at_level(logging.INFO, logger="codecbench.learned"):
            training = train_codec(images, ARCH, 1, LMBDA, tmp_path / "m.pt", tmp_path / "t.csv", steps=2, batch_size=1)
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
    assert training["device"] == "cpu"
    assert any(" on cpu " in record.getMessage() for record in caplog.records)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert len(pd.read_csv(tmp_path / "t.csv")) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metric": "ms-ssim"}, "crop.*161"),
        ({"metric": "psnr"}, "unknown metric"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"images": []}, "no training images"),
        ({"images": [np.zeros((80, 80, 3), np.float32)]}, "training image 0.*uint8"),
    ],
)
def test_rejects_bad_settings(images, tmp_path, change, message):
    kwargs = {**SETTINGS, "images": images, **change}
    with pytest.raises(ValueError, match=message):
        train_codec(
            architecture=ARCH,
            quality=1,
            lmbda=LMBDA,
            out_checkpoint=tmp_path / "m.pt",
            train_csv=tmp_path / "t.csv",
            **kwargs,
        )
    assert not any(tmp_path.iterdir())


ALL_ARCHITECTURES = [
    "bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor", "cheng2020-attn",
    "cae",
]  # fmt: skip


@pytest.mark.parametrize("arch", ALL_ARCHITECTURES)
def test_every_architecture_trains_and_its_checkpoint_codes(images, tmp_path, arch):
    # cheng2020's backward pass once crashed torch's CPU kernels on channels-last batches: train each for real.
    import codecbench.codecs.learned  # noqa: F401 (registers the learned codecs)
    from codecbench.codecs import make_codec

    training = train_codec(
        images, arch, 1, LMBDA, tmp_path / "model.pt", tmp_path / "train.csv", steps=2, batch_size=2, crop_px=64,
        log=_quiet,
    )  # fmt: skip
    assert training["steps_done"] == 2 and np.isfinite(pd.read_csv(tmp_path / "train.csv").loss).all()
    codec = make_codec(arch, 1, {"checkpoint": str(tmp_path / "model.pt")})
    decoded = codec.decode(codec.encode(images[1][:70, :90]))
    assert decoded.shape == (70, 90, 3) and codec.last_encode_info["reconstruction_mismatch"] == 0
