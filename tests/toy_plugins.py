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
