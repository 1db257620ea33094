"""The complexity table of a run: coding seconds per megapixel per ladder point, parameters and kMAC/px of every
network. Expected times are worked out by hand from the rows; expected MACs from the layers' shapes."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from codecbench.stages.complexity import COMPLEXITY_COLUMNS, complexity_table, write_complexity

pytestmark = pytest.mark.usefixtures("torch_home")

JPEG = {"codec": "jpeg", "options": {}}
CAE_TRAINED = {"codec": "cae", "options": {}, "model_quality": 1}  # a codec trained in the pipeline, 3 lambdas


def rate_row(codec, quality, image_id, width, height, encode_s, decode_s, dataset="photos"):
    return dict(
        dataset=dataset, codec=codec, quality=quality, image_id=image_id, width=width, height=height, bpp=1.0,
        encode_s=encode_s, decode_s=decode_s,
    )  # fmt: skip


@pytest.fixture
def quality_table():
    return pd.DataFrame(
        [
            rate_row("jpeg", "10", "a", 1000, 1000, 0.10, 0.02),
            rate_row("jpeg", "10", "b", 500, 500, 0.05, 0.03),
            rate_row("jpeg", "90", "a", 1000, 1000, 0.30, 0.04),
            rate_row("jpeg", "target_0.5", "a", 1000, 1000, 9.0, 9.0),  # an equal-rate point: left out
            rate_row("cae_small", "1", "a", 1000, 1000, 2.0, 1.0),
            rate_row("cae_small", "2", "a", 1000, 1000, 4.0, 3.0),
        ]
    )


def small_cnn_checkpoint(path):
    from codecbench.tasks.classification import CHECKPOINT_FORMAT, _build_network

    network, _, _ = _build_network("small_cnn", 10, False)
    payload = {
        "format": CHECKPOINT_FORMAT, "model": "small_cnn", "classes": [str(i) for i in range(10)],
        "state_dict": network.state_dict(), "image_px": 32,
    }  # fmt: skip
    torch.save(payload, path)
    return path


def classification_settings():
    from codecbench.tasks import get_task_class

    return {"task": "classification", "settings": get_task_class("classification").default_settings}


def test_codec_points_carry_their_seconds_per_megapixel_and_learned_codecs_their_model(quality_table):
    table = complexity_table(quality_table, {"jpeg": JPEG, "cae_small": CAE_TRAINED}, {})
    assert list(table.columns) == COMPLEXITY_COLUMNS
    assert list(zip(table.name, table.quality.astype(str), strict=True)) == [
        ("jpeg", "10"), ("jpeg", "90"), ("cae_small", "1"), ("cae_small", "2"),
    ]  # fmt: skip
    jpeg10, jpeg90, cae1, cae2 = (table.iloc[i] for i in range(4))
    assert jpeg10.encode_s_per_mp == pytest.approx(0.15 / 1.25)  # total seconds over total megapixels
    assert jpeg10.decode_s_per_mp == pytest.approx(0.05 / 1.25)
    assert (jpeg10.n_images, jpeg10.megapixels) == (2, pytest.approx(1.25))
    assert jpeg90.encode_s_per_mp == pytest.approx(0.30)
    assert all(math.isnan(row[key]) for row in (jpeg10, jpeg90) for key in ("params", "kmacs_per_pixel"))
    assert jpeg10.input_px == "" and jpeg10.kind == "codec" and jpeg10.model == "jpeg"
    # Both trained models are the CAE at model size 1: one architecture, counted once, whatever their lambda.
    assert cae1.params == cae2.params > 0
    assert cae1.kmacs_per_pixel == cae2.kmacs_per_pixel
    assert 0 < cae1.encoder_kmacs_per_pixel < cae1.kmacs_per_pixel
    assert cae1.input_px == "256x256" and cae1.model == "cae"
    assert cae2.encode_s_per_mp == pytest.approx(4.0)


def test_a_task_model_is_counted_as_evaluated_and_a_task_without_a_network_has_no_counts(tmp_path, quality_table):
    from codecbench.tasks import get_task_class

    checkpoint = small_cnn_checkpoint(tmp_path / "checkpoint.pt")
    edges = {"task": "edges", "settings": get_task_class("edges").default_settings}
    tasks = {
        "digits_cnn": {"settings": classification_settings(), "checkpoint": str(checkpoint), "dataset": "digits"},
        "moving_edges": {"settings": edges, "checkpoint": None, "dataset": "moving"},
    }
    table = complexity_table(quality_table, {"jpeg": JPEG, "cae_small": CAE_TRAINED}, tasks)
    models = table[table.kind == "task_model"].set_index("name")
    assert list(models.index) == ["digits_cnn", "moving_edges"]
    cnn = models.loc["digits_cnn"]
    # 3x3 convolutions without bias 3->32 at 32x32, 32->64 at 16x16, 64->128 at 8x8, each with a batch norm (a
    # weight and a bias per channel), then a 128->10 linear head.
    macs = 32 * 32 * 32 * 27 + 16 * 16 * 64 * 32 * 9 + 8 * 8 * 128 * 64 * 9 + 128 * 10
    assert cnn.kmacs_per_pixel == pytest.approx(macs / (32 * 32) / 1000)
    assert cnn.params == 3 * 32 * 9 + 2 * 32 + 32 * 64 * 9 + 2 * 64 + 64 * 128 * 9 + 2 * 128 + 128 * 10 + 10
    assert (cnn.input_px, cnn.dataset) == ("32x32", "digits")
    assert cnn.model.startswith("classification ")
    assert math.isnan(models.loc["moving_edges", "params"]) and models.loc["moving_edges", "model"] == "edges"


def test_a_codec_the_config_does_not_declare_is_named(quality_table):
    with pytest.raises(ValueError, match="codec.s. cae_small that the config does not declare"):
        complexity_table(quality_table, {"jpeg": JPEG}, {})


def test_the_table_and_figure_are_written(tmp_path, quality_table):
    quality_table.to_csv(tmp_path / "quality.csv", index=False)
    out = tmp_path / "complexity.csv"
    write_complexity(
        tmp_path / "quality.csv", {"jpeg": JPEG, "cae_small": CAE_TRAINED}, {}, out, tmp_path / "c.png",
        tmp_path / "c.svg",
    )  # fmt: skip
    written = pd.read_csv(out)
    assert list(written.columns) == COMPLEXITY_COLUMNS and len(written) == 4
    assert (tmp_path / "c.png").stat().st_size > 5000 and (tmp_path / "c.svg").read_text().startswith("<?xml")
