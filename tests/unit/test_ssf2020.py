"""CompressAI's scale-space-flow video model (ssf2020): a short training writes a checkpoint, and the codec loaded
from it codes clips into self-describing bytes that decode, from the bytes alone, to the encoder's reconstruction.

One tiny training (a few steps on 128 px patches of a synthetic moving clip, the model's smallest size) is shared
by the module; the pictures it codes are meaningless, the coding is real.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from codecbench.codecs import CodecError, EncodedSequence, learned_video, make_codec
from codecbench.codecs.base import LearnedCodecError
from codecbench.learned.train_video import (
    CHECKPOINT_NAME,
    PAD_MULTIPLE,
    load_ssf_checkpoint,
    ssf_weights_path,
    train_ssf,
)

pytestmark = pytest.mark.usefixtures("torch_home")  # an empty torch.hub cache: no zoo weights are ever found

STEPS = 2
SETTINGS = {
    "lambda": 0.01,
    "steps": STEPS,
    "batch_size": 1,
    "patch_size": 128,
    "learning_rate": 1e-4,
    "frames_per_sample": 3,
    "seed": 0,
    "quality": 2,
}


def moving_clip(n_frames: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """A smooth textured background with a bright square moving right and down, 3 px per frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, 128 + 60 * np.sin(xx / 7.0 + yy / 11.0)], axis=-1)
    base = np.clip(base + rng.normal(0, 6, base.shape), 0, 255)
    frames = []
    for t in range(n_frames):
        frame = base.copy()
        top, left = 5 + 3 * t, 7 + 3 * t
        frame[top : top + 16, left : left + 16] = (250, 240, 30)
        frames.append(frame.astype(np.uint8))
    return frames


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ssf2020")
    clips = [moving_clip(5, 136, 150), moving_clip(3, 128, 128, seed=1)]
    training = train_ssf(clips, SETTINGS, out_dir, device="cpu", log=_quiet)
    return out_dir, training


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    return moving_clip(5, 48, 64)  # 64x48: padded to 128x128 and cropped back


@pytest.fixture(scope="module")
def coded(trained, clip):
    """One clip coded with a key frame every 2 frames, shared by the tests that decode it."""
    codec = _codec(trained, gop=2)
    return codec, codec.encode_sequence(clip, fps=25.0)


def _codec(trained, **options):
    out_dir, _ = trained
    return make_codec("ssf2020", 2, {"checkpoint": str(out_dir / CHECKPOINT_NAME), "device": "cpu", **options})


def test_training_writes_a_loadable_checkpoint_and_its_log(trained):
    out_dir, training = trained
    log = pd.read_csv(out_dir / "train.csv")
    assert list(log.columns) == ["step", "loss", "bpp", "mse", "aux_loss"]
    assert log.step.tolist() == list(range(1, STEPS + 1))
    assert np.isfinite(log[["loss", "bpp", "mse", "aux_loss"]].to_numpy()).all()
    assert (log.bpp > 0).all()
    row = log.iloc[-1]
    assert row.loss == pytest.approx(SETTINGS["lambda"] * 255**2 * row.mse + row.bpp, rel=1e-5)
    assert training["steps_done"] == STEPS and training["init"] == "random" and training["device"] == "cpu"
    assert training["lambda"] == SETTINGS["lambda"] and training["frames_per_sample"] == 3
    assert not (out_dir / (CHECKPOINT_NAME + ".partial")).exists()

    model, payload = load_ssf_checkpoint(out_dir / CHECKPOINT_NAME)
    assert payload["architecture"] == "ssf2020" and payload["quality"] == 2
    assert payload["training"]["final"]["step"] == STEPS
    assert not model.training
    with pytest.raises(FileExistsError):  # a finished checkpoint is never overwritten
        train_ssf([moving_clip(3, 128, 128)], SETTINGS, out_dir, device="cpu", log=_quiet)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"patch_size": 64}, "multiple of 128"),
        ({"frames_per_sample": 1}, "at least 2"),
        ({"lambda": 0}, "lambda"),
        ({"init": "zoo", "quality": None}, "quality"),
        ({"momentum": 0.9}, "unknown training setting"),
    ],
)
def test_bad_training_settings_fail_before_training(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        train_ssf([moving_clip(3, 128, 128)], {**SETTINGS, **change}, tmp_path, device="cpu", log=_quiet)
    assert not (tmp_path / CHECKPOINT_NAME).exists()


def test_clips_too_short_for_a_sample_are_refused(tmp_path):
    with pytest.raises(ValueError, match="3 frames"):
        train_ssf([moving_clip(2, 128, 128)], SETTINGS, tmp_path, device="cpu", log=_quiet)


def test_zoo_init_without_cached_weights_names_the_file(tmp_path):
    with pytest.raises(LearnedCodecError, match=ssf_weights_path(2)[1].name):
        train_ssf([moving_clip(3, 128, 128)], {**SETTINGS, "init": "zoo"}, tmp_path, device="cpu", log=_quiet)


def test_round_trip_keeps_frames_size_and_matches_the_encoder(coded, clip):
    codec, encoded = coded
    assert isinstance(encoded, EncodedSequence)
    assert encoded.frame_types == ["I", "P", "I", "P", "I"]
    assert len(encoded.frame_bytes) == len(clip) and all(n > 0 for n in encoded.frame_bytes)
    header = learned_video.pack_header(48, 64, PAD_MULTIPLE, len(clip), 2, 25.0)
    assert sum(encoded.frame_bytes) + len(header) == len(encoded.data)
    assert encoded.data.startswith(header)

    decoded = codec.decode_sequence(encoded.data, (48, 64), len(clip))
    assert len(decoded) == len(clip)
    assert all(frame.shape == (48, 64, 3) and frame.dtype == np.uint8 for frame in decoded)
    for ours, encoders in zip(decoded, codec.last_reconstruction, strict=True):
        np.testing.assert_array_equal(ours, encoders)
    assert codec.last_encode_info == {"key_frames": 3.0, "reconstruction_mismatch": 0.0}


def test_default_gop_codes_one_key_frame_and_single_images_work(trained, clip):
    codec = _codec(trained)
    assert codec.options["gop"] == 12
    assert codec.encode_sequence(clip[:3], fps=30).frame_types == ["I", "P", "P"]
    # SequenceCodec's image path: a one-frame clip
    image = clip[0][:40, :50].copy()
    decoded = codec.decode(codec.encode(image), size=image.shape[:2])
    assert decoded.shape == image.shape
    np.testing.assert_array_equal(decoded, codec.last_reconstruction[0])


def test_the_bytes_alone_decode_in_a_fresh_codec(trained, coded, clip, monkeypatch):
    encoder, encoded = coded
    monkeypatch.setattr(learned_video, "_MODELS", {})  # the decoder rebuilds the model from the checkpoint file
    decoder = _codec(trained, gop=3)  # another gop: the stream, not the option, says which frames are key frames
    decoded = decoder.decode_sequence(encoded.data, (48, 64), len(clip))
    for ours, encoders in zip(decoded, encoder.last_reconstruction, strict=True):
        np.testing.assert_array_equal(ours, encoders)
    header, frames = learned_video.unpack_stream(encoded.data)
    assert header == {"height": 48, "width": 64, "multiple": 128, "n_frames": 5, "gop": 2, "fps": 25.0}
    assert [t for t, _ in frames] == ["I", "P", "I", "P", "I"]
    assert "reconstruction_mismatch" not in decoder.last_encode_info


def test_truncated_corrupt_or_mismatched_streams_are_codec_errors(coded):
    codec, encoded = coded
    data = encoded.data
    header_length = len(learned_video.pack_header(48, 64, PAD_MULTIPLE, 5, 2, 25))
    broken = {
        "truncated": data[:-5],
        "truncated header": data[: header_length - 3],
        "trailing bytes": data + b"\x00",
        "wrong magic": b"XYZ" + data[3:],
        "wrong version": data[:3] + b"\x09" + data[4:],
        "first frame not a key frame": data[:header_length] + b"P" + data[header_length + 1 :],
        "unknown frame type": data[:header_length] + b"B" + data[header_length + 1 :],
        "empty": b"",
    }
    for what, stream in broken.items():
        with pytest.raises(CodecError, match="could not decode"):
            codec.decode_sequence(stream, (48, 64), 5)
            pytest.fail(f"{what}: decoded")
    with pytest.raises(CodecError, match="5 frames of 64x48, expected 4"):
        codec.decode_sequence(data, (48, 64), 4)
    with pytest.raises(CodecError, match="expected 5 of 64x50"):
        codec.decode_sequence(data, (50, 64), 5)


def test_missing_zoo_weights_without_checkpoint_name_the_file_and_the_alternative(clip):
    codec = make_codec("ssf2020", 4, {"device": "cpu"})
    name = ssf_weights_path(4)[1].name
    assert name.startswith("ssf2020-mse-4-")
    with pytest.raises(LearnedCodecError, match=name) as error:
        codec.encode_sequence(clip, fps=25)
    assert "checkpoint" in str(error.value) and "https://" in str(error.value)


def test_zoo_weights_in_the_cache_are_used(torch_home, monkeypatch, clip):
    """A zoo file in torch.hub's cache is read (here a seeded random model saved under the zoo's name)."""
    from codecbench.learned.train_video import build_ssf

    path = ssf_weights_path(1)[1]
    path.parent.mkdir(parents=True)
    model = build_ssf()
    torch.save(model.state_dict(), path)
    monkeypatch.setattr(learned_video, "_MODELS", {})
    codec = make_codec("ssf2020", 1, {"device": "cpu"})
    assert codec.weights() == f"pretrained {path.name}"
    encoded = codec.encode_sequence(clip[:2], fps=25)
    assert codec.decode_sequence(encoded.data, (48, 64), 2)[1].shape == (48, 64, 3)


@pytest.mark.parametrize(
    "options", [{"gop": 0}, {"gop": 1.5}, {"device": "tpu"}, {"pretrained": "yes"}, {"metric": "mse"}]
)
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError):
        make_codec("ssf2020", 1, options)


def test_version_names_compressai_and_torch():
    version = make_codec("ssf2020", 1).version()
    assert version.startswith("compressai ") and f"torch {torch.__version__.split('+')[0]}" in version
