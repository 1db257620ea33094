"""A user's plug-ins, as the text of the files they write: a metric module and a dataset source module, and the
source's images computed independently of it. Shared by unit/test_plugins.py and workflow/test_plugin_workflow.py.

A plain module, not a test file: the tests import it (``from toy_plugins import ...``).
"""

from __future__ import annotations

import numpy as np

# One file, as a user writes it: a lower-is-better metric, and a higher-is-better one with a CompressAI key (so it
# gets rate-quality and spread figures, and BD-rates).
TOY_METRICS = """
import numpy as np
from codecbench.metrics import psnr_from_mse, register_metric


@register_metric("max_abs_error", label="largest absolute error (8-bit)", higher_is_better=False)
def max_abs_error(reference, decoded):
    return float(np.max(np.abs(reference.astype(np.int16) - decoded)))


@register_metric("psnr_green", label="PSNR of the green channel (dB)", compressai_key="psnr-green")
def psnr_green(reference, decoded):
    return psnr_from_mse(float(np.mean((reference[..., 1].astype(np.float64) - decoded[..., 1]) ** 2)))
"""
TOY_NAMES = ("max_abs_error", "psnr_green")
# A dataset source of the user's, with an entry key of its own: `count` gradient images, 64x48.
TOY_SOURCE = """
import numpy as np
from codecbench.datasets import SourceImage, SourceSet, in_memory
from codecbench.datasets.sources import DatasetSource, register_source


def gradient(index):
    ramp = np.linspace(0, 255, 64)[None, :, None]
    return np.broadcast_to(ramp * [1.0, 0.5, 0.25] + 30 * index, (48, 64, 3)).clip(0, 255).astype(np.uint8)


def gradients(dataset, entry, downloads_dir):
    images = (SourceImage(f"g{i}", "test", "", in_memory(gradient(i), f"gradient {i}")) for i in range(entry["count"]))
    return SourceSet(images)


register_source(DatasetSource(
    name="gradients", description="synthetic colour ramps: unlabelled test images", read=gradients,
    options={"count": {"type": "integer", "minimum": 1, "description": "how many images"}},
))
"""


def toy_gradient(index: int) -> np.ndarray:
    """The plug-in source's image ``index``, computed here independently of it."""
    ramp = np.linspace(0, 255, 64)
    image = np.empty((48, 64, 3))
    for channel, weight in enumerate((1.0, 0.5, 0.25)):
        image[..., channel] = ramp[None, :] * weight + 30 * index
    return np.clip(image, 0, 255).astype(np.uint8)


# A codec of the user's: the top `quality` bits of every sample, stored as PNG.
TOY_CODEC = """
import io

import numpy as np
import PIL
from PIL import Image

from codecbench.codecs import Codec, register_codec


@register_codec
class Posterize(Codec):
    name = "posterize"
    extension = "png"
    quality_min, quality_max = 1, 8
    quality_doc = "bits kept per sample"
    description = "the top N bits of every sample, stored as PNG"
    option_schemas = {
        "compress_level": {"type": "integer", "minimum": 0, "maximum": 9, "default": 6, "description": "zlib level"}
    }

    def encode(self, image):
        shift = 8 - self.quality
        buffer = io.BytesIO()
        Image.fromarray((image >> shift) << shift).save(buffer, "PNG", compress_level=self.options["compress_level"])
        return buffer.getvalue()

    def decode(self, data, size=None):
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    @classmethod
    def version(cls):
        return f"posterize (Pillow {PIL.__version__})"
"""
# A task of the user's with a ready model: each image's mean level, scored against its reading of the uncompressed one.
TOY_TASK = """
import numpy as np
import pandas as pd

from codecbench.tasks import Task, register_task


@register_task
class Brightness(Task):
    name = "brightness"
    annotation_kind = "classes"  # unused: needed_annotation says any dataset will do
    setting_schemas = {"scale": {"type": "number", "exclusiveMinimum": 0, "default": 1.0, "description": "gain"}}
    scores = ("mean_abs_error",)
    lower_is_better = frozenset({"mean_abs_error"})
    sample_quality, sample_quality_label = "closeness", "closeness"
    reference_from_uncompressed = True

    @classmethod
    def is_pretrained(cls, settings):
        return True

    @classmethod
    def needed_annotation(cls, settings):
        return None

    def train(self, images, annotations, out_dir, device="auto", log=None):
        raise NotImplementedError("brightness needs no training")

    def load(self, checkpoint=None, device="auto"):
        self.device = "cpu"

    def predict(self, images, image_ids):
        values = [self.settings["scale"] * float(np.mean(image)) for image in images]
        return pd.DataFrame({"image_id": image_ids, "brightness": values})

    def reference_annotations(self, uncompressed_predictions, annotations):
        reference = uncompressed_predictions.rename(columns={"brightness": "reference"})
        return annotations.merge(reference, on="image_id", validate="1:1")

    def score(self, predictions, annotations):
        rows = predictions.merge(annotations[["image_id", "reference"]], on="image_id", validate="1:1")
        rows["abs_error"] = (rows.brightness - rows.reference).abs()
        rows["closeness"] = -rows.abs_error
        return rows, {"mean_abs_error": float(rows.abs_error.mean())}

    @classmethod
    def resampled_scores(cls, rows, weights):
        return {"mean_abs_error": weights @ rows.abs_error.to_numpy() / weights.sum(axis=1)}
"""
