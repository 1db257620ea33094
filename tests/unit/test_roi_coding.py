"""ROI variants: each strategy changes the bitstream and puts quality inside the mask at about the plain codec's size,
the stored file is what the codec's own decoder reads without the mask, a setting an encoder would ignore is a
config error, and a point's coding key follows its masks."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from codecbench.codecs import make_codec
from codecbench.config.validate import ConfigError, validate_config
from codecbench.roi import make_strategy
from codecbench.stages.roi import masked_psnr


@pytest.fixture(scope="module")
def scene(photo):
    image = np.ascontiguousarray(photo[100:228, 150:310])  # 128 x 160: face and background
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[20:84, 40:104] = True
    return image, mask


def _roi(strategy: str, **settings):
    return make_strategy({"strategy": strategy, "mask": "m", **settings})


@pytest.mark.parametrize(("codec", "quality"), [("h264", 30), ("hevc", 32)])
def test_qp_offsets_move_quality_into_the_mask_at_about_the_plain_size(scene, codec, quality):
    image, mask = scene
    plain_codec = make_codec(codec, quality)
    plain = plain_codec.encode(image)
    roi = _roi("qp_offset", qoffset=-0.2, background_qoffset=0.3).encode(plain_codec, image, mask)
    assert roi != plain
    assert plain_codec.roi_filter == ""  # the next plain encode of this instance is plain again
    assert plain_codec.encode(image) == plain
    decoded, decoded_plain = plain_codec.decode(roi, image.shape[:2]), plain_codec.decode(plain, image.shape[:2])
    assert masked_psnr(image, decoded, mask) > masked_psnr(image, decoded_plain, mask) + 1.5
    assert masked_psnr(image, decoded, ~mask) < masked_psnr(image, decoded_plain, ~mask)
    assert 0.6 < len(roi) / len(plain) < 1.4


def test_vp9_video_in_realtime_mode_takes_the_offsets_on_its_inter_frames(scene):
    image, mask = scene
    frames = [np.roll(image, shift, axis=1) for shift in range(0, 10, 2)]
    codec = make_codec("vp9_video", 40, {"deadline": "realtime", "cpu_used": 6, "gop": 30})
    plain = codec.encode_sequence(frames, 10.0)
    roi = _roi("qp_offset", qoffset=-0.5, background_qoffset=0.0).encode_sequence(codec, frames, [mask] * 5, 10.0)
    assert roi.data != plain.data
    assert roi.frame_bytes[0] == plain.frame_bytes[0]  # a key frame ignores ROI maps (measured), inter frames not
    assert roi.frame_bytes[1:] != plain.frame_bytes[1:]


def test_background_jpeg_is_a_plain_decodable_jpeg_sharper_inside_the_mask(scene):
    image, mask = scene
    codec = make_codec("jpeg", 60)
    plain = codec.encode(image)
    roi = _roi("background_jpeg", background_quality=5).encode(codec, image, mask)
    assert len(roi) < 0.8 * len(plain)
    decoded = codec.decode(roi)  # the codec's own decoder, without the mask
    decoded_plain = codec.decode(plain)
    inner = np.zeros_like(mask)
    inner[24:80, 44:100] = True  # away from the mask's edge, where chroma upsampling blends neighbours
    np.testing.assert_array_equal(decoded[inner], decoded_plain[inner])
    assert masked_psnr(image, decoded, ~mask) < masked_psnr(image, decoded_plain, ~mask) - 3


def test_prefilter_changes_only_the_background_before_any_codec(scene):
    image, mask = scene
    codec = make_codec("webp", 50)
    plain = codec.encode(image)
    roi = _roi("prefilter", method="blur", strength=4).encode(codec, image, mask)
    assert len(roi) < 0.85 * len(plain)
    decoded, decoded_plain = codec.decode(roi), codec.decode(plain)
    assert abs(masked_psnr(image, decoded, mask) - masked_psnr(image, decoded_plain, mask)) < 1.0
    assert masked_psnr(image, decoded, ~mask) < masked_psnr(image, decoded_plain, ~mask) - 2


@pytest.fixture(scope="module")
def default_config(project):
    return yaml.safe_load((project / "config.yaml").read_text())


def _with_variant(cfg: dict, name: str, entry: dict) -> dict:
    cfg = copy.deepcopy(cfg)
    cfg["codecs"][name] = entry
    return cfg


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"codec": "av1_video", "qualities": [30], "datasets": ["moving"]},
            r"codecs.bad.roi.strategy: qp_offset cannot steer bad: libsvtav1 ignores ROI side data",
        ),
        (
            {"codec": "vp9_video", "qualities": [30], "datasets": ["moving"]},
            r"libvpx-vp9 applies ROI side data only with deadline realtime and cpu_used >= 5 .* deadline 'good', "
            r"cpu_used 4",
        ),
        (
            {"codec": "vp9", "qualities": [30], "datasets": ["shapes"]},
            r"libvpx-vp9 applies ROI side data only in realtime mode and not to a lone key frame",
        ),
        (
            {"codec": "webp", "qualities": [30], "datasets": ["shapes"]},
            r"webp takes no ROI side data \(only ffmpeg's x264, x265 and VP9 video encoders do\)",
        ),
    ],
)
def test_an_roi_setting_the_encoder_would_ignore_is_a_config_error(default_config, entry, message):
    entry = {**entry, "roi": {"mask": "shape_boxes", "strategy": "qp_offset"}}
    with pytest.raises(ConfigError, match=message):
        validate_config(_with_variant(default_config, "bad", entry))


def test_roi_config_errors_name_the_mask_the_plain_codec_and_the_annotation(default_config):
    cfg = _with_variant(
        default_config,
        "photo_roi",
        {
            "codec": "jpeg",
            "qualities": [50],
            "datasets": ["photos"],
            "roi": {"mask": "shape_boxes", "strategy": "background_jpeg"},
        },
    )
    cfg["codecs"]["lost"] = {"codec": "jpeg", "qualities": [50], "roi": {"mask": "nowhere", "strategy": "prefilter"}}
    cfg["codecs"]["blurred"] = {
        "codec": "avif", "qualities": [50], "datasets": ["shapes"],
        "roi": {"mask": "shape_boxes", "strategy": "prefilter", "method": "downscale", "strength": 0.5},
    }  # fmt: skip
    cfg["masks"]["detected"] = {"source": "detector", "task": "digits_cnn"}
    cfg["tasks"]["digits_cnn"]["train_on"] = ["original", "jpeg_roi/10"]
    with pytest.raises(ConfigError) as error:
        validate_config(cfg)
    text = str(error.value)
    assert (
        "codecs.photo_roi.roi.mask: mask 'shape_boxes' needs object boxes, which dataset 'photos' does not have" in text
    )
    assert "codecs.lost.roi.mask: 'nowhere' is not declared under masks" in text
    assert "codecs.blurred.roi.compare_to: avif does not run on shapes; add them to its datasets" in text
    assert "codecs.blurred.roi: downscale needs a factor strength >= 1, got 0.5" in text
    assert "masks.detected.task: 'digits_cnn' is a classification task, not detection" in text
    assert "tasks.digits_cnn.train_on[1]: jpeg_roi is an ROI variant, whose masks exist for test images only" in text


def test_the_default_variants_are_valid_and_complete(default_config):
    cfg = validate_config(default_config)
    roi = cfg["codecs"]["jpeg_roi"]["roi"]
    assert roi == {"mask": "shape_boxes", "strategy": "background_jpeg", "background_quality": 5}
    assert cfg["codecs"]["webp_blur"]["roi"]["strength"] == 3
    assert cfg["masks"]["yolo_boxes"] == {
        "source": "detector",
        "task": "shapes_yolo",
        "min_confidence": 0.1,
        "dilate_px": 4,
    }


def test_a_points_coding_key_follows_its_masks(tmp_path, shapes_dataset):
    from codecbench.masks import make_masks
    from codecbench.stages.compress import _point_key, _roi_coding
    from codecbench.stages.points import Point

    manifest = shapes_dataset / "manifest.csv"
    keys = []
    for dilate in (2, 2, 6):
        folder = tmp_path / f"masks-{len(keys)}"
        make_masks(manifest, "m", {"source": "boxes", "dilate_px": dilate}, folder)
        settings = {"codec": "jpeg", "options": {}, "roi": {"mask": "m", "strategy": "background_jpeg"}}
        point = Point(quality=50, folder=tmp_path / "p", settings=settings, masks=str(folder / "masks.csv"))
        keys.append(_point_key(point, _roi_coding(point)))
    assert keys[0] == keys[1] and keys[0]["masks"] != keys[2]["masks"]


@pytest.fixture(scope="module")
def shapes_dataset(tmp_path_factory):
    from codecbench.datasets import prepare_dataset

    folder = tmp_path_factory.mktemp("shapes")
    prepare_dataset("shapes", {"source": "builtin", "max_images": 2}, folder, folder / "downloads")
    return folder


def test_the_full_scale_coco_config_compares_each_variant_with_its_plain_codec(project):
    from codecbench.config.plan import mask_jobs, roi_comparisons

    cfg = validate_config(yaml.safe_load((project / "configs" / "roi-coco.yaml").read_text()))
    assert roi_comparisons(cfg) == {
        "jpeg_roi_yolo": "jpeg", "jpeg_roi_oracle": "jpeg", "hevc_roi_yolo": "hevc", "hevc_blur_yolo": "hevc",
    }  # fmt: skip
    assert mask_jobs(cfg) == [("coco", "yolo_boxes"), ("coco", "coco_boxes")]
    assert cfg["masks"]["coco_boxes"]["source"] == "boxes" and cfg["masks"]["yolo_boxes"]["task"] == "coco_yolov8n"


def test_masked_psnr_is_the_psnr_of_the_masks_pixels_only():
    reference = np.zeros((4, 4, 3), np.uint8)
    decoded = reference.copy()
    decoded[:2] = 10  # the top half off by 10 on every channel, the bottom half exact
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2] = True
    assert masked_psnr(reference, decoded, mask) == pytest.approx(10 * np.log10(255**2 / 100))
    assert masked_psnr(reference, decoded, ~mask) == float("inf")
    assert np.isnan(masked_psnr(reference, decoded, np.zeros((4, 4), dtype=bool)))


def test_a_gradcam_mask_needs_a_classifier_that_sees_the_whole_image(default_config):
    cfg = copy.deepcopy(default_config)
    cfg["masks"]["cam_yolo"] = {"source": "gradcam", "task": "shapes_yolo"}
    cfg["masks"]["cam_cropped"] = {"source": "gradcam", "task": "crops_mobilenet"}
    cfg["tasks"]["crops_mobilenet"]["preprocess"] = "weights"
    cfg["masks"]["cam_nothing"] = {"source": "gradcam", "task": "nope"}
    with pytest.raises(ConfigError) as error:
        validate_config(cfg)
    text = str(error.value)
    assert (
        "masks.cam_yolo.task: 'shapes_yolo' is a detection task, not classification or imagenet_agreement or "
        "imagenet_classification" in text
    )
    assert "masks.cam_cropped.task: 'crops_mobilenet' centre-crops its images (preprocess 'weights')" in text
    assert "masks.cam_nothing.task: 'nope' is not a task under tasks" in text
    cfg["tasks"]["crops_mobilenet"]["preprocess"] = "none"
    del cfg["masks"]["cam_yolo"], cfg["masks"]["cam_nothing"]
    assert validate_config(cfg)["masks"]["cam_cropped"] == {
        "source": "gradcam",
        "task": "crops_mobilenet",
        "coverage": 0.3,
    }
