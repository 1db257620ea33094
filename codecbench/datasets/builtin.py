"""Built-in datasets: images that installed packages ship, so the default run needs no download."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

BuiltinImages = Callable[[], Iterator[tuple[str, np.ndarray, str]]]
BUILTIN_DATASETS: dict[str, BuiltinImages] = {}


def register_builtin(name: str) -> Callable[[BuiltinImages], BuiltinImages]:
    def decorator(func: BuiltinImages) -> BuiltinImages:
        BUILTIN_DATASETS[name] = func
        return func

    return decorator


@register_builtin("photos")
def photos() -> Iterator[tuple[str, np.ndarray, str]]:
    """Eight real RGB photographs shipped by scikit-image, scikit-learn and matplotlib (0.13-0.37 MP each).

    Yields (image id, uint8 RGB array, where it came from).
    """
    import matplotlib.cbook
    import skimage.data
    from PIL import Image
    from sklearn.datasets import load_sample_image

    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        yield name, getattr(skimage.data, name)(), f"skimage.data.{name} (scikit-image)"
    yield "motorcycle", skimage.data.stereo_motorcycle()[0], "skimage.data.stereo_motorcycle left view"
    for name in ("china", "flower"):
        yield name, load_sample_image(f"{name}.jpg"), f"sklearn.datasets.load_sample_image('{name}.jpg')"
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle, Image.open(handle) as im:
        yield "grace_hopper", np.asarray(im.convert("RGB")), "matplotlib sample_data/grace_hopper.jpg"


@register_builtin("science")
def science() -> Iterator[tuple[str, np.ndarray, str]]:
    """Three RGB scientific photographs shipped by scikit-image (microscopy, astronomy, a retina; 0.26-2 MP):
    training material for learned codecs that is disjoint from ``photos``."""
    import skimage.data

    for name in ("immunohistochemistry", "hubble_deep_field", "retina"):
        yield name, getattr(skimage.data, name)(), f"skimage.data.{name} (scikit-image)"
