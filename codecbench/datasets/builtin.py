"""Built-in datasets: images that installed packages ship, so the default run needs no download.

A built-in set is a function registered with :func:`register_builtin` that yields :class:`BuiltinImage` records,
or plain ``(image id, uint8 RGB array, origin)`` tuples for an unlabelled set whose images are all "test". Its
registration names its annotation kind: "classes" (``label`` is a class name), "objects" (each record lists its
:class:`ObjectBox` es, ``label`` is "") or "text" (``label`` is the text the image shows); none for unlabelled sets.
A set may have extra kinds (``also``) that live beside the label in their own files: "edges" (each record has its
boundary maps, see :mod:`.edges`). A video set's records name their ``clip``, ``frame`` (0-based, in display order)
and ``fps`` (see the frames.csv format in :mod:`codecbench.datasets`). The synthetic sets (``shapes``,
``moving_shapes``, ``plates``) live in :mod:`.synthetic`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np


class ObjectBox(NamedTuple):
    """One annotated object: its class name and box in pixels of the prepared image. ``x_max`` and ``y_max`` are
    the exclusive far edges: a box over pixel columns 10..19 has ``x_min`` 10 and ``x_max`` 20."""

    class_name: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float


class BuiltinImage(NamedTuple):
    """One image of a built-in set; ``split`` is "train" or "test", ``label`` its class name or text ("" if
    unlabelled or annotated with ``objects``)."""

    image_id: str
    image: np.ndarray
    origin: str
    split: str = "test"
    label: str = ""
    objects: tuple[ObjectBox, ...] = ()
    edges: np.ndarray | None = None  # "edges" sets: bool (annotators, height, width) or (height, width) maps
    clip: str | None = None  # video sets: the clip the frame belongs to, its 0-based frame index and frame rate
    frame: int | None = None
    fps: float | None = None


BuiltinImages = Callable[[], Iterator[BuiltinImage | tuple[str, np.ndarray, str]]]
BUILTIN_DATASETS: dict[str, BuiltinImages] = {}
BUILTIN_KINDS: dict[str, str | None] = {}  # name -> annotation kind: "classes", "objects", "text" or None
BUILTIN_EXTRA_KINDS: dict[str, tuple[str, ...]] = {}  # name -> its extra annotation kinds (EXTRA_KINDS)
BUILTIN_CLASSES: dict[str, tuple[str, ...]] = {}  # "objects" sets -> their class names in index order
BUILTINS_WITH_TRAIN_SPLIT: set[str] = set()
VIDEO_BUILTINS: set[str] = set()  # built-in sets of video clips (their records name clip, frame and fps)
LABELLED_BUILTINS: set[str] = set()  # built-in sets with class labels and a train/test split (classification)
# Every annotation kind, with what it is in words (error messages say what a task needs).
ANNOTATION_KINDS = {
    "classes": "class labels",  # a task whose model trains also needs a train split, checked on its own
    "objects": "object boxes",
    "text": "text transcriptions",
    "edges": "edge ground truth",
}
EXTRA_KINDS = ("edges",)  # kinds a set can have beside its primary one: they do not use the label

DIGITS_SIDE = 32  # load_digits' 8x8 images are enlarged to this side
DIGITS_TEST_FRACTION = 0.2


def register_builtin(
    name: str,
    kind: str | None = None,
    classes: tuple[str, ...] = (),
    train_split: bool = False,
    also: tuple[str, ...] = (),
    video: bool = False,
) -> Callable[[BuiltinImages], BuiltinImages]:
    """Register a built-in set under ``name`` with its (primary) annotation kind; an "objects" set names its
    ``classes``; ``train_split``: it has train images (what a task that trains needs); ``also``: its extra kinds
    (EXTRA_KINDS, e.g. "edges" for a detection set whose records also carry boundary maps); ``video``: its records
    are frames of clips."""
    if kind is not None and kind not in ANNOTATION_KINDS:
        raise ValueError(f"builtin {name!r}: annotation kind {kind!r} is not one of {tuple(ANNOTATION_KINDS)} or None")
    if (kind == "objects") != bool(classes):
        raise ValueError(f"builtin {name!r}: give classes exactly when the annotation kind is 'objects'")
    if any(extra not in EXTRA_KINDS or extra == kind for extra in also):
        raise ValueError(f"builtin {name!r}: extra kinds {also} must be among {EXTRA_KINDS}, apart from {kind!r}")

    def decorator(func: BuiltinImages) -> BuiltinImages:
        BUILTIN_DATASETS[name] = func
        BUILTIN_KINDS[name] = kind
        BUILTIN_EXTRA_KINDS[name] = tuple(also)
        if train_split:
            BUILTINS_WITH_TRAIN_SPLIT.add(name)
        if video:
            VIDEO_BUILTINS.add(name)
        if kind == "objects":
            BUILTIN_CLASSES[name] = tuple(classes)
        if kind == "classes":
            LABELLED_BUILTINS.add(name)
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


PHOTO_CROP_SIDE = 224  # an ImageNet classifier's input side
PHOTO_CROP_SCALE = 448  # each photo's shorter side before its corner and centre crops


@register_builtin("photo_crops")
def photo_crops() -> Iterator[tuple[str, np.ndarray, str]]:
    """Six 224 x 224 views of each of the eight ``photos`` (48 images): the photo as an ImageNet classifier sees
    it (shorter side resized to 256, centre crop), and its four corner and centre crops after resizing its shorter
    side to 448 (Lanczos, antialiased). The images are already a classifier's input: compressing them is
    compressing after resizing, and their parts of scenes are harder to read than whole photos."""
    from PIL import Image

    side = PHOTO_CROP_SIDE
    for name, image, origin in photos():
        picture = Image.fromarray(image)
        for label, shorter in (("whole", 256), ("part", PHOTO_CROP_SCALE)):
            scale = shorter / min(picture.size)
            width, height = round(picture.width * scale), round(picture.height * scale)
            resized = picture.resize((width, height), Image.Resampling.LANCZOS)
            centre = ((width - side) // 2, (height - side) // 2)
            corners = [(0, 0), (width - side, 0), (0, height - side), (width - side, height - side)]
            boxes = (
                {"centre": centre}
                if label == "whole"
                else {"centre": centre}
                | dict(zip(("top_left", "top_right", "bottom_left", "bottom_right"), corners, strict=True))
            )
            for where, (left, top) in boxes.items():
                crop = np.asarray(resized.crop((left, top, left + side, top + side))).copy()
                yield f"{name}_{label}_{where}", crop, f"{origin}, {label} view, {where} crop of {side} px"


@register_builtin("science")
def science() -> Iterator[tuple[str, np.ndarray, str]]:
    """Three RGB scientific photographs shipped by scikit-image (microscopy, astronomy, a retina; 0.26-2 MP):
    training material for learned codecs that is disjoint from ``photos``."""
    import skimage.data

    for name in ("immunohistochemistry", "hubble_deep_field", "retina"):
        yield name, getattr(skimage.data, name)(), f"skimage.data.{name} (scikit-image)"


def digit_image(values: np.ndarray) -> np.ndarray:
    """One 8x8 ``load_digits`` image (values 0..16) as a 32x32 uint8 RGB array.

    The values are scaled to 0..255 and rounded (``rint(v * 255 / 16)``; 8 -> 128), enlarged 4x with Pillow's
    bilinear filter (smooth strokes for the codecs, not nearest-neighbour blocks) and the gray replicated to RGB.
    """
    from PIL import Image

    gray = np.rint(np.asarray(values, dtype=np.float64) * 255 / 16).astype(np.uint8)
    enlarged = Image.fromarray(gray, "L").resize((DIGITS_SIDE, DIGITS_SIDE), Image.Resampling.BILINEAR)
    return np.repeat(np.asarray(enlarged)[:, :, None], 3, axis=2)


@register_builtin("digits", kind="classes", train_split=True)
def digits() -> Iterator[BuiltinImage]:
    """scikit-learn's 1,797 handwritten digits (``load_digits``) as 32x32 RGB (see :func:`digit_image`), labelled
    "0".."9", ids ``d0000``..``d1796`` in ``load_digits`` order.

    The split is fixed: a stratified 20% test set drawn by ``train_test_split(random_state=0)`` (360 test, 1,437
    train), so every run and machine gets the same one.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    indices = np.arange(len(data.target))
    _, test = train_test_split(indices, test_size=DIGITS_TEST_FRACTION, random_state=0, stratify=data.target)
    test = set(test.tolist())
    for index, (values, target) in enumerate(zip(data.images, data.target, strict=True)):
        split = "test" if index in test else "train"
        origin = f"sklearn.datasets.load_digits() image {index}"
        yield BuiltinImage(f"d{index:04d}", digit_image(values), origin, split, str(int(target)))
