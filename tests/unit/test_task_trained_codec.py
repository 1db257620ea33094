"""Fine-tuning a learned codec for a task: ``train_codec(init_checkpoint=..., task=TaskLoss, gamma=...)``.

The loss is ``bpp + lambda * distortion + gamma * task_loss`` with the task loss a frozen digits classifier's
cross-entropy on the reconstruction. What must hold: the run starts from the init checkpoint's weights and refuses
another architecture's; it repeats bit for bit and resumes exactly, and its resume guard covers the init, the
classifier, gamma and the labels; the classifier never changes while the codec does, and gradients reach the codec
through it; gamma 0 is exactly a plain fine-tune from the same start on the same batches; and plain trainings keep
their random stream, settings and curve columns.

Small on purpose: 240 of sklearn's digits (32x32), a five-epoch small_cnn, the smallest compressive autoencoder
trained for 60 steps as the base and fine-tuned for a dozen steps of eight images, shared through module-scoped
fixtures (about 10 s on two CPU cores).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from codecbench.learned.models import build_model, load_checkpoint, save_checkpoint
from codecbench.learned.task_loss import TaskLoss
from codecbench.learned.train import _draw_batch, _prepare_images, _sample_batch, partial_path, train_codec

ARCH, QUALITY, LMBDA = "cae", 1, 0.01
N_IMAGES = 240
STEPS, EVERY = 12, 5
BASE_STEPS = 60
SETTINGS = {"steps": STEPS, "batch_size": 8, "crop_px": None, "learning_rate": 1e-3, "checkpoint_every": EVERY}
GAMMA = 2.0
PLAIN_COLUMNS = ["step", "loss", "bpp", "mse", "aux_loss"]


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def digits() -> tuple[list[np.ndarray], list[str]]:
    from codecbench.datasets.builtin import digits as builtin_digits

    records = [record for record, _ in zip(builtin_digits(), range(N_IMAGES), strict=False)]
    return [r.image for r in records], [r.label for r in records]


def _train_classifier(images, labels, folder, seed=0, epochs=5):
    from codecbench.tasks.classification import Classification

    annotations = pd.DataFrame({"image_id": [f"d{i}" for i in range(len(images))], "label": labels})
    settings = {"epochs": epochs, "batch_size": 16, "seed": seed}
    Classification(settings).train(images, annotations, folder, log=_quiet)
    return folder / "checkpoint.pt"


@pytest.fixture(scope="module")
def classifier(digits, tmp_path_factory):
    return _train_classifier(*digits, tmp_path_factory.mktemp("classifier"))


@pytest.fixture(scope="module")
def base(digits, tmp_path_factory):
    """The MSE-trained codec every fine-tune starts from."""
    folder = tmp_path_factory.mktemp("base")
    settings = {**SETTINGS, "steps": BASE_STEPS}
    train_codec(digits[0], ARCH, QUALITY, LMBDA, folder / "model.pt", folder / "train.csv", log=_quiet, **settings)
    return folder / "model.pt"


@pytest.fixture(scope="module")
def fine_tuned(digits, classifier, base, tmp_path_factory):
    """``fine_tuned(gamma)``: one finished task run per gamma from ``base``, and its TaskLoss (trained once)."""
    cache = {}

    def run(gamma: float = GAMMA):
        if gamma not in cache:
            folder = tmp_path_factory.mktemp(f"gamma{gamma}")
            task = TaskLoss.from_classification(classifier)
            training = _fine_tune(digits, folder, base, task, gamma)
            cache[gamma] = folder, training, task
        return cache[gamma]

    return run


def _fine_tune(digits, folder, init, task, gamma, **overrides):
    images, labels = digits
    kwargs = {**SETTINGS, "log": _quiet, **overrides}
    return train_codec(
        images, ARCH, QUALITY, LMBDA, folder / "model.pt", folder / "train.csv", init_checkpoint=init, task=task,
        gamma=gamma, labels=labels, **kwargs,
    )  # fmt: skip


def _state(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _differing(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    assert a.keys() == b.keys()
    return [name for name in a if not torch.equal(a[name], b[name])]


def _batch(images, n=16) -> torch.Tensor:
    return torch.from_numpy(np.stack(images[:n])).permute(0, 3, 1, 2).contiguous().float() / 255


def test_task_run_repeats_bit_for_bit_and_records_its_settings(fine_tuned, digits, classifier, base, tmp_path):
    folder, training, _ = fine_tuned()
    log = pd.read_csv(folder / "train.csv")
    assert list(log.columns) == [*PLAIN_COLUMNS, "task_loss"]
    assert log.step.tolist() == list(range(1, STEPS + 1))
    assert np.isfinite(log.to_numpy()).all() and (log.task_loss > 0).all()
    # The logged loss is the sum the brief names: bpp + lambda * 255^2 * MSE + gamma * task loss.
    expected = log.bpp + LMBDA * 255**2 * log.mse + GAMMA * log.task_loss
    np.testing.assert_allclose(log.loss, expected, rtol=1e-5)

    from codecbench.io import file_digest
    from codecbench.learned.task_loss import labels_digest

    assert training["gamma"] == GAMMA and training["task"] == "classification"
    assert training["task_checkpoint_sha256"] == file_digest(classifier)
    assert training["init_checkpoint_sha256"] == file_digest(base)
    assert training["labels_sha256"] == labels_digest(digits[1])
    assert training["crop_px"] is None and training["hflip"] is False

    torch.manual_seed(5)  # the caller's random state must not leak into the run
    again = _fine_tune(digits, tmp_path, base, TaskLoss.from_classification(classifier), GAMMA)
    assert (tmp_path / "train.csv").read_bytes() == (folder / "train.csv").read_bytes()
    assert (tmp_path / "model.pt").read_bytes() == (folder / "model.pt").read_bytes()
    assert again == training


def test_interrupted_task_run_resumes_exactly_and_guards_its_settings(fine_tuned, digits, classifier, base, tmp_path):
    reference, reference_training, _ = fine_tuned()
    out = tmp_path / "model.pt"
    partial = partial_path(out)

    def interrupt(step, _row):
        if step == EVERY + 2:  # two steps past the checkpoint: they must be redone identically
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fine_tune(digits, tmp_path, base, TaskLoss.from_classification(classifier), GAMMA, on_step=interrupt)
    assert partial.exists() and not out.exists()

    # Another frozen model, another start, another gamma or other labels is another training: never continued.
    other_classifier = _train_classifier(*digits, tmp_path / "other", seed=1, epochs=1)
    other_init = save_checkpoint(tmp_path / "untrained.pt", build_model(ARCH, QUALITY), ARCH, QUALITY, "mse", {})
    relabelled = (digits[0], [*digits[1][1:], digits[1][0]])
    for change, digits_used, init, gamma, task_file in [
        ("task_checkpoint_sha256", digits, base, GAMMA, other_classifier),
        ("init_checkpoint_sha256", digits, other_init, GAMMA, classifier),
        ("gamma", digits, base, 2 * GAMMA, classifier),
        ("labels_sha256", relabelled, base, GAMMA, classifier),
    ]:
        with pytest.raises(ValueError, match=re.escape(str(partial)) + f".*{change}.*delete it"):
            _fine_tune(digits_used, tmp_path, init, TaskLoss.from_classification(task_file), gamma)
    assert partial.exists() and not out.exists()

    lines: list[str] = []
    training = _fine_tune(digits, tmp_path, base, TaskLoss.from_classification(classifier), GAMMA, log=lines.append)
    assert any(f"resuming from {partial} at step {EVERY}" in line for line in lines)
    assert (tmp_path / "train.csv").read_bytes() == (reference / "train.csv").read_bytes()
    assert out.read_bytes() == (reference / "model.pt").read_bytes()
    assert training == reference_training and not partial.exists()

    # A finished checkpoint is this training's result only for the same classifier and gamma; never overwritten.
    assert _fine_tune(digits, tmp_path, base, TaskLoss.from_classification(classifier), GAMMA) == training
    with pytest.raises(FileExistsError, match="its task_checkpoint_sha256 differ"):
        _fine_tune(digits, tmp_path, base, TaskLoss.from_classification(other_classifier), GAMMA)
    with pytest.raises(FileExistsError, match="its gamma differ"):
        _fine_tune(digits, tmp_path, base, TaskLoss.from_classification(classifier), 0.0)
    assert out.read_bytes() == (reference / "model.pt").read_bytes()


def test_init_checkpoint_is_where_the_weights_start(digits, base, tmp_path):
    images, _ = digits
    # At learning rates 0 the run's weights stay the ones it started with: exactly the init checkpoint's.
    train_codec(
        images, ARCH, QUALITY, LMBDA, tmp_path / "still.pt", tmp_path / "still.csv", steps=1, batch_size=8,
        crop_px=None, learning_rate=0.0, aux_learning_rate=0.0, init_checkpoint=base, log=_quiet,
    )  # fmt: skip
    assert _differing(_state(tmp_path / "still.pt"), _state(base)) == []
    (still, _), (init, _) = load_checkpoint(tmp_path / "still.pt"), load_checkpoint(base)
    x = _batch(images)
    with torch.no_grad():
        torch.testing.assert_close(still(x)["x_hat"], init(x)["x_hat"], rtol=0, atol=0)
        coded = still.compress(x[:1])
        assert coded["strings"] == init.compress(x[:1])["strings"]

    # The first step's loss is measured on the starting weights: from the trained base it is far below a fresh
    # model's, on the very same batch (same seed, same sampler).
    plain = {**SETTINGS, "steps": 1, "log": _quiet}
    train_codec(images, ARCH, QUALITY, LMBDA, tmp_path / "a.pt", tmp_path / "a.csv", init_checkpoint=base, **plain)
    train_codec(images, ARCH, QUALITY, LMBDA, tmp_path / "b.pt", tmp_path / "b.csv", **plain)
    from_base, from_scratch = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert from_base.mse[0] < 0.5 * from_scratch.mse[0]


@pytest.mark.parametrize(
    ("architecture", "quality", "message"),
    [
        ("bmshj2018-factorized", 1, "holds a cae quality 1 model, but this training is bmshj2018-factorized quality 1"),
        ("cae", 2, "holds a cae quality 1 model, but this training is cae quality 2"),
    ],
)
def test_init_checkpoint_of_another_model_is_refused(digits, base, tmp_path, architecture, quality, message):
    with pytest.raises(ValueError, match=re.escape(f"init_checkpoint {base} {message}")):
        train_codec(
            digits[0], architecture, quality, LMBDA, tmp_path / "m.pt", tmp_path / "t.csv", init_checkpoint=base,
            **SETTINGS,
        )  # fmt: skip
    assert not any(tmp_path.iterdir())


def test_init_checkpoint_that_is_no_codec_is_refused(digits, classifier, tmp_path):
    with pytest.raises(
        ValueError, match=re.escape(f"init_checkpoint {classifier} is not a codecbench-learned-codec/1")
    ):
        train_codec(
            digits[0], ARCH, QUALITY, LMBDA, tmp_path / "m.pt", tmp_path / "t.csv", init_checkpoint=classifier,
            **SETTINGS,
        )  # fmt: skip
    assert not any(tmp_path.iterdir())


def test_gamma_zero_is_exactly_a_plain_fine_tune(fine_tuned, digits, base, tmp_path):
    control, control_training, _ = fine_tuned(0.0)
    images, _ = digits
    plain = train_codec(
        images, ARCH, QUALITY, LMBDA, tmp_path / "model.pt", tmp_path / "train.csv", init_checkpoint=base,
        log=_quiet, **SETTINGS,
    )  # fmt: skip
    assert _differing(_state(control / "model.pt"), _state(tmp_path / "model.pt")) == []
    control_log, plain_log = pd.read_csv(control / "train.csv"), pd.read_csv(tmp_path / "train.csv")
    assert list(plain_log.columns) == PLAIN_COLUMNS
    pd.testing.assert_frame_equal(control_log[PLAIN_COLUMNS], plain_log, check_exact=True)
    assert (control_log.task_loss > 0).all()  # computed and logged, but weighted 0
    assert "gamma" not in plain and control_training["gamma"] == 0.0

    # The task loss does act: with gamma > 0 the weights differ, and on the decoded training images (eval mode,
    # quantised as the coder does) the classifier's loss is clearly lower than after the control (1.25 vs 1.33).
    task_run, _, task = fine_tuned(GAMMA)
    assert len(_differing(_state(control / "model.pt"), _state(task_run / "model.pt"))) > 0
    x, targets = _batch(images, N_IMAGES), task.targets(digits[1])
    with torch.no_grad():
        control_loss, task_loss = (
            float(task(load_checkpoint(run / "model.pt")[0](x)["x_hat"], targets)) for run in (control, task_run)
        )
    assert task_loss < 0.97 * control_loss


def test_frozen_classifier_is_untouched_while_the_codec_learns(fine_tuned, classifier, base, digits):
    folder, _, task = fine_tuned()
    fresh = TaskLoss.from_classification(classifier)
    assert _differing(task.network.state_dict(), fresh.network.state_dict()) == []
    assert not task.network.training
    assert all(not p.requires_grad and p.grad is None for p in task.network.parameters())
    changed = _differing(_state(folder / "model.pt"), _state(base))
    assert any(name.startswith("g_a.") for name in changed) and any(name.startswith("g_s.") for name in changed)

    # Gradients flow through the frozen network into its input, never into its weights.
    images, labels = digits
    x_hat = _batch(images).requires_grad_(True)
    task(x_hat, task.targets(labels[:16])).backward()
    assert x_hat.grad is not None and x_hat.grad.abs().sum() > 0
    assert all(p.grad is None for p in task.network.parameters())


def test_frozen_network_sees_what_predict_sees(digits, classifier):
    from codecbench.tasks.classification import Classification

    images = digits[0][:20]
    # Also at another size: predict resizes to image_px, and the input map must resize the same way.
    enlarged = [np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)[:40, :44] for image in images]
    task = Classification({"batch_size": 64})
    task.load(classifier, device="cpu")
    network, to_input = task.frozen_network()
    for batch in (images, enlarged):
        predicted = task.predict(batch, [str(i) for i in range(len(batch))])
        with torch.no_grad():
            probabilities = torch.softmax(network(to_input(_batch(batch, len(batch)))), dim=1)
        best, index = probabilities.max(dim=1)
        assert predicted.predicted.tolist() == [task.classes[i] for i in index.tolist()]
        np.testing.assert_allclose(predicted.confidence, best.numpy(), rtol=1e-6)
    assert all(p.requires_grad for p in task._network.parameters())  # the task's own network is not frozen


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gamma": None}, "needs its weight gamma"),
        ({"gamma": -1.0}, "needs its weight gamma"),
        ({"gamma": float("nan")}, "needs its weight gamma"),
        ({"labels": ["0"] * 3}, "one label per training image: 240 images, 3 labels"),
        ({"labels": ["0"] * (N_IMAGES - 1) + ["X"]}, r"labels \['X'\] are not among the task model's classes"),
        ({"crop_px": 32}, "whole labelled images, not crops.*crop_px=None"),
        ({"task": None}, "gamma is given but no task"),
        ({"task": None, "gamma": None}, "labels is given but no task"),
    ],
)
def test_rejects_bad_task_settings(digits, classifier, base, tmp_path, change, message):
    kwargs = {**SETTINGS, "task": TaskLoss.from_classification(classifier), "gamma": 1.0, "labels": digits[1], **change}
    with pytest.raises(ValueError, match=message):
        train_codec(
            digits[0], ARCH, QUALITY, LMBDA, tmp_path / "m.pt", tmp_path / "t.csv", init_checkpoint=base, **kwargs
        )
    assert not any(tmp_path.iterdir())


def test_whole_image_batches_need_one_size(digits, tmp_path):
    images = [*digits[0][:3], np.zeros((40, 32, 3), np.uint8)]
    with pytest.raises(ValueError, match="image 0 is 32x32, image 3 is 40x32"):
        train_codec(images, ARCH, QUALITY, LMBDA, tmp_path / "m.pt", tmp_path / "t.csv", **SETTINGS)


def test_whole_image_sampler_returns_which_images_it_drew(digits):
    images = _prepare_images(digits[0], None)
    batch, drawn = _draw_batch(images, np.random.default_rng(4), 64, None, hflip=False)
    assert batch.shape == (64, 3, 32, 32) and drawn.shape == (64,) and len(set(drawn.tolist())) > 40
    as_uint8 = (batch * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert all(np.array_equal(sample, images[i]) for sample, i in zip(as_uint8, drawn, strict=True))

    flipped, drawn_flipping = _draw_batch(images, np.random.default_rng(4), 64, None, hflip=True)
    assert np.array_equal(drawn_flipping, drawn)  # flips are drawn after the images: the same images
    as_uint8 = (flipped * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    mirrored = [not np.array_equal(s, images[i]) for s, i in zip(as_uint8, drawn, strict=True)]
    assert all(np.array_equal(s, images[i][:, ::-1]) for s, i, m in zip(as_uint8, drawn, mirrored, strict=True) if m)
    assert 15 < sum(mirrored) < 49


def test_plain_crop_sampling_keeps_its_random_stream(digits):
    """Trainings without a task draw exactly what they always drew: the loop as it was before task losses."""
    crops = _prepare_images(digits[0][:10], 24)

    def legacy(rng, batch_size, crop_px):
        batch = np.empty((batch_size, crop_px, crop_px, 3), dtype=np.uint8)
        for i in range(batch_size):
            image = crops[int(rng.integers(len(crops)))]
            top = int(rng.integers(image.shape[0] - crop_px + 1))
            left = int(rng.integers(image.shape[1] - crop_px + 1))
            crop = image[top : top + crop_px, left : left + crop_px]
            batch[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
        return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().float().div_(255.0)

    ours, theirs = np.random.default_rng(9), np.random.default_rng(9)
    for _ in range(3):
        assert torch.equal(_sample_batch(crops, ours, 16, 24), legacy(theirs, 16, 24))
    assert ours.bit_generator.state == theirs.bit_generator.state


def test_plain_training_keeps_its_settings_and_columns(digits, tmp_path):
    training = train_codec(
        digits[0][:20], ARCH, QUALITY, LMBDA, tmp_path / "m.pt", tmp_path / "t.csv", steps=1, batch_size=2,
        crop_px=32, log=_quiet,
    )  # fmt: skip
    assert set(training) == {
        "architecture", "quality", "metric", "lmbda", "steps", "batch_size", "crop_px", "learning_rate",
        "aux_learning_rate", "clip_max_norm", "seed", "num_images", "images_sha256", "device", "steps_done", "final",
    }  # fmt: skip
    assert list(pd.read_csv(tmp_path / "t.csv").columns) == PLAIN_COLUMNS
