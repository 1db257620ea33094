"""A codec trained for a task, as a config declares it: it starts from another learned codec's models, its frozen
task model and base model are part of what names its models, and a wrong combination is refused by name."""

from __future__ import annotations

import copy

import pytest
import yaml

from codecbench.config.plan import training_settings, variant_comparisons
from codecbench.config.validate import ConfigError, validate_config


@pytest.fixture(scope="module")
def default_config(project):
    return yaml.safe_load((project / "config.yaml").read_text())


def test_the_default_task_trained_codec_starts_from_its_base_and_names_its_task(default_config):
    cfg = validate_config(default_config)
    settings = training_settings(cfg, "digits_task", 2)
    assert settings["lambda"] == 0.0002 and settings["crop_px"] is None and settings["steps"] == 150
    assert settings["init_from"] == training_settings(cfg, "digits_mse", 2)
    assert settings["task_loss"]["gamma"] == 1.0
    assert settings["task_loss"]["task"]["task"] == "classification"
    assert settings["task_loss"]["task"]["settings"]["seed"] == 0
    assert "task_loss" not in training_settings(cfg, "digits_mse_control", 2)
    assert variant_comparisons(cfg, "digits") == {"digits_task": "digits_mse_control"}
    # A plain trained codec's settings (its models' folder names) are what they were before these keys existed.
    assert set(training_settings(cfg, "cae_small", 1)) == {
        "architecture", "quality", "metric", "dataset", "steps", "batch_size", "crop_px", "learning_rate", "seed",
        "lambda",
    }  # fmt: skip


def test_changing_the_base_or_the_task_model_changes_the_fine_tuned_models_settings(default_config):
    base = training_settings(validate_config(default_config), "digits_task", 1)
    cfg = copy.deepcopy(default_config)
    cfg["learned"]["digits_mse"]["steps"] = 400
    assert training_settings(validate_config(cfg), "digits_task", 1)["init_from"]["steps"] == 400
    cfg = copy.deepcopy(default_config)
    cfg["tasks"]["digits_cnn"]["epochs"] = 3
    changed = training_settings(validate_config(cfg), "digits_task", 1)
    assert changed["task_loss"] != base["task_loss"] and changed["init_from"] == base["init_from"]


def test_wrong_fine_tuning_settings_are_refused_by_name(default_config):
    cfg = copy.deepcopy(default_config)
    task = cfg["learned"]["digits_task"]
    task["quality"] = 2
    task["crop_px"] = 32
    task["task_loss"] = {"task": "shapes_yolo", "gamma": 1.0}
    cfg["learned"]["orphan"] = {
        "architecture": "cae", "dataset": "digits", "lambdas": [0.001], "crop_px": None, "datasets": ["digits"],
        "task_loss": {"task": "digits_cnn", "gamma": 0.5}, "compare_to": "nowhere",
    }  # fmt: skip
    cfg["learned"]["chained"] = {**copy.deepcopy(cfg["learned"]["digits_mse_control"]), "init_from": "digits_task"}
    cfg["learned"]["short"] = {**copy.deepcopy(cfg["learned"]["digits_mse_control"]), "lambdas": [0.001]}
    with pytest.raises(ConfigError) as error:
        validate_config(cfg)
    text = str(error.value)
    assert "learned.digits_task.init_from: digits_mse has quality 1, this codec 2" in text
    assert "learned.digits_task.task_loss.task: 'shapes_yolo' is a detection task" in text
    assert "learned.digits_task.crop_px: a task loss scores whole labelled images; set crop_px: null" in text
    assert "learned.orphan.init_from: a task-trained codec starts from the MSE-trained model of the same codec" in text
    assert "learned.orphan.compare_to: 'nowhere' is not a declared codec" in text
    assert "learned.chained.init_from: digits_task starts from another codec itself; start from its base" in text
    assert "learned.short.init_from: digits_mse has 3 lambdas, this codec 1" in text
