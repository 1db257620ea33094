"""Video datasets (frames.csv and its checks, builtin moving_shapes, MOT17 archives, folders of videos and frame
folders), exact edges of the shapes builtins, and BSDS500 archives; archives are served on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dataset_builders import make_bsds, make_mot17, mot_cfg, sha256_of
from PIL import Image

from codecbench.datasets import (
    ANNOTATION_KINDS,
    FRAME_COLUMNS,
    SOURCES,
    DatasetError,
    annotation_kind,
    annotation_kinds,
    prepare_dataset,
    read_classes,
    read_frames,
    read_objects,
)
from codecbench.datasets import builtin as builtin_module
from codecbench.datasets.builtin import BuiltinImage, ObjectBox
from codecbench.datasets.download import DownloadError
from codecbench.datasets.edges import edges_file, read_edges
from codecbench.datasets.synthetic import (
    MOVING_CLIPS,
    MOVING_FPS,
    MOVING_FRAMES,
    MOVING_HEIGHT,
    MOVING_WIDTH,
    SHAPE_CLASSES,
    SHAPE_GAP,
    mask_boundary,
    masks_boundaries,
    moving_shapes,
    shape_scenes,
)


def prepare(name: str, cfg: dict, tmp_path: Path, out: str = "out") -> pd.DataFrame:
    return prepare_dataset(name, cfg, tmp_path / out, tmp_path / "dl")


# ---- annotation kinds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "primary", "kinds"),
    [
        ({"source": "builtin", "name": "shapes"}, "objects", {"objects", "edges"}),
        ({"source": "builtin", "name": "moving_shapes"}, "objects", {"objects", "edges"}),
        ({"source": "builtin", "name": "plates"}, "text", {"text"}),
        ({"source": "builtin", "name": "photos"}, None, set()),
        ({"source": "mot17", "sha256": "0" * 64}, "objects", {"objects"}),
        ({"source": "bsds500", "sha256": "0" * 64}, "edges", {"edges"}),
        ({"source": "video_folder", "path": "x"}, None, set()),
        ({"source": "coco"}, "objects", {"objects"}),
    ],
)
def test_annotation_kinds_list_every_kind_and_the_primary_one_stays(cfg, primary, kinds):
    assert annotation_kind(cfg, "d") == primary
    assert annotation_kinds(cfg, "d") == frozenset(kinds)
    assert "edges" in ANNOTATION_KINDS and {"mot17", "video_folder", "bsds500"} <= set(SOURCES)


# ---- frames.csv and its checks -------------------------------------------------------------------------------


def frame(clip, index, size=(8, 6), split="test", fps=5.0, image_id=None):
    image = np.full((size[1], size[0], 3), 10 * index, np.uint8)
    return BuiltinImage(image_id or f"{clip}__{index}", image, "test", split, "", (), None, clip, index, fps)


@pytest.fixture
def register(monkeypatch):
    """Register a throwaway builtin (removed after the test) yielding the given records."""

    def register(records, name="clips"):
        for registry in ("BUILTIN_DATASETS", "BUILTIN_KINDS", "BUILTIN_EXTRA_KINDS"):
            monkeypatch.setattr(builtin_module, registry, dict(getattr(builtin_module, registry)))
        import codecbench.datasets as datasets

        for registry in ("BUILTIN_DATASETS", "BUILTIN_KINDS", "BUILTIN_EXTRA_KINDS"):
            monkeypatch.setattr(datasets, registry, getattr(builtin_module, registry))
        builtin_module.register_builtin(name)(lambda: iter(records))
        return {"source": "builtin", "name": name}

    return register


def test_frames_csv_lists_clip_frame_and_fps(tmp_path, register):
    cfg = register([frame("a", 0), frame("a", 1), frame("b", 0, (4, 4), "train", 2.5)])
    manifest = prepare("v", cfg, tmp_path)
    frames = read_frames(tmp_path / "out")
    assert list(frames.columns) == FRAME_COLUMNS
    assert frames.values.tolist() == [["a__0", "a", 0, 5.0], ["a__1", "a", 1, 5.0], ["b__0", "b", 0, 2.5]]
    assert frames.frame.dtype.kind == "i" and frames.fps.dtype.kind == "f"
    assert frames.image_id.tolist() == manifest.image_id.tolist()
    # Re-prepared as stills into the same folder: no stale frames.csv.
    prepare("v", {"source": "builtin", "name": "photos", "max_images": 1}, tmp_path)
    assert read_frames(tmp_path / "out") is None


def test_clips_and_max_frames_select_frames(tmp_path, register):
    cfg = register([frame("a", i) for i in range(4)] + [frame("b", i) for i in range(3)])
    manifest = prepare("v", {**cfg, "max_frames": 2}, tmp_path)
    assert manifest.image_id.tolist() == ["a__0", "a__1", "b__0", "b__1"]
    manifest = prepare("v", {**cfg, "clips": ["b"]}, tmp_path)
    assert manifest.image_id.tolist() == ["b__0", "b__1", "b__2"]
    assert read_frames(tmp_path / "out").frame.tolist() == [0, 1, 2]
    manifest = prepare("v", {**cfg, "max_images": 5}, tmp_path)  # max_images counts frames, whole clips or not
    assert manifest.image_id.tolist() == ["a__0", "a__1", "a__2", "a__3", "b__0"]
    with pytest.raises(DatasetError, match=r"clips c are not in the dataset \(its clips: a, b\)"):
        prepare("v", {**cfg, "clips": ["a", "c"]}, tmp_path)
    with pytest.raises(DatasetError, match=r"max_frames is set but image 'astronaut' is not a frame of a clip"):
        prepare("p", {"source": "builtin", "name": "photos", "max_frames": 2}, tmp_path)


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([frame("a", 0), frame("a", 1, (8, 8))], r"clip 'a' frame 1 \(image 'a__1'\) is 8x8, .* but frame 0 is 8x6"),
        ([frame("a", 0), frame("a", 1, fps=6.0)], r"clip 'a' frame 1 .* 6\.0 fps but frame 0 .* 5\.0 fps"),
        (
            [frame("a", 0, split="train"), frame("a", 1)],
            r"clip 'a' frame 1 .* split test, .* but frame 0 .* split train",
        ),
        ([frame("a", 0), frame("a", 2)], r"clip 'a' frame 2 \(image 'a__2'\): expected frame 1"),
        ([frame("a", 1)], r"clip 'a' frame 1 \(image 'a__1'\): expected frame 0"),
        ([frame("a", 0), frame("b", 0), frame("a", 1)], r"clip 'a' frame 1 .* not contiguous"),
        ([frame("a", 0, fps=0.0)], r"clip 'a' frame 0 .* frame rate above 0"),
        ([frame("a", 0), ("still", np.zeros((4, 4, 3), np.uint8), "x")], r"image 'still' has no clip but earlier"),
        ([("still", np.zeros((4, 4, 3), np.uint8), "x"), frame("a", 0)], r"clip 'a' frame 0 follows image 'still'"),
    ],
)
def test_frames_that_break_the_clip_rules_are_errors(tmp_path, register, records, message):
    with pytest.raises(DatasetError, match=rf"dataset 'v': {message}"):
        prepare("v", register(records), tmp_path)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_read_frames_names_corrupt_files(tmp_path):
    (tmp_path / "frames.csv").write_text("image_id,clip,frame\na,b,0\n")
    with pytest.raises(DatasetError, match=r"frames\.csv has columns .* expected \['image_id', 'clip'"):
        read_frames(tmp_path)
    (tmp_path / "frames.csv").write_text("image_id,clip,frame,fps\na,b,0,5\nc,b,x,5\n")
    with pytest.raises(DatasetError, match=r"frames\.csv line 3: needs a clip name, a frame index"):
        read_frames(tmp_path)
    (tmp_path / "frames.csv").write_text("image_id,clip,frame,fps\na,b,0,0\n")
    with pytest.raises(DatasetError, match=r"frames\.csv line 2"):
        read_frames(tmp_path)


# ---- exact edges of the shapes builtins ------------------------------------------------------------------------


def test_mask_boundary_is_the_mask_minus_its_erosion():
    mask = np.zeros((7, 9), bool)
    mask[1:6, 3:8] = True  # a 5x5 square: its boundary is the square less its 3x3 interior
    mask[0:2, 0:2] = True  # a 2x2 block in the corner: the image border is not an edge, so (0, 0) is interior
    expected = mask.copy()
    expected[2:5, 4:7] = False
    expected[0, 0] = False
    assert mask_boundary(mask).tolist() == expected.tolist()


def test_shapes_edges_are_the_boundaries_of_the_drawn_masks(tmp_path):
    prepare("shapes", {"source": "builtin", "max_images": 2}, tmp_path)
    scenes = {scene.image_id: scene for scene in shape_scenes() if scene.image_id.endswith(("0000", "0001"))}
    assert sorted(p.stem for p in (tmp_path / "out" / "edges").iterdir()) == sorted(scenes)
    for image_id, scene in scenes.items():
        edges = read_edges(edges_file(tmp_path / "out", image_id))
        assert edges.shape == (1, 128, 128)
        assert np.array_equal(edges, masks_boundaries(scene.masks, (128, 128)))
        assert not (edges[0] & ~np.any(scene.masks, axis=0)).any()
    # Re-prepared without edges into the same folder: no stale maps.
    prepare("shapes", {"source": "builtin", "name": "photos", "max_images": 1}, tmp_path)
    assert not (tmp_path / "out" / "edges").exists()


# ---- builtin moving_shapes ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips():
    return list(moving_shapes())


def test_moving_shapes_is_deterministic_and_sized_as_documented(clips):
    again = list(moving_shapes())
    assert [r.image_id for r in again] == [r.image_id for r in clips]
    assert all(np.array_equal(a.image, b.image) and a.objects == b.objects for a, b in zip(again, clips, strict=True))
    assert all(np.array_equal(a.edges, b.edges) for a, b in zip(again, clips, strict=True))
    counts = {split: sum(r.split == split for r in clips) for split in ("train", "test")}
    assert counts == {split: n * MOVING_FRAMES for split, n in MOVING_CLIPS} == {"train": 80, "test": 40}
    assert clips[0].image_id == "train_00__000" and clips[-1].image_id == "test_01__019"
    assert {r.fps for r in clips} == {MOVING_FPS}
    for record in clips:
        assert record.image.shape == (MOVING_HEIGHT, MOVING_WIDTH, 3) and record.image.dtype == np.uint8
        assert record.image_id == f"{record.clip}__{record.frame:03d}"


def test_moving_shapes_boxes_are_exact_and_edges_on_their_outlines(clips):
    for record in clips:
        assert 2 <= len(record.objects) <= 4
        edges = record.edges[0]
        covered = np.zeros_like(edges)
        for box in record.objects:
            assert box.class_name in SHAPE_CLASSES
            x0, y0, x1, y1 = (int(v) for v in box[1:])
            assert (
                (x0, y0, x1, y1) == box[1:] and 1 <= x0 < x1 <= MOVING_WIDTH - 1 and 1 <= y0 < y1 <= MOVING_HEIGHT - 1
            )
            # The object's boundary spans exactly its box: its tight box is the box.
            inside = edges[y0:y1, x0:x1]
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            covered[y0:y1, x0:x1] = True
            # The boundary pixels carry the object's dark outline colour (one colour per object).
            assert len(np.unique(record.image[y0:y1, x0:x1][inside], axis=0)) == 1
        assert not (edges & ~covered).any()  # no edge outside the objects
        for i, a in enumerate(record.objects):  # objects never overlap: boxes stay SHAPE_GAP apart
            for b in record.objects[i + 1 :]:
                assert (
                    a.x_max + SHAPE_GAP <= b.x_min
                    or b.x_max + SHAPE_GAP <= a.x_min
                    or a.y_max + SHAPE_GAP <= b.y_min
                    or b.y_max + SHAPE_GAP <= a.y_min
                )


def test_moving_shapes_objects_and_background_move(clips):
    by_clip: dict[str, list] = {}
    for record in clips:
        by_clip.setdefault(record.clip, []).append(record)
    assert list(by_clip) == ["train_00", "train_01", "train_02", "train_03", "test_00", "test_01"]
    for frames in by_clip.values():
        assert [r.frame for r in frames] == list(range(MOVING_FRAMES))
        assert len({len(r.objects) for r in frames}) == 1  # the same objects throughout a clip
        assert [b.class_name for b in frames[0].objects] == [b.class_name for b in frames[-1].objects]
        assert frames[0].objects != frames[-1].objects  # they moved
        assert sum(not np.array_equal(a.image, b.image) for a, b in zip(frames, frames[1:], strict=False)) >= 15
    panning = 0
    for frames in by_clip.values():  # the background pans in most clips: first and last frames differ overall
        first, last = frames[0].image.astype(int), frames[-1].image.astype(int)
        panning += np.abs(first - last).mean() > 5
    assert panning >= 3


def test_moving_shapes_prepared_with_frames_objects_and_edges(tmp_path, clips):
    cfg = {"source": "builtin", "name": "moving_shapes", "clips": ["test_01"], "max_frames": 4}
    manifest = prepare("video", cfg, tmp_path)
    assert manifest.image_id.tolist() == [f"test_01__{i:03d}" for i in range(4)]
    assert (manifest.split == "test").all() and (manifest[["width", "height"]] == [160, 120]).all().all()
    assert read_frames(tmp_path / "out").values.tolist() == [
        [f"test_01__{i:03d}", "test_01", i, 10.0] for i in range(4)
    ]
    assert read_classes(tmp_path / "out") == list(SHAPE_CLASSES)
    records = {r.image_id: r for r in clips}
    expected = [[image_id, *box] for image_id in manifest.image_id for box in records[image_id].objects]
    assert read_objects(tmp_path / "out").values.tolist() == expected
    for image_id in manifest.image_id:
        assert np.array_equal(read_edges(edges_file(tmp_path / "out", image_id)), records[image_id].edges)
        stored = np.asarray(Image.open(tmp_path / "out" / "images" / f"{image_id}.png"))
        assert np.array_equal(stored, records[image_id].image)


# ---- MOT17 (a tiny archive in the official layout, served on 127.0.0.1) -----------------------------------------


def test_mot17_frames_boxes_and_fps(server, tmp_path):
    base, www = server
    archive = make_mot17(www)
    manifest = prepare("mot", mot_cfg(base, archive), tmp_path)  # default: MOT17-02-FRCNN only
    assert manifest.image_id.tolist() == [f"MOT17-02-FRCNN__{n:06d}" for n in range(1, 6)]
    assert (manifest.split == "test").all() and (manifest[["width", "height"]] == [40, 30]).all().all()
    assert manifest.source[0] == "MOT17/train/MOT17-02-FRCNN/img1/000001.jpg in MOT17.zip"
    frames = read_frames(tmp_path / "out")
    assert frames["clip"].unique().tolist() == ["MOT17-02-FRCNN"]
    assert frames.frame.tolist() == [0, 1, 2, 3, 4] and (frames.fps == 30.0).all()
    assert read_classes(tmp_path / "out") == ["person"]
    assert read_objects(tmp_path / "out").values.tolist() == [
        ["MOT17-02-FRCNN__000001", "person", 2.0, 3.0, 12.0, 15.0],  # 1-based left/top
        ["MOT17-02-FRCNN__000001", "person", 29.0, 19.0, 40.0, 29.0],  # clipped to the 40x30 image
        ["MOT17-02-FRCNN__000003", "person", 4.0, 3.0, 14.0, 15.0],
    ]
    stored = np.asarray(Image.open(tmp_path / "out" / "images" / "MOT17-02-FRCNN__000002.png"))
    assert abs(int(stored[..., 0].mean()) - 80) <= 3


def test_mot17_sequences_frame_step_and_max_frames(server, tmp_path):
    base, www = server
    archive = make_mot17(www)
    cfg = mot_cfg(base, archive, sequences=["MOT17-04-FRCNN", "MOT17-02-FRCNN"], frame_step=2, max_frames=2)
    manifest = prepare("mot", cfg, tmp_path)
    assert manifest.image_id.tolist() == [
        "MOT17-04-FRCNN__000001",
        "MOT17-04-FRCNN__000003",
        "MOT17-02-FRCNN__000001",
        "MOT17-02-FRCNN__000003",
    ]
    frames = read_frames(tmp_path / "out")
    assert frames.frame.tolist() == [0, 1, 0, 1] and frames.fps.tolist() == [12.5, 12.5, 15.0, 15.0]
    assert manifest.width.tolist() == [32, 32, 40, 40]
    manifest = prepare("mot", mot_cfg(base, archive, sequences=["MOT17-04-FRCNN"], clips=["MOT17-04-FRCNN"]), tmp_path)
    assert len(manifest) == 4


def test_mot17_checksums(server, tmp_path):
    base, www = server
    archive = make_mot17(www)
    with pytest.raises(DownloadError, match=r"sha256 mismatch for http://127\.0\.0\.1:\d+/MOT17\.zip"):
        prepare("mot", mot_cfg(base, archive, sha256="0" * 64), tmp_path)
    assert not (tmp_path / "out" / "manifest.csv").exists()
    with pytest.raises(DatasetError, match=r"no published checksum.* set datasets\.mot\.sha256"):
        prepare("mot", {"source": "mot17"}, tmp_path)
    with pytest.raises(DatasetError, match=r"sequences MOT17-09-FRCNN are not train sequences of MOT17\.zip"):
        prepare("mot", mot_cfg(base, archive, sequences=["MOT17-09-FRCNN"]), tmp_path)
    # A local copy of the archive needs no download; a sha256 given is still checked.
    manifest = prepare("mot", {"source": "mot17", "path": str(archive), "max_frames": 1}, tmp_path)
    assert manifest.image_id.tolist() == ["MOT17-02-FRCNN__000001"]
    with pytest.raises(DatasetError, match=r"sha256 mismatch for .*MOT17\.zip"):
        prepare("mot", {"source": "mot17", "path": str(archive), "sha256": "0" * 64}, tmp_path)


# ---- folders of videos and frame folders ---------------------------------------------------------------------


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=fps, codec="ffv1", pix_fmt_out="bgr0", macro_block_size=1
    )
    writer.send(None)
    for image in frames:
        writer.send(np.ascontiguousarray(image))
    writer.close()


def make_video_folder(root: Path) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(6)]
    root.mkdir()
    write_video(root / "walk.mkv", frames, 5)
    (root / "stills").mkdir()
    for index in range(3):
        Image.new("RGB", (10, 8), (index * 50, 0, 0)).save(root / "stills" / f"f{index:02d}.png")
    (root / "notes.txt").write_text("not a clip")
    return frames


def test_video_folder_decodes_videos_and_frame_folders(tmp_path):
    frames = make_video_folder(tmp_path / "videos")
    manifest = prepare("vids", {"source": "video_folder", "path": str(tmp_path / "videos"), "fps": 12}, tmp_path)
    ids = ["stills__f00", "stills__f01", "stills__f02"] + [f"walk__{i:06d}" for i in range(6)]
    assert manifest.image_id.tolist() == ids and (manifest.split == "test").all() and (manifest.label == "").all()
    table = read_frames(tmp_path / "out")
    assert table["clip"].tolist() == ["stills"] * 3 + ["walk"] * 6
    assert table.frame.tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 5]
    assert table.fps.tolist() == [12.0] * 3 + [5.0] * 6  # a video's own rate
    for index, image in enumerate(frames):  # ffv1 in RGB is lossless
        stored = np.asarray(Image.open(tmp_path / "out" / "images" / f"walk__{index:06d}.png"))
        assert np.array_equal(stored, image)
    assert manifest.source.iloc[3].endswith("walk.mkv frame 0")
    assert manifest.source_sha256.iloc[3] == sha256_of(tmp_path / "videos" / "walk.mkv")


def test_video_folder_clips_and_max_frames(tmp_path):
    make_video_folder(tmp_path / "videos")
    cfg = {"source": "video_folder", "path": str(tmp_path / "videos")}
    manifest = prepare("vids", {**cfg, "clips": ["walk"], "max_frames": 2}, tmp_path)
    assert manifest.image_id.tolist() == ["walk__000000", "walk__000001"]
    manifest = prepare("vids", {**cfg, "max_frames": 1}, tmp_path)
    assert manifest.image_id.tolist() == ["stills__f00", "walk__000000"]
    assert read_frames(tmp_path / "out").fps.tolist() == [25.0, 5.0]  # frame folders default to 25 fps
    with pytest.raises(DatasetError, match=r"clips run are not in .*videos \(its clips: stills, walk\)"):
        prepare("vids", {**cfg, "clips": ["run"]}, tmp_path)
    Image.new("RGB", (4, 4)).save(tmp_path / "videos" / "stray.png")
    with pytest.raises(DatasetError, match=r"image files directly in .*videos \(stray\.png\)"):
        prepare("vids", cfg, tmp_path)


# ---- BSDS500 (a tiny archive in the official layout, served on 127.0.0.1) ---------------------------------------


def test_bsds500_images_and_all_annotators_boundaries(server, tmp_path):
    base, www = server
    written = make_bsds(www)
    archive = www / "BSR_bsds500.tgz"
    cfg = {"source": "bsds500", "url": f"{base}/{archive.name}", "sha256": sha256_of(archive)}
    manifest = prepare("bsds", cfg, tmp_path)
    assert manifest.image_id.tolist() == ["100075", "2092", "1", "100007", "100039"]  # train, then test; id order
    assert manifest.split.tolist() == ["train", "train", "test", "test", "test"]
    assert manifest.source[0] == "BSR/BSDS500/data/images/train/100075.jpg in BSR_bsds500.tgz"
    assert manifest[["width", "height"]].values.tolist()[-2:] == [[12, 8], [8, 12]]
    for image_id in manifest.image_id:
        stored = read_edges(edges_file(tmp_path / "out", image_id))
        assert stored.dtype == bool and np.array_equal(stored, written[image_id])
    assert read_frames(tmp_path / "out") is None and not (tmp_path / "out" / "objects.csv").exists()
    manifest = prepare("bsds", {**cfg, "splits": {"test": ["val", "test"]}, "max_images": 2}, tmp_path)
    assert manifest.image_id.tolist() == ["1", "100007"] and (manifest.split == "test").all()
    assert sorted(p.stem for p in (tmp_path / "out" / "edges").iterdir()) == ["1", "100007"]
    manifest = prepare("bsds", {**cfg, "splits": {"test": "val"}}, tmp_path)
    assert manifest.image_id.tolist() == ["3096"]


def test_bsds500_checksums_and_bad_options(server, tmp_path):
    base, www = server
    make_bsds(www)
    archive = www / "BSR_bsds500.tgz"
    cfg = {"source": "bsds500", "url": f"{base}/{archive.name}", "sha256": "0" * 64}
    with pytest.raises(DownloadError, match=r"sha256 mismatch for http://127\.0\.0\.1:\d+/BSR_bsds500\.tgz"):
        prepare("bsds", cfg, tmp_path)
    with pytest.raises(DatasetError, match=r"BSDS500 archive has no published checksum.*datasets\.bsds\.sha256"):
        prepare("bsds", {"source": "bsds500"}, tmp_path)
    with pytest.raises(DatasetError, match=r"splits\.train names 'test': each of train, val, test may be used once"):
        prepare("bsds", {**cfg, "splits": {"test": ["test"], "train": ["test"]}}, tmp_path)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_object_box_of_builtin_records_is_unchanged():
    # BuiltinImage grew optional fields at its end: positional records of the older form still work.
    record = BuiltinImage("a", np.zeros((2, 2, 3), np.uint8), "o", "train", "", (ObjectBox("x", 0, 0, 1, 1),))
    assert record.edges is None and record.clip is None and record.frame is None and record.fps is None


def test_frame_folders_play_in_numeric_order(tmp_path):
    # ffmpeg's default %d.png names: 1, 2, 10 must be frames 0, 1, 2 (not 1, 10, 2).
    (tmp_path / "videos" / "clip").mkdir(parents=True)
    for number in (1, 2, 10):
        Image.new("RGB", (8, 8), (number * 20, 0, 0)).save(tmp_path / "videos" / "clip" / f"{number}.png")
    prepare("vids", {"source": "video_folder", "path": str(tmp_path / "videos")}, tmp_path)
    table = read_frames(tmp_path / "out")
    assert table.set_index("image_id").frame.to_dict() == {"clip__1": 0, "clip__2": 1, "clip__10": 2}
