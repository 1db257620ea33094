"""A task model that fails on a point names the task, model, dataset, point and the image that fails alone."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from codecbench.config.plan import UNCOMPRESSED
from codecbench.datasets import prepare_dataset
from codecbench.stages import tasks as task_stage


class FailsOnOneImage:
    """A stand-in task whose model cannot read the image 'bad' (as a library would raise on an odd input)."""

    reference_from_uncompressed = False
    device = "cpu"

    def __init__(self, settings):
        pass

    def load(self, checkpoint, device="auto"):
        pass

    def predict(self, images, image_ids):
        if "bad" in image_ids:
            raise RuntimeError("shape '[1, 3, 32, 32]' is invalid for input of size 12")
        return list(image_ids)


def test_a_failing_model_names_task_dataset_point_and_image(tmp_path, monkeypatch):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("fine", "bad", "other"):
        Image.fromarray(np.full((8, 8, 3), 99, np.uint8)).save(folder / f"{name}.png")
    prepare_dataset("mine", {"source": "local", "path": str(folder)}, tmp_path / "prepared", tmp_path / "downloads")
    monkeypatch.setattr(task_stage, "get_task_class", lambda name: FailsOnOneImage)
    with pytest.raises(task_stage.TaskError) as error:
        task_stage.evaluate_task_model(
            {"task": "classification", "settings": {}},
            tmp_path / "prepared" / "manifest.csv",
            None,
            [(UNCOMPRESSED, 0, None)],
            {"task": "digits", "train_variant": "original"},
            tmp_path / "predictions.csv",
        )
    message = str(error.value)
    assert message.startswith(
        "task classification (task digits, train_variant original) on dataset 'prepared', codec 'uncompressed' "
        "quality 0, image 'bad' ("
    )
    assert message.endswith("RuntimeError: shape '[1, 3, 32, 32]' is invalid for input of size 12")
    assert isinstance(error.value.__cause__, RuntimeError)
    assert not (tmp_path / "predictions.csv").exists()


def test_a_task_checkpoint_already_there_is_explained(tmp_path):
    """Snakemake deletes a job's outputs first, so a checkpoint already there was written by another process (an
    orphaned job of an earlier run): the error says so and what to do, for classifiers and detectors alike."""
    from codecbench.tasks.classification import Classification
    from codecbench.tasks.detection import Detection

    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"an orphan's model")
    for task in (Classification({"model": "small_cnn"}), Detection({"model": "yolov8n.yaml"})):
        with pytest.raises(FileExistsError) as error:
            task.train([], None, tmp_path)
        message = str(error.value)
        assert message.startswith(f"{checkpoint} already exists and would be overwritten. This training did not")
        assert ".snakemake/scripts/tmp*.train_task.py" in message and f"then delete {checkpoint} and rerun" in message
    assert checkpoint.read_bytes() == b"an orphan's model"
