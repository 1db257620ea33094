"""Region-of-interest masks: made from a dataset's boxes, its edge maps, saliency or a user's files, stored with
their coverage and refused when edited afterwards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from codecbench.datasets import prepare_dataset, read_objects
from codecbench.masks import MaskError, StoredMasks, box_mask, make_masks, read_mask, regions


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    prepare_dataset("shapes", {"source": "builtin", "max_images": 3}, folder, folder / "downloads")
    return folder


def test_box_mask_grows_each_box_and_clips_it_to_the_image():
    mask = box_mask([(2.5, 3, 6, 7), (8, 0, 10, 2)], height=8, width=10, dilate_px=1)
    expected = np.zeros((8, 10), dtype=bool)
    expected[2:8, 1:7] = True  # y 3..7 -> 2..8 (clipped at 8), x floor(2.5)=2..6 -> 1..7
    expected[0:3, 7:10] = True  # y 0..2 -> 0..3, x 8..10 -> 7..10 (clipped)
    np.testing.assert_array_equal(mask, expected)


def test_regions_are_the_bounding_boxes_of_the_parts_and_never_lose_a_pixel():
    mask = np.zeros((20, 30), dtype=bool)
    mask[1:4, 2:6] = True  # 3 x 4
    mask[10:18, 20:29] = True  # 8 x 9, the largest
    mask[15, 2] = True  # one pixel
    assert regions(mask) == [(20, 10, 9, 8), (2, 1, 4, 3), (2, 15, 1, 1)]
    merged = regions(mask, max_regions=2)
    assert merged == [(20, 10, 9, 8), (2, 1, 4, 15)]  # the two smaller parts share one box that covers both
    covered = np.zeros_like(mask)
    for x, y, w, h in merged:
        covered[y : y + h, x : x + w] = True
    assert covered[mask].all()


def test_masks_from_the_boxes_are_the_dilated_ground_truth_with_their_coverage(shapes, tmp_path):
    table = make_masks(shapes / "manifest.csv", "gt", {"source": "boxes", "dilate_px": 3}, tmp_path / "gt")
    objects = read_objects(shapes)
    manifest = pd.read_csv(shapes / "manifest.csv", dtype={"image_id": str})
    test = manifest[manifest.split == "test"]
    assert list(table.image_id) == list(test.image_id)
    assert set(table.mask_kind) == {"oracle"} and set(table.mask_source) == {"boxes"}
    for row in table.itertuples(index=False):
        height, width = int(row.height), int(row.width)
        expected = np.zeros((height, width), dtype=bool)
        for box in objects[objects.image_id == row.image_id].itertuples(index=False):
            top, left = max(0, int(np.floor(box.y_min)) - 3), max(0, int(np.floor(box.x_min)) - 3)
            expected[top : int(np.ceil(box.y_max)) + 3, left : int(np.ceil(box.x_max)) + 3] = True
        stored = StoredMasks(tmp_path / "gt" / "masks.csv")[row.image_id]
        np.testing.assert_array_equal(stored, expected)
        assert row.coverage == pytest.approx(expected.mean())
    assert 0 < table.coverage.mean() < 1


def test_an_edited_mask_file_is_refused_by_name(shapes, tmp_path):
    make_masks(shapes / "manifest.csv", "gt", {"source": "boxes"}, tmp_path / "gt")
    stored = StoredMasks(tmp_path / "gt" / "masks.csv")
    image_id = stored.table.image_id.iloc[0]
    path = tmp_path / "gt" / f"{image_id}.png"
    Image.fromarray(np.full((128, 128), 255, np.uint8)).save(path)
    with pytest.raises(MaskError, match=rf"mask file {path} is missing or changed"):
        stored[image_id]
    with pytest.raises(MaskError, match="has no mask for image 'nope'"):
        stored["nope"]


def test_saliency_masks_cover_the_asked_fraction(shapes, tmp_path):
    table = make_masks(shapes / "manifest.csv", "sal", {"source": "saliency", "coverage": 0.2}, tmp_path / "sal")
    assert set(table.mask_kind) == {"weight-free"}
    np.testing.assert_allclose(table.coverage, 0.2, atol=1 / (128 * 128))


def test_user_files_are_thresholded_and_a_missing_or_wrong_sized_one_is_named(shapes, tmp_path):
    manifest = pd.read_csv(shapes / "manifest.csv", dtype={"image_id": str})
    ids = list(manifest[manifest.split == "test"].image_id)
    folder = tmp_path / "depth"
    folder.mkdir()
    depth = np.tile(np.arange(128, dtype=np.uint8)[None, :] * 2, (128, 1))  # a left-to-right ramp 0..254
    for image_id in ids:
        Image.fromarray(depth).save(folder / f"{image_id}.png")
    settings = {"source": "files", "path": str(folder), "threshold": 200}
    table = make_masks(shapes / "manifest.csv", "near", settings, tmp_path / "near")
    assert set(table.mask_kind) == {"user"}
    np.testing.assert_allclose(table.coverage, (depth >= 200).mean())
    inverted = make_masks(shapes / "manifest.csv", "far", {**settings, "invert": True}, tmp_path / "far")
    np.testing.assert_allclose(inverted.coverage, (depth < 200).mean())
    (folder / f"{ids[0]}.png").unlink()
    with pytest.raises(MaskError, match=rf"no mask for image {ids[0]!r} in {folder}"):
        make_masks(shapes / "manifest.csv", "near", settings, tmp_path / "again")
    Image.fromarray(depth[:64]).save(folder / f"{ids[0]}.png")
    with pytest.raises(MaskError, match=r"is 128x64, but its image is 128x128"):
        make_masks(shapes / "manifest.csv", "near", settings, tmp_path / "again")


def test_read_mask_names_an_unreadable_file(tmp_path):
    path = tmp_path / "mask.png"
    path.write_bytes(b"not a png")
    with pytest.raises(MaskError, match=rf"cannot read mask {path}"):
        read_mask(path)


def test_an_unreadable_mask_is_named_even_after_ultralytics_wraps_pillow(tmp_path):
    import ultralytics  # noqa: F401  (importing it replaces PIL.Image.open with its wrapper)

    path = tmp_path / "mask.png"
    path.write_bytes(b"not a png")
    with pytest.raises(MaskError, match=rf"cannot read mask {path}: cannot identify image file"):
        read_mask(path)
