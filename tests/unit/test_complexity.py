"""Complexity of codecs and task models: parameters and kMAC/px from torch's FLOP counter, coding seconds per MP.

Every expected count is worked out here from the layers' shapes (or read from the library's published metadata,
or from another counter), never from the functions under test. Learned codecs use seeded random weights
(``pretrained: false``): the counts do not depend on the weights, and nothing is downloaded.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torch.nn as nn

from codecbench.codecs import CODECS
from codecbench.stats.complexity import (
    TIME_COLUMNS,
    codec_complexity,
    coding_times_per_megapixel,
    count_macs,
    task_model_complexity,
)

pytestmark = pytest.mark.usefixtures("torch_home")  # an empty torch.hub cache of the test's own (conftest.py)

SIDE = 256
PIXELS = SIDE * SIDE


@pytest.fixture(autouse=True)
def learned_registry():
    """The learned codecs registered for each test (other test modules may have changed the registry)."""
    before = dict(CODECS)
    import codecbench.codecs.learned as learned

    for cls in learned.LEARNED_CODECS:
        CODECS.setdefault(cls.name, cls)
    yield
    CODECS.clear()
    CODECS.update(before)


def conv_macs_by_hooks(module: nn.Module, inputs: torch.Tensor | list[torch.Tensor]) -> dict[str, float]:
    """MACs of every nn.Conv2d / nn.ConvTranspose2d in ``module`` on ``inputs``, keyed by module name, from the
    shapes forward hooks see: a convolution's output element costs in_channels/groups x kernel area; a transposed
    convolution's input element is spread over out_channels/groups x kernel area outputs. A layer run more than
    once adds up."""
    macs: dict[str, float] = {}
    handles = []
    for name, layer in module.named_modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):

            def hook(layer, args, output, name=name):
                kernel_area = layer.kernel_size[0] * layer.kernel_size[1]
                if isinstance(layer, nn.ConvTranspose2d):
                    cost = args[0].numel() * layer.out_channels / layer.groups * kernel_area
                else:
                    cost = output.numel() * layer.in_channels / layer.groups * kernel_area
                macs[name] = macs.get(name, 0.0) + cost

            handles.append(layer.register_forward_hook(hook))
    try:
        with torch.no_grad():
            module(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return macs


def macs_under(macs: dict[str, float], prefix: str) -> float:
    return sum(value for name, value in macs.items() if name.startswith(prefix + "."))


# -- count_macs ------------------------------------------------------------------------------------------------


def test_a_convolution_costs_its_output_elements_times_its_kernel_volume():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    result = count_macs(conv, torch.rand(1, 3, 16, 16))
    assert result["macs"] == 16 * 16 * 8 * 3 * 3 * 3
    assert result["params"] == 8 * 3 * 3 * 3
    assert result["macs_per_pixel"] == 8 * 27
    assert result["kmacs_per_pixel"] == pytest.approx(8 * 27 / 1000)
    assert isinstance(result["params"], int)


def test_a_custom_forward_runs_a_linear_layer_and_pixels_are_batch_times_height_times_width():
    linear = nn.Linear(10, 4)
    single = count_macs(linear, torch.rand(1, 10, 1, 1), forward=lambda module, x: module(x.flatten(1)))
    assert single["macs"] == 10 * 4  # the bias's additions are not multiply-accumulates
    assert single["params"] == 10 * 4 + 4
    batch = count_macs(linear, torch.rand(5, 10, 1, 1), forward=lambda module, x: module(x.flatten(1)))
    assert batch["macs"] == 5 * 10 * 4
    assert batch["macs_per_pixel"] == 10 * 4
    wide = count_macs(nn.Conv2d(3, 2, 1, bias=False), torch.rand(2, 3, 4, 6))
    assert wide["macs_per_pixel"] == 2 * 3  # 2 x 4 x 6 pixels, each 2 x 3 MACs


def test_activations_are_not_counted_so_a_small_network_costs_its_convolutions():
    network = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3, padding=1, stride=2),
    )
    result = count_macs(network, torch.rand(1, 3, 16, 16))
    first = 16 * 16 * 8 * (3 * 3 * 3)
    second = 8 * 8 * 4 * (8 * 3 * 3)  # stride 2: an 8 x 8 output
    assert result["macs"] == first + second
    assert result["params"] == 8 * 27 + 4 * 72 + 4
    assert result["macs_per_pixel"] == (first + second) / (16 * 16)


def test_the_module_is_counted_in_eval_mode_and_left_as_it_was():
    seen_training = []
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    network[0].register_forward_hook(lambda module, args, output: seen_training.append(module.training))
    network.train()
    network[1].weight.requires_grad_(False)
    count_macs(network, torch.rand(1, 3, 8, 8))
    assert seen_training == [False]
    assert network.training and network[0].training
    assert network[0].weight.requires_grad and not network[1].weight.requires_grad


@pytest.mark.parametrize("shape", [(3, 16, 16), (1, 1, 3, 4, 4), (1, 3, 0, 4)])
def test_inputs_that_are_not_a_batch_of_images_are_refused(shape):
    with pytest.raises(ValueError, match="N x C x H x W|no pixels"):
        count_macs(nn.Identity(), torch.rand(*shape))


# -- learned codecs ----------------------------------------------------------------------------------------------


def test_cae_costs_its_convolutions_split_into_analysis_and_synthesis():
    result = codec_complexity("cae", 1, {"pretrained": False}, image_side=SIDE)
    model = CODECS["cae"](1, pretrained=False, device="cpu").load_model()  # the process's shared model
    assert result["params"] == sum(parameter.numel() for parameter in model.parameters())
    hooked = conv_macs_by_hooks(model, torch.rand(1, 3, SIDE, SIDE))
    assert result["encoder_kmacs_per_pixel"] == pytest.approx(macs_under(hooked, "g_a") / PIXELS / 1000, rel=1e-12)
    assert result["decoder_kmacs_per_pixel"] == pytest.approx(macs_under(hooked, "g_s") / PIXELS / 1000, rel=1e-12)
    # cae q1 is N=32, M=24: the first convolution alone, 5x5 from 3 to 16 channels at a quarter of the pixels.
    assert result["g_a_kmacs_per_pixel"] > 16 * 3 * 25 / 4 / 1000
    # The whole forward adds only the entropy bottleneck's likelihood products to the two transforms.
    sides = result["encoder_kmacs_per_pixel"] + result["decoder_kmacs_per_pixel"]
    assert 0 < sides <= result["kmacs_per_pixel"] <= sides * 1.01
    assert result["macs"] == pytest.approx(result["kmacs_per_pixel"] * 1000 * PIXELS)
    assert (result["codec"], result["quality"], result["image_side"]) == ("cae", 1, SIDE)


def test_bmshj2018_factorized_costs_what_its_layers_add_up_to():
    result = codec_complexity("bmshj2018-factorized", 1, {"pretrained": False}, image_side=SIDE)
    model = CODECS["bmshj2018-factorized"](1, pretrained=False, device="cpu").load_model()
    assert result["params"] == sum(parameter.numel() for parameter in model.parameters())
    n, m = 128, 192  # the zoo's quality 1..5 size
    assert (model.g_a[0].out_channels, model.g_a[-1].out_channels) == (n, m)
    # Four 5x5 stride-2 convolutions (3->N, N->N, N->N, N->M), each output at 1/4, 1/16, 1/64, 1/256 of the pixels,
    # and three GDNs, each a 1x1 N->N convolution over the squared activations at 1/4, 1/16 and 1/64. The
    # synthesis mirrors it with transposed convolutions, whose inputs are at the same fractions.
    per_pixel = (
        3 * n * 25 / 4 + n * n * 25 / 16 + n * n * 25 / 64 + n * m * 25 / 256 + n * n * (1 / 4 + 1 / 16 + 1 / 64)
    )
    assert per_pixel == 42176
    assert result["encoder_kmacs_per_pixel"] == pytest.approx(per_pixel / 1000, rel=1e-12)
    assert result["decoder_kmacs_per_pixel"] == pytest.approx(per_pixel / 1000, rel=1e-12)
    assert 2 * per_pixel / 1000 <= result["kmacs_per_pixel"] <= 2 * per_pixel / 1000 * 1.01


def test_a_hyperprior_encoder_also_runs_the_hyper_synthesis():
    result = codec_complexity("bmshj2018-hyperprior", 1, {"pretrained": False}, image_side=SIDE)
    model = CODECS["bmshj2018-hyperprior"](1, pretrained=False, device="cpu").load_model()
    hooked = conv_macs_by_hooks(model, torch.rand(1, 3, SIDE, SIDE))
    h_a, h_s = macs_under(hooked, "h_a") / PIXELS / 1000, macs_under(hooked, "h_s") / PIXELS / 1000
    assert result["h_a_kmacs_per_pixel"] == pytest.approx(h_a, rel=1e-12)
    assert result["h_s_kmacs_per_pixel"] == pytest.approx(h_s, rel=1e-12)
    # compress() needs y's scales to code y, so h_s is on both sides.
    assert result["encoder_kmacs_per_pixel"] == pytest.approx(result["g_a_kmacs_per_pixel"] + h_a + h_s)
    assert result["decoder_kmacs_per_pixel"] == pytest.approx(h_s + result["g_s_kmacs_per_pixel"])
    once_each = result["encoder_kmacs_per_pixel"] + result["decoder_kmacs_per_pixel"] - h_s
    assert once_each <= result["kmacs_per_pixel"] <= once_each * 1.01


def test_ssf2020_reports_its_key_and_predicted_frames_apart():
    side = 128  # ssf2020 pads frames to multiples of 128
    result = codec_complexity("ssf2020", 1, {"pretrained": False}, image_side=side)
    model = CODECS["ssf2020"](1, pretrained=False, device="cpu").load_model()
    assert result["params"] == sum(parameter.numel() for parameter in model.parameters())
    hooked = conv_macs_by_hooks(model, [torch.rand(1, 3, side, side) for _ in range(2)])
    frame_pixels = side * side
    intra = sum(macs_under(hooked, path) for path in ("img_encoder", "img_hyperprior", "img_decoder"))
    inter = sum(macs_under(hooked, path) for path in ("motion_encoder", "motion_hyperprior", "motion_decoder"))
    inter += sum(macs_under(hooked, path) for path in ("res_encoder", "res_hyperprior", "res_decoder"))
    # Beyond the layers, the key frame adds its entropy bottleneck's products; the predicted frame adds those and
    # the blur convolutions of its scale space.
    assert intra / frame_pixels / 1000 <= result["i_frame_kmacs_per_pixel"] <= intra / frame_pixels / 1000 * 1.01
    assert inter / frame_pixels / 1000 <= result["p_frame_kmacs_per_pixel"] <= inter / frame_pixels / 1000 * 1.05
    mean = (result["i_frame_kmacs_per_pixel"] + result["p_frame_kmacs_per_pixel"]) / 2
    assert result["kmacs_per_pixel"] == pytest.approx(mean)
    assert math.isnan(result["encoder_kmacs_per_pixel"]) and math.isnan(result["decoder_kmacs_per_pixel"])


def test_a_classical_codec_has_no_network_to_count():
    result = codec_complexity("jpeg", 50, {}, image_side=SIDE)
    assert result["codec"] == "jpeg"
    for key in ("params", "macs", "kmacs_per_pixel", "encoder_kmacs_per_pixel", "decoder_kmacs_per_pixel"):
        assert math.isnan(result[key]), key
    with pytest.raises(ValueError, match="quality 500"):
        codec_complexity("jpeg", 500, {})


def test_an_image_side_the_codec_would_pad_is_refused():
    with pytest.raises(ValueError, match="multiple of 8.*e.g. 104"):
        codec_complexity("cae", 1, {"pretrained": False}, image_side=100)


# -- task models -------------------------------------------------------------------------------------------------


def test_small_cnn_costs_its_three_convolutions_and_its_head():
    from codecbench.tasks.classification import _build_network

    network, _, _ = _build_network("small_cnn", 10, False)
    result = task_model_complexity(network, (32, 32))
    # 3x3 convolutions 3->32 at 32x32, 32->64 at 16x16, 64->128 at 8x8 (each after a 2x max-pool), then 128->10.
    expected = 32 * 32 * 32 * 27 + 16 * 16 * 64 * 32 * 9 + 8 * 8 * 128 * 64 * 9 + 128 * 10
    assert result["macs"] == expected
    assert result["kmacs_per_pixel"] == pytest.approx(expected / (32 * 32) / 1000)
    assert result["params"] == sum(parameter.numel() for parameter in network.parameters())
    assert task_model_complexity(network, (3, 32, 32)) == result


def test_mobilenet_v2_matches_torchvision_published_operations_and_parameters():
    import torchvision

    meta = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta
    result = task_model_complexity(torchvision.models.mobilenet_v2(weights=None), (224, 224))
    # torchvision's "_ops" (listed as GFLOPS, 0.301) are multiply-adds of one 224 x 224 image.
    assert result["macs"] == pytest.approx(meta["_ops"] * 1e9, rel=0.05)
    assert result["params"] == meta["num_params"] == 3_504_872


def test_a_yolo_detection_network_is_counted_like_ultralytics_counts_it():
    pytest.importorskip("ultralytics")
    from ultralytics import YOLO
    from ultralytics.utils.torch_utils import get_flops

    network = YOLO("yolov8n.yaml", verbose=False).model  # built from the architecture file: no download
    result = task_model_complexity(network, (128, 128))
    assert result["params"] == sum(parameter.numel() for parameter in network.parameters())
    # Ultralytics' own count (THOP, 2 FLOPs per MAC) also counts batch normalisation and additions: about 1% more.
    thop_gflops = get_flops(network, 128)
    assert thop_gflops > 0
    assert 2 * result["macs"] / 1e9 == pytest.approx(thop_gflops, rel=0.03)
    assert 2 * result["macs"] / 1e9 <= thop_gflops


def test_task_model_complexity_refuses_a_shape_that_is_not_an_image():
    with pytest.raises(ValueError, match="image_shape"):
        task_model_complexity(nn.Conv2d(3, 1, 1), (1, 3, 8, 8))


# -- coding times --------------------------------------------------------------------------------------------------


def test_coding_times_are_total_seconds_over_total_megapixels_per_dataset_and_codec():
    def row(dataset, codec, quality, image_id, width, height, encode_s, decode_s):
        return dict(
            dataset=dataset, codec=codec, quality=quality, image_id=image_id, width=width, height=height,
            encode_s=encode_s, decode_s=decode_s, bpp=1.0,
        )  # fmt: skip

    rates = pd.DataFrame(
        [
            # photos/jpeg: a 1 MP and a 0.25 MP image at two qualities, 2.5 MP in all.
            row("photos", "jpeg", 10, "a", 1000, 1000, 0.10, 0.05),
            row("photos", "jpeg", 10, "b", 500, 500, 0.05, 0.01),
            row("photos", "jpeg", 90, "a", 1000, 1000, 0.20, 0.07),
            row("photos", "jpeg", 90, "b", 500, 500, 0.15, 0.02),
            # photos/cae: one 2 MP image; one decode time missing, so decoding is over the timed 2 MP only.
            row("photos", "cae", 1, "a", 2000, 1000, 4.0, 3.0),
            row("photos", "cae", 2, "a", 2000, 1000, 6.0, None),
            # clips/h264_video: three 0.5 MP frames of a clip, each a third of the clip's 0.3 s and 0.15 s.
            row("clips", "h264_video", 23, "c_0", 1000, 500, 0.1, 0.05),
            row("clips", "h264_video", 23, "c_1", 1000, 500, 0.1, 0.05),
            row("clips", "h264_video", 23, "c_2", 1000, 500, 0.1, 0.05),
        ]
    )
    table = coding_times_per_megapixel(rates)
    assert list(table.columns) == TIME_COLUMNS
    assert list(zip(table["dataset"], table["codec"], strict=True)) == [
        ("photos", "jpeg"), ("photos", "cae"), ("clips", "h264_video"),
    ]  # fmt: skip
    jpeg, cae, video = (table.iloc[i] for i in range(3))
    assert (jpeg["n_images"], jpeg["n_points"], jpeg["megapixels"]) == (2, 2, pytest.approx(2.5))
    assert jpeg["encode_s_per_mp"] == pytest.approx(0.50 / 2.5)
    assert jpeg["decode_s_per_mp"] == pytest.approx(0.15 / 2.5)
    assert (cae["n_images"], cae["n_points"], cae["megapixels"]) == (1, 2, pytest.approx(4.0))
    assert cae["encode_s_per_mp"] == pytest.approx(10.0 / 4.0)
    assert cae["decode_s_per_mp"] == pytest.approx(3.0 / 2.0)
    assert (video["n_images"], video["n_points"]) == (3, 1)
    assert video["encode_s_per_mp"] == pytest.approx(0.3 / 1.5)
    assert video["decode_s_per_mp"] == pytest.approx(0.15 / 1.5)


def test_coding_times_name_the_columns_a_table_lacks():
    untimed = {"dataset": ["d"], "codec": ["c"], "quality": [1], "image_id": ["i"], "width": [1], "height": [1]}
    with pytest.raises(ValueError, match="encode_s, decode_s"):
        coding_times_per_megapixel(pd.DataFrame(untimed))
