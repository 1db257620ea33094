"""ROI variants through the workflow: masks are a stage of their own, each variant's rows sit beside its plain codec's
in the tables, and the plan reruns only the variants whose mask or settings changed."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from snakemake_project import finished_run, planned_jobs, write_config

ROI = {
    "datasets": {"shapes": {"source": "builtin", "max_images": 3}},
    "codecs": {
        "jpeg": {"qualities": [30, 60, 90]},
        "webp": {"qualities": [30, 60, 90]},
        "jpeg_roi": {
            "codec": "jpeg",
            "qualities": [30, 60, 90],
            "roi": {"mask": "boxes", "strategy": "background_jpeg", "background_quality": 5},
        },
        "webp_blur": {"codec": "webp", "qualities": [30, 60, 90], "roi": {"mask": "salient", "strategy": "prefilter"}},
    },
    "masks": {"boxes": {"source": "boxes", "dilate_px": 2}, "salient": {"source": "saliency", "coverage": 0.3}},
    "metrics": ["psnr_rgb", "ssim"],
    "bd": {"metrics": ["psnr_rgb"]},
    "statistics": {"n_boot": 100},
}
# What follows any change of one variant's points: its quality table and JSON, the dataset's tables and figures,
# the ROI tables and figures, and the run's summaries.
FOLLOWERS = [
    "all",
    "bd_rate",
    "complexity",
    "dataset_figures[dataset=shapes]",
    "findings",
    "provenance",
    "quality_table",
    "machines_figure",
    "roi_figures[dataset=shapes]",
    "roi_quality[dataset=shapes]",
    "machines_summary",
    "stage_costs",
    "summary",
]


@pytest.fixture(scope="module")
def roi_run(tmp_path_factory, photo):
    return finished_run(tmp_path_factory, photo, "roi", ROI)


def test_variants_have_their_own_rows_and_their_mask_costs_no_bits(roi_run):
    quality = pd.read_csv(roi_run / "results" / "tables" / "quality.csv", dtype={"image_id": str})
    assert set(quality.codec) == {"jpeg", "webp", "jpeg_roi", "webp_blur"}
    masks = pd.read_csv(roi_run / "results" / "masks" / "shapes" / "boxes" / "masks.csv", dtype={"image_id": str})
    assert len(masks) == 3 and masks.coverage.between(0.01, 0.99).all()
    # bpp is the stored file, the same accounting as any codec: bytes x 8 / pixels.
    point = roi_run / "results" / "compressed" / "shapes" / "jpeg_roi" / "60" / "bitstreams"
    rows = quality[(quality.codec == "jpeg_roi") & (quality.quality == 60)]
    for row in rows.itertuples(index=False):
        size = (point / f"{row.image_id}.jpg").stat().st_size
        assert row.bytes == size and row.bpp == pytest.approx(size * 8 / (row.width * row.height))
    plain = quality[(quality.codec == "jpeg") & (quality.quality == 60)].set_index("image_id")
    assert (rows.set_index("image_id").bytes < plain.bytes).all()

    table = pd.read_csv(roi_run / "results" / "tables" / "shapes" / "roi_quality.csv", dtype={"image_id": str})
    roi = table[(table.codec == "jpeg_roi")].set_index(["quality", "image_id"])
    base = table[(table.codec == "jpeg") & (table["mask"] == "boxes")].set_index(["quality", "image_id"])
    assert (roi.psnr_background < base.psnr_background).all()
    assert (roi.psnr_roi - base.psnr_roi).abs().max() < 1.0  # the region's blocks are the plain file's
    summary = pd.read_csv(roi_run / "results" / "tables" / "machines.csv")
    assert set(summary.codec) == {"jpeg_roi", "webp_blur"}
    assert set(summary[summary.codec == "jpeg_roi"].mask_kind) == {"oracle"}
    assert set(summary[summary.codec == "webp_blur"].mask_kind) == {"weight-free"}
    assert set(summary.measure) >= {"psnr_roi", "psnr_background"}
    for name in ("machines_bd.png", "shapes/roi_quality.png", "shapes/roi_gallery.png"):
        assert (roi_run / "results" / "figures" / name).stat().st_size > 1000


def test_changing_a_mask_reruns_only_the_variants_that_read_it(roi_run):
    cfg = copy.deepcopy(ROI)
    cfg["masks"]["boxes"]["dilate_px"] = 6
    jobs = planned_jobs(roi_run, write_config(roi_run, cfg, "mask.yaml"))
    assert jobs == sorted(
        [
            "make_masks[dataset=shapes, mask=boxes]",
            "compress_ladder[dataset=shapes, codec=jpeg_roi]",
            *FOLLOWERS,
        ]
    )


def test_changing_a_variants_settings_reruns_only_that_variant(roi_run):
    cfg = copy.deepcopy(ROI)
    cfg["codecs"]["webp_blur"]["roi"]["strength"] = 5
    jobs = planned_jobs(roi_run, write_config(roi_run, cfg, "settings.yaml"))
    assert jobs == sorted(["compress_ladder[dataset=shapes, codec=webp_blur]", *FOLLOWERS])
