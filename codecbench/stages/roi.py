"""Region-of-interest tables: what an ROI variant does inside and outside its mask, and what it gains for a task.

``roi_quality`` (per dataset): for each ROI variant and its plain codec, per point and image, PSNR inside the mask
and outside it beside the whole-image metrics of the quality table (what a human loses) and the mask's coverage.
:mod:`codecbench.stages.machines` (the run): per (dataset, variant) the BD-rates against the plain codec on PSNR
inside and outside the mask and on whole-image MS-SSIM, and per task on that dataset the BD-rate on the task score
with its CI, labelled with the mask's kind, so that a gain measured with a ground-truth (oracle) mask, or with the
model that drew the mask, is never read as a deployable one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import write_csv_atomic

QUALITY_COLUMNS = [
    "dataset", "codec", "role", "compare_to", "strategy", "mask", "mask_kind", "quality", "image_id", "bpp",
    "coverage", "psnr_roi", "psnr_background",
]  # fmt: skip


def masked_psnr(reference: np.ndarray, decoded: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, RGB, peak 255) over the pixels where ``mask`` is True; NaN when it selects none, inf when equal."""
    from ..metrics import psnr_from_mse

    if not mask.any():
        return float("nan")
    difference = reference[mask].astype(np.float64) - decoded[mask].astype(np.float64)
    return psnr_from_mse(float(np.mean(difference**2)))


def roi_quality(
    dataset: str,
    manifest_csv: str | Path,
    variants: dict[str, dict[str, Any]],
    masks: dict[str, str | Path],
    readings: dict[str, dict[str, Any]],
    rates: dict[str, str | Path],
    quality: dict[str, str | Path],
) -> pd.DataFrame:
    """Per image of every point of each ROI variant and of its plain codec (``role`` roi / plain), PSNR inside and
    outside the variant's mask, with the quality table's whole-image metrics joined on.

    ``variants``: variant -> ``{"compare_to", "strategy", "mask"}``; ``masks``: mask id -> its masks.csv;
    ``readings``: codec -> what reading its points needs (the workflow's ``codec_reading``); ``rates`` and
    ``quality``: codec -> its ladder's rate rows and quality table. The plain codec's points are decoded once per
    mask."""
    from ..datasets import read_split
    from ..io import read_rgb
    from ..masks import StoredMasks
    from .points import ladder_images, read_rates

    manifest_csv = Path(manifest_csv)
    files = dict(read_split(manifest_csv, "test")[["image_id", "file"]].itertuples(index=False))
    references: dict[str, np.ndarray] = {}
    stored = {mask: StoredMasks(path) for mask, path in masks.items()}
    read_masks: dict[tuple[str, str], np.ndarray] = {}  # (mask id, image id) -> mask: read once, for every point
    rows, done = [], set()
    for variant, facts in variants.items():
        mask_id = facts["mask"]
        kind = str(stored[mask_id].table.mask_kind.iloc[0]) if len(stored[mask_id].table) else ""
        coverage = dict(stored[mask_id].table[["image_id", "coverage"]].itertuples(index=False))
        for codec, role in ((variant, "roi"), (facts["compare_to"], "plain")):
            if (codec, mask_id) in done:
                continue
            done.add((codec, mask_id))
            ladder = read_rates(rates[codec])
            for point_quality in ladder.quality.drop_duplicates():
                images = ladder_images(readings[codec], dataset, codec, point_quality, ladder, f"dataset {dataset!r}")
                for index, row in enumerate(images.rows.itertuples(index=False)):
                    if row.image_id not in references:
                        references[row.image_id] = read_rgb(manifest_csv.parent / files[row.image_id])
                    reference, decoded = references[row.image_id], images[index]
                    if (mask_id, row.image_id) not in read_masks:
                        read_masks[(mask_id, row.image_id)] = stored[mask_id][row.image_id]
                    mask = read_masks[(mask_id, row.image_id)]
                    rows.append(
                        [dataset, codec, role, facts["compare_to"], facts["strategy"] if role == "roi" else "",
                         mask_id, kind, point_quality, row.image_id, row.bpp, coverage[row.image_id],
                         masked_psnr(reference, decoded, mask), masked_psnr(reference, decoded, ~mask)]
                    )  # fmt: skip
    table = pd.DataFrame(rows, columns=QUALITY_COLUMNS)
    whole = pd.concat(
        [pd.read_csv(quality[codec], dtype={"image_id": str, "codec": str}) for codec in dict.fromkeys(table.codec)],
        ignore_index=True,
    )
    metrics = [c for c in ("psnr_rgb", "ms_ssim", "ssim") if c in whole]
    whole = whole[["codec", "quality", "image_id", *metrics]].astype({"quality": str})
    table = table.astype({"quality": str}).merge(whole, on=["codec", "quality", "image_id"], how="left")
    return table


def write_roi_quality(out_csv: str | Path, **arguments: Any) -> pd.DataFrame:
    table = roi_quality(**arguments)
    write_csv_atomic(table, out_csv)
    return table
