"""Learned codecs: real bitstreams from CompressAI models, honest byte counts, weights and checkpoints.

Random-weight models (``pretrained: false``) stand in for trained ones: they code and decode for real, only the
pictures are meaningless. Pretrained weights are served by a local HTTP server; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import logging
import socket
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from codecbench.codecs import CODECS, CodecError, make_codec
from codecbench.learned import models
from codecbench.learned.models import LearnedCodecError

pytestmark = pytest.mark.usefixtures("torch_home")  # every test gets an empty torch.hub cache (conftest.py)

ARCH = "bmshj2018-factorized"  # the smallest zoo model: quality 1 is N=128, M=192
ARCHITECTURES = [
    "bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor", "cheng2020-attn",
    "cae",
]  # fmt: skip
# Their eval forward() rounds latents without the predicted means, so it is not what the bitstream decodes to.
AUTOREGRESSIVE = {"mbt2018", "cheng2020-anchor", "cheng2020-attn"}
HYPERPRIOR = {"bmshj2018-hyperprior", "mbt2018-mean", *AUTOREGRESSIVE}  # two string groups: y then z


@pytest.fixture(autouse=True)
def learned_registry():
    """Register the learned codecs for each test only, leaving the registry as other test modules expect it."""
    before = dict(CODECS)
    import codecbench.codecs.learned as learned

    for cls in learned.LEARNED_CODECS:
        CODECS.setdefault(cls.name, cls)
    yield learned
    CODECS.clear()
    CODECS.update(before)


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def parse_header(data: bytes) -> dict:
    """The cbl header, read here independently of the codec's own parser."""
    assert data[:4] == b"CBL1"
    pos = 4
    fields = {}
    for key in ("height", "width", "n_dims"):
        fields[key], pos = read_varint(data, pos)
    fields["shape"] = []
    for _ in range(fields["n_dims"]):
        side, pos = read_varint(data, pos)
        fields["shape"].append(side)
    fields["n_strings"], pos = read_varint(data, pos)
    fields["lengths"] = []
    for _ in range(fields["n_strings"]):
        length, pos = read_varint(data, pos)
        fields["lengths"].append(length)
    fields["header_bytes"] = pos
    return fields


def reference_decode(model, image: np.ndarray, multiple: int) -> np.ndarray:
    """What a decoder must output, computed without the codec: pad by edge replication, forward, crop, round."""
    height, width = image.shape[:2]
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    x = F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="replicate")
    with torch.no_grad():
        x_hat = model(x)["x_hat"][..., :height, :width].clamp(0, 1)
    return (x_hat[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_round_trip_is_real_deterministic_and_consistent(name):
    image = smooth_image(70, 91)
    codec = make_codec(name, 1, {"pretrained": False})
    data = codec.encode(image)
    header = parse_header(data)
    assert (header["height"], header["width"]) == (70, 91)
    assert len(data) > header["header_bytes"] and all(length > 0 for length in header["lengths"])
    assert header["n_strings"] == (2 if name in HYPERPRIOR else 1)
    assert len(data) == header["header_bytes"] + sum(header["lengths"])
    assert set(codec.last_encode_info) == {"bpp_estimated"}
    assert 0 < codec.last_encode_info["bpp_estimated"] < float("inf")
    decoded = codec.decode(data)  # decoding what was just encoded checks it against the encoder
    assert codec.last_encode_info["reconstruction_mismatch"] == 0
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert np.array_equal(codec.decode(data), decoded)
    # A fresh codec (as every pipeline job makes) encodes to the same bytes and decodes them the same way.
    other = make_codec(name, 1, {"pretrained": False})
    assert other.encode(image) == data
    assert np.array_equal(other.decode(data), decoded)
    # The decoder's output is the model's own reconstruction of the edge-padded image, cropped back.
    model = codec.load_model()
    # The strings are CompressAI's own compress() of the padded image (the codec reuses its analysis transform).
    multiple = model.downsampling_factor
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    x = F.pad(x, (0, -91 % multiple, 0, -70 % multiple), mode="replicate")
    with torch.no_grad():
        expected = model.compress(x.contiguous(memory_format=torch.channels_last))
    assert data.endswith(b"".join(group[0] for group in expected["strings"]))
    assert header["shape"] == [int(side) for side in expected["shape"]]
    if name not in AUTOREGRESSIVE:
        expected = reference_decode(model, image, model.downsampling_factor)
        assert np.abs(decoded.astype(int) - expected.astype(int)).max() <= 1
    assert codec.device == "cpu"  # no GPU in the tests
    assert "random init" in codec.describe()


def test_autoregressive_model_decodes_what_its_encoder_coded():
    # cheng2020's forward() rounds latents without the predicted means: on this image its reconstruction is
    # 4 levels away from what the bitstream decodes to. The codec must compare with the latents it coded.
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    codec = make_codec("cheng2020-anchor", 1, {"pretrained": False})
    data = codec.encode(image)
    assert codec.decode(data).shape == image.shape
    assert codec.last_encode_info["reconstruction_mismatch"] == 0
    assert parse_header(data)["n_strings"] == 2


class PixelModel(models.CompressionModel):
    """A model that keeps the picture: latents are the pixels (8x8 blocks as channels) in steps of 4 levels.

    Random weights decode to near-constant images; with this model a wrong pad, crop, transpose or channel
    order shows. ``decoder_symbol_shift`` makes its decoder's entropy tables disagree with its encoder's: each
    decoded symbol comes out that many steps (of 4 levels) off.
    """

    downsampling_factor = 8

    def __init__(self, decoder_symbol_shift: int = 0):
        super().__init__()
        self.entropy_bottleneck = models.EntropyBottleneck(3 * 64)
        self.decoder_symbol_shift = decoder_symbol_shift
        self.inputs = []
        self.update(force=True)

    def g_a(self, x):
        return F.pixel_unshuffle(x, 8) * (255 / 4)

    def g_s(self, y):
        return F.pixel_shuffle(y * (4 / 255), 8)

    def forward(self, x):
        y_hat, likelihoods = self.entropy_bottleneck(self.g_a(x))
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": likelihoods}}

    def compress(self, x):
        self.inputs.append(x.clone())
        y = self.g_a(x)
        return {"strings": [self.entropy_bottleneck.compress(y)], "shape": y.size()[-2:]}

    def decompress(self, strings, shape):
        offset = self.entropy_bottleneck._offset  # symbol -> value offsets of the entropy tables
        self.entropy_bottleneck._offset = offset + self.decoder_symbol_shift
        try:
            y_hat = self.entropy_bottleneck.decompress(strings[0], shape)
        finally:
            self.entropy_bottleneck._offset = offset
        return {"x_hat": self.g_s(y_hat).clamp(0, 1)}


def codec_with_model(monkeypatch, learned, model, name="cae", **options):
    codec = make_codec(name, 1, {"pretrained": False, **options})
    monkeypatch.setitem(learned._MODELS, codec._cache_key(), learned._Loaded(model.eval(), torch.device("cpu")))
    return codec


def test_padding_cropping_and_orientation_with_a_model_that_keeps_the_picture(monkeypatch, learned_registry):
    model = PixelModel()
    codec = codec_with_model(monkeypatch, learned_registry, model)
    image = smooth_image(70, 91, seed=2)
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).max() <= 2  # quantisation step 4 levels
    assert codec.last_encode_info["reconstruction_mismatch"] == 0
    # The model saw the image padded to 72x96 by repeating its last row and column.
    (padded,) = model.inputs
    assert tuple(padded.shape) == (1, 3, 72, 96)
    levels = (padded[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(levels[:70, :91], image)
    assert np.array_equal(levels[70:, :91], np.broadcast_to(image[-1:], (2, 91, 3)))
    assert np.array_equal(levels[:, 91:], np.broadcast_to(levels[:, 90:91], (72, 5, 3)))


def test_a_decoder_that_disagrees_with_its_encoder_is_reported(monkeypatch, learned_registry, caplog):
    # on_mismatch: record keeps the image and warns (the default, fail, is tested in test_trust_learned.py)
    codec = codec_with_model(monkeypatch, learned_registry, PixelModel(decoder_symbol_shift=1), on_mismatch="record")
    image = smooth_image(20, 30, seed=3) // 2  # no clipping at 255
    with caplog.at_level(logging.WARNING, logger="codecbench.codecs.learned"):
        decoded = codec.decode(codec.encode(image))
    assert codec.last_encode_info["reconstruction_mismatch"] == 4
    assert "30x20 image decodes 4 levels away from the encoder's reconstruction" in caplog.text
    assert np.abs(decoded.astype(int) - image.astype(int) - 4).max() <= 2  # really decoded one step (4 levels) up
    # The same decoder with its tables intact agrees with the encoder.
    codec.load_model().decoder_symbol_shift = 0
    caplog.clear()
    codec.decode(codec.encode(image))
    assert codec.last_encode_info["reconstruction_mismatch"] == 0 and "levels away" not in caplog.text


def test_byte_count_is_header_plus_strings_and_grows_with_the_image():
    codec = make_codec("cae", 1, {"pretrained": False})
    sizes = {}
    for side in (64, 130):
        data = codec.encode(smooth_image(side, side))
        header = parse_header(data)
        assert len(data) == header["header_bytes"] + sum(header["lengths"])
        sizes[side] = len(data)
    assert sizes[130] > sizes[64]


def test_truncated_or_foreign_bytes_fail_with_the_codec_named():
    codec = make_codec("cae", 1, {"pretrained": False})
    data = codec.encode(smooth_image(32, 40))
    with pytest.raises(CodecError, match="cae"):
        codec.decode(data[:-3])
    with pytest.raises(CodecError, match="CBL1"):
        codec.decode(b"\x89PNG" + data[4:])


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(3)
    model = models.build_model("cae", 1)
    path = tmp_path / "ckpt" / "cae-q1.pt"
    models.save_checkpoint(path, model, "cae", 1, "mse", {"steps": 0, "lambda": np.float64(0.01)})
    loaded, payload = models.load_checkpoint(path)
    assert payload["format"] == "codecbench-learned-codec/1"
    assert (payload["architecture"], payload["quality"], payload["metric"]) == ("cae", 1, "mse")
    assert payload["training"] == {"steps": 0, "lambda": 0.01}

    image = smooth_image(40, 56)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        original = model.decompress(**model.compress(x))["x_hat"]
        again = loaded.decompress(**loaded.compress(x))["x_hat"]
    assert torch.equal(original, again)

    # The codec built on the file decodes what the in-memory model decodes, and names the file by its hash.
    codec = make_codec("cae", 1, {"checkpoint": str(path)})
    decoded = codec.decode(codec.encode(image))
    expected = (original[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(decoded, expected)
    assert hashlib.sha256(path.read_bytes()).hexdigest()[:12] in codec.describe()

    with pytest.raises(FileExistsError, match="cae-q1.pt"):
        models.save_checkpoint(path, model, "cae", 1, "mse", {})
    models.save_checkpoint(path, model, "cae", 1, "mse", {"steps": 1}, overwrite=True)
    assert models.load_checkpoint(path)[1]["training"] == {"steps": 1}
    assert [p.name for p in path.parent.iterdir()] == ["cae-q1.pt"]  # no temporary files left


def test_bad_checkpoints_are_named(tmp_path):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(LearnedCodecError, match="nowhere.pt"):
        models.load_checkpoint(missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(LearnedCodecError, match="garbage.pt"):
        models.load_checkpoint(garbage)
    bare = tmp_path / "bare.pt"
    torch.save(models.build_model("cae", 1).state_dict(), bare)
    with pytest.raises(LearnedCodecError, match="bare.pt.*not a codecbench"):
        models.load_checkpoint(bare)
    codec = make_codec("cae", 1, {"checkpoint": str(missing)})
    with pytest.raises(CodecError, match="nowhere.pt"):
        codec.encode(smooth_image(16, 16))


# -- pretrained weights over HTTP -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zoo_file() -> tuple[str, bytes]:
    """A quality-1 factorized model saved as the zoo publishes weights: old key names, CDFs, <sha256[:8]> in the name."""
    torch.manual_seed(7)
    model = models.build_model(ARCH, 1)
    model.update(force=True)
    legacy = {}
    for key, value in model.state_dict().items():
        for new, old in (("matrices", "_matrices"), ("biases", "_biases"), ("factors", "_factors")):
            key = key.replace(f"entropy_bottleneck.{new}.", f"entropy_bottleneck.{old}.")
        legacy[key] = value
    buffer = io.BytesIO()
    torch.save(legacy, buffer)
    content = buffer.getvalue()
    return f"bmshj2018-factorized-prior-1-{hashlib.sha256(content).hexdigest()[:8]}.pth.tar", content


@pytest.fixture(scope="module")
def server(zoo_file):
    """A local HTTP server: /models/<any name> answers the weights, except names with "missing": 404."""
    _, content = zoo_file

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = content if self.path.startswith("/models/") and "missing" not in self.path else None
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/models"
    httpd.shutdown()
    httpd.server_close()


def point_zoo_at(monkeypatch, url: str) -> None:
    from compressai.zoo import image as zoo_image

    monkeypatch.setitem(zoo_image.model_urls[ARCH]["mse"], 1, url)


def test_pretrained_weights_are_downloaded_into_the_torch_hub_cache(monkeypatch, server, zoo_file, torch_home):
    name, content = zoo_file
    point_zoo_at(monkeypatch, f"{server}/{name}")
    url, path = models.pretrained_weights_path(ARCH, 1, "mse")
    assert url == f"{server}/{name}"
    assert path == torch_home / "hub" / "checkpoints" / name
    model = models.load_pretrained(ARCH, 1, "mse")
    assert path.read_bytes() == content
    assert [p.name for p in path.parent.iterdir()] == [name]
    served = torch.load(io.BytesIO(content), weights_only=True)
    assert torch.equal(model.state_dict()["entropy_bottleneck.matrices.0"], served["entropy_bottleneck._matrices.0"])
    assert torch.equal(model.state_dict()["g_s.6.weight"], served["g_s.6.weight"])

    codec = make_codec(ARCH, 1)  # pretrained is the default
    image = smooth_image(70, 90)
    decoded = codec.decode(codec.encode(image))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - reference_decode(model, image, 16).astype(int)).max() <= 1
    assert name in codec.describe()


def test_missing_weights_fail_at_once_naming_the_file_and_the_fix(monkeypatch, server, torch_home):
    point_zoo_at(monkeypatch, f"{server}/missing-prior-1-deadbeef.pth.tar")
    url, path = models.pretrained_weights_path(ARCH, 1, "mse")
    with pytest.raises(LearnedCodecError) as caught:
        models.load_pretrained(ARCH, 1, "mse")
    message = str(caught.value)
    for part in (str(path), url, "put it", "404", "pretrained: false", "checkpoint:", ARCH, "quality 1", "mse"):
        assert part in message
    folder = torch_home / "hub" / "checkpoints"
    assert not folder.exists() or list(folder.iterdir()) == []
    with pytest.raises(CodecError, match="put it"):
        make_codec(ARCH, 1).encode(smooth_image(16, 16))


def test_download_with_the_wrong_hash_is_rejected_and_removed(monkeypatch, server, zoo_file, torch_home):
    name, _ = zoo_file
    # The server answers this name, but the file's sha256 does not start with the prefix the URL's name claims.
    wrong = name.replace(name.split("-")[-1][:8], "00000000")
    point_zoo_at(monkeypatch, f"{server}/{wrong}")
    with pytest.raises(LearnedCodecError, match="sha256 [0-9a-f]{64} does not start with 00000000"):
        models.load_pretrained(ARCH, 1, "mse")
    folder = torch_home / "hub" / "checkpoints"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_silent_server_times_out_quickly(monkeypatch, torch_home):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections into the backlog but never answers
    try:
        point_zoo_at(monkeypatch, f"http://127.0.0.1:{listener.getsockname()[1]}/x-00000000.pth.tar")
        with pytest.raises(LearnedCodecError, match="timed out"):
            models.load_pretrained(ARCH, 1, "mse", timeout_s=0.5)
    finally:
        listener.close()


def test_weights_already_in_the_cache_need_no_server(monkeypatch, zoo_file, torch_home):
    name, content = zoo_file
    point_zoo_at(monkeypatch, f"http://127.0.0.1:9/{name}")  # nothing listens there
    _, path = models.pretrained_weights_path(ARCH, 1, "mse")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    model = models.load_pretrained(ARCH, 1, "mse")
    assert model.entropy_bottleneck._quantized_cdf.numel() > 0  # the file's CDFs, ready to code
    codec = make_codec(ARCH, 1)
    assert codec.decode(codec.encode(smooth_image(33, 47))).shape == (33, 47, 3)


# -- configuration errors ---------------------------------------------------------------------------------------


def test_configuration_errors_are_clear():
    with pytest.raises(ValueError, match="known: .*bmshj2018-factorized.*cae"):
        models.build_model("jpeg-ai", 1)
    with pytest.raises(ValueError, match="no published pretrained weights"):
        models.build_model("cae", 1, pretrained=True)
    with pytest.raises(ValueError, match="no published pretrained weights.*checkpoint"):
        make_codec("cae", 1, {"pretrained": True})
    with pytest.raises(ValueError, match="outside 1..6"):
        make_codec("cheng2020-anchor", 7)
    with pytest.raises(ValueError, match="outside 1..4"):
        make_codec("cae", 5)
    with pytest.raises(ValueError, match="metric 'psnr'"):
        make_codec(ARCH, 1, {"metric": "psnr"})
    with pytest.raises(ValueError, match="unknown option"):
        make_codec(ARCH, 1, {"weights": "x"})
    with pytest.raises(ValueError, match="device 'tpu'"):
        make_codec(ARCH, 1, {"device": "tpu"})
    with pytest.raises(KeyError, match="unknown codec"):
        make_codec("jpeg-ai", 1)


def test_device_choice():
    assert models.pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert models.pick_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(LearnedCodecError, match="sees no CUDA GPU"):
            models.pick_device("cuda")
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        models.pick_device("tpu")


def test_registry_entries_match_the_architecture_table(learned_registry):
    from codecbench.learned import ARCHITECTURES

    assert {cls.name for cls in learned_registry.LEARNED_CODECS} == set(ARCHITECTURES)
    for cls in learned_registry.LEARNED_CODECS:
        assert CODECS[cls.name] is cls
        assert cls.extension == "cbl" and cls.higher_is_better
        assert (cls.quality_min, cls.quality_max) == (
            (1, 6) if cls.name.startswith("cheng") else (1, 4) if cls.name == "cae" else (1, 8)
        )
        assert cls.default_options == {
            "metric": "mse",
            "pretrained": cls.name != "cae",
            "checkpoint": None,
            "device": "auto",
            "on_mismatch": "fail",
        }
        assert cls.version().startswith("compressai 1.2.8 (torch ")


def test_random_weights_are_announced(caplog):
    from codecbench.codecs import learned

    learned._MODELS.clear()  # the warning comes when a model is built, once per process
    with caplog.at_level(logging.WARNING, logger="codecbench.codecs.learned"):
        make_codec("cae", 2, {"pretrained": False}).load_model()
    assert "meaningless" in caplog.text
