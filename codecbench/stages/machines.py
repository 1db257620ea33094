"""Compression for machines, the run's summary: every codec variant made for a vision model against its reference.

- ROI variants against their plain codecs: BD-rates on PSNR inside and outside the mask and whole-image MS-SSIM
  (from the ``roi_quality`` tables of :mod:`codecbench.stages.roi`), and on every task's score, with CIs and the
  mask's kind;
- codecs trained for a task (``task_loss``) against their ``compare_to`` (the same codec fine-tuned for as many
  steps without the task loss): BD-rates on every task's score on their datasets.

The task BD-rates come from each task's BD table, where :func:`codecbench.stages.task_tables.bd_on_task` puts every
variant against its reference; a row's ``scorer`` is the task, so that a gain scored by the model that drew the
mask or trained the codec can be told from one a second model confirms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = [
    "dataset", "codec", "compare_to", "strategy", "mask", "mask_kind", "coverage", "measure", "scorer",
    "bd_rate_pct", "bd_rate_ci_low", "bd_rate_ci_high", "bd_quality", "bd_quality_ci_low", "bd_quality_ci_high",
    "finding", "n_images",
]  # fmt: skip


def machines_summary(
    quality_tables: list[str | Path],
    task_bd_tables: dict[str, tuple[str, str | Path]],
    bd: dict,
    statistics: dict,
    trained: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """Per (dataset, ROI variant) against its plain codec: BD-rate on PSNR inside the mask, outside it and on
    whole-image MS-SSIM (scorer ``image``), and on each task's score (scorer: the task), with CIs, and the BD-quality
    (the mean difference in the measure at equal rate, e.g. dB lost outside the mask, available where BD-rate is not
    because the quality ranges do not overlap); ``finding`` is whether the BD-rate's CI, or without a BD-rate the
    BD-quality's, excludes no change. ``task_bd_tables``: task -> (its dataset, its bd_rate.csv). ``trained``: codec
    trained for a task -> ``compare_to``, ``datasets``, ``strategy`` (how it was trained, e.g. "task_loss gamma=1"),
    whose rows come from the task BD tables only (no mask: ``mask_kind`` "none")."""
    from ..stats.bd import bootstrap_bd

    rows = []
    for path in quality_tables:
        table = pd.read_csv(path, dtype={"image_id": str, "codec": str, "quality": str})
        for (dataset, variant), facts in table[table.role == "roi"].groupby(["dataset", "codec"], sort=False):
            first = facts.iloc[0]
            pair = table[(table["mask"] == first["mask"]) & table.codec.isin([variant, first.compare_to])]
            base = {
                "dataset": dataset, "codec": variant, "compare_to": first.compare_to, "strategy": first.strategy,
                "mask": first["mask"], "mask_kind": first.mask_kind, "coverage": float(facts.coverage.mean()),
            }  # fmt: skip
            for measure in [m for m in ("psnr_roi", "psnr_background", "ms_ssim") if m in pair]:
                result = bootstrap_bd(
                    pair, first.compare_to, variant, measure, method=bd["method"], n_boot=statistics["n_boot"],
                    seed=statistics["seed"], confidence=statistics["confidence"],
                )  # fmt: skip
                rows.append({**base, "measure": measure, "scorer": "image", **_bd_fields(result)})
            rows += _task_rows(base, task_bd_tables)
    for codec, facts in (trained or {}).items():
        for dataset in facts["datasets"]:
            base = {
                "dataset": dataset, "codec": codec, "compare_to": facts["compare_to"], "strategy": facts["strategy"],
                "mask": "", "mask_kind": "none", "coverage": np.nan,
            }  # fmt: skip
            rows += _task_rows(base, task_bd_tables)
    return pd.DataFrame(rows).reindex(columns=SUMMARY_COLUMNS)


def _task_rows(base: dict, task_bd_tables: dict[str, tuple[str, str | Path]]) -> list[dict]:
    """``base``'s codec against its reference in the BD table of each task on its dataset, one row per model."""
    rows = []
    for task, (task_dataset, bd_csv) in task_bd_tables.items():
        if task_dataset != base["dataset"]:
            continue
        task_bd = pd.read_csv(bd_csv, dtype={"codec": str, "anchor": str})
        found = task_bd[(task_bd.codec == base["codec"]) & (task_bd.anchor == base["compare_to"])]
        for row in found.itertuples(index=False):
            own = row.train_variant in ("original", "pretrained")
            scorer = task if own else f"{task} ({row.train_variant})"
            rows.append({**base, "measure": row.metric, "scorer": scorer, **_bd_fields(row._asdict())})
    return rows


def _bd_fields(result: dict) -> dict:
    fields = {
        key: result.get(key, np.nan)
        for key in ("bd_rate_pct", "bd_rate_ci_low", "bd_rate_ci_high", "bd_quality", "bd_quality_ci_low",
                    "bd_quality_ci_high", "n_images")
    }  # fmt: skip
    low, high = fields["bd_rate_ci_low"], fields["bd_rate_ci_high"]
    if not (np.isfinite(low) and np.isfinite(high)):
        low, high = fields["bd_quality_ci_low"], fields["bd_quality_ci_high"]
    fields["finding"] = bool(np.isfinite(low) and np.isfinite(high) and (high < 0 or low > 0))
    return fields


def write_machines_summary(out_csv: str | Path, **arguments) -> pd.DataFrame:
    """:func:`machines_summary` of ``arguments``, written to ``out_csv``."""
    from ..io import write_csv_atomic

    table = machines_summary(**arguments)
    write_csv_atomic(table, out_csv)
    return table
