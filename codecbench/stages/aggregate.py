"""Aggregation: the tidy table of every measurement, CompressAI-compatible JSON per (dataset, codec), per-point
means with bootstrap CIs, BD-rates against the anchor and the equal-rate tables."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..io import atomic_path, write_csv_atomic, write_text_atomic

KEY_COLUMNS = ["dataset", "codec", "quality", "image_id"]
# Our rate ratio and timing columns -> CompressAI's keys in ``results`` (each metric declares its own key).
COMPRESSAI_RATIO_AND_TIME_KEYS = {
    "compression_ratio": "compression-ratio",
    "encode_s": "encoding_time",
    "decode_s": "decoding_time",
}


def compressai_keys() -> dict[str, str]:
    """Our column -> CompressAI's key (their names where they have one): bpp, the metrics, then ratio and times."""
    from ..metrics import REGISTRY

    metric_keys = {name: metric.compressai_key for name, metric in REGISTRY.items() if metric.compressai_key}
    return {"bpp": "bpp", **metric_keys, **COMPRESSAI_RATIO_AND_TIME_KEYS}


def read_point_tables(paths: Iterable[str | Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype={"image_id": str, "dataset": str, "codec": str}) for p in paths]
    if not frames:
        raise ValueError("no per-point quality tables to aggregate")
    return pd.concat(frames, ignore_index=True)


def write_quality_table(
    point_tables: Iterable[str | Path], csv_path: str | Path, parquet_path: str | Path
) -> pd.DataFrame:
    """Concatenate per-point tables into one tidy table (one row per dataset, codec, quality, image)."""
    table = read_point_tables(point_tables).sort_values(KEY_COLUMNS, kind="stable", ignore_index=True)
    duplicated = table.duplicated(KEY_COLUMNS)
    if duplicated.any():
        raise ValueError(f"duplicate rows for {table.loc[duplicated, KEY_COLUMNS].head().to_dict('records')}")
    write_csv_atomic(table, csv_path)
    with atomic_path(parquet_path) as tmp:
        table.to_parquet(tmp, index=False)
    return table


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def compressai_results(table: pd.DataFrame, name: str, description: str) -> dict:
    """CompressAI's JSON shape for one codec: per-quality means, ordered by increasing bpp.

    Means of per-image values, as CompressAI's published tables are. Infinite means (PSNR of a lossless codec)
    are written as ``null``, since JSON has no infinity.
    """
    if table.codec.nunique() != 1 or table.dataset.nunique() != 1:
        raise ValueError("compressai_results expects the rows of one dataset and one codec")
    means = table.groupby("quality").mean(numeric_only=True).sort_values("bpp", kind="stable")
    results: dict[str, list] = {"quality": [q.item() if hasattr(q, "item") else q for q in means.index]}
    for column, key in compressai_keys().items():
        if column in means:
            results[key] = [_finite_or_none(float(v)) for v in means[column]]
    results["n_images"] = [int(n) for n in table.groupby("quality").size().loc[means.index]]
    return {"name": name, "description": description, "results": results}


def write_codec_json(point_tables: Iterable[str | Path], json_path: str | Path) -> dict:
    table = read_point_tables(point_tables)
    codec, dataset = table.codec.iloc[0], table.dataset.iloc[0]
    versions = ", ".join(sorted(table.codec_version.unique()))
    description = f"{codec} on dataset {dataset}, means over images per quality; coded by {versions}"
    document = compressai_results(table, codec, description)
    write_text_atomic(json_path, json.dumps(document, indent=2, allow_nan=False) + "\n")
    return document


SUMMARY_COLUMNS = ("bpp", "bytes", "compression_ratio", "encode_s", "decode_s")
BD_TABLE_COLUMNS = [
    "dataset", "codec", "anchor", "metric", "bd_rate_pct", "bd_rate_ci_low", "bd_rate_ci_high", "bd_quality",
    "bd_quality_ci_low", "bd_quality_ci_high", "overlap_quality", "overlap_rate", "bd_rate_reliable",
    "bd_quality_reliable", "available", "monotone_fit", "method", "n_boot_valid", "n_images",
]  # fmt: skip


def write_summary(quality_csv: str | Path, out_csv: str | Path, metrics: list[str], statistics: dict) -> pd.DataFrame:
    """Per (dataset, codec, quality): the mean of every measurement with its paired-bootstrap CI."""
    from ..stats.bootstrap import bootstrap_means

    table = pd.read_csv(quality_csv, dtype={"image_id": str})
    columns = [*SUMMARY_COLUMNS, *metrics]
    summary = bootstrap_means(
        table, columns, n_boot=statistics["n_boot"], seed=statistics["seed"], confidence=statistics["confidence"]
    )
    write_csv_atomic(summary, out_csv)
    return summary


def write_bd_table(
    quality_csv: str | Path, out_csv: str | Path, anchor: str, bd: dict, statistics: dict
) -> pd.DataFrame:
    """BD-rate and BD-quality of every codec against ``anchor``, per dataset and metric, with bootstrap CIs.

    One row per (dataset, codec, anchor, metric); a codec without any finite value for the metric (a lossless
    codec's PSNR) or without overlap with the anchor gets ``available = False`` and no numbers.
    """
    from ..stats.bd import bootstrap_bd

    table = pd.read_csv(quality_csv, dtype={"image_id": str})
    rows = []
    for dataset, data in table.groupby("dataset", sort=True):
        if anchor not in set(data.codec):
            continue
        for codec in sorted(set(data.codec) - {anchor}):
            for metric in bd["metrics"]:
                result = bootstrap_bd(
                    data, anchor, codec, metric, method=bd["method"], n_boot=statistics["n_boot"],
                    seed=statistics["seed"], confidence=statistics["confidence"],
                )  # fmt: skip
                rows.append({"dataset": dataset, "codec": codec, "anchor": anchor, "metric": metric, **result})
    frame = pd.DataFrame(rows, columns=BD_TABLE_COLUMNS)  # the header even when only the anchor ran
    write_csv_atomic(frame, out_csv)
    return frame


def write_equal_rate_tables(
    point_tables: Iterable[str | Path],
    rows_csv: str | Path,
    summary_csv: str | Path,
    metrics: list[str],
    statistics: dict,
) -> pd.DataFrame:
    """Per-image rows of every equal-rate point, and their means per (dataset, target_bpp, codec) with CIs."""
    from ..stats.bootstrap import bootstrap_means

    table = read_point_tables(point_tables).sort_values(
        ["dataset", "target_bpp", "codec", "image_id"], ignore_index=True
    )
    write_csv_atomic(table, rows_csv)
    summary = bootstrap_means(
        table, [*SUMMARY_COLUMNS, "quality_used", *metrics], n_boot=statistics["n_boot"], seed=statistics["seed"],
        confidence=statistics["confidence"], group_columns=("dataset", "target_bpp", "codec"),
    )  # fmt: skip
    write_csv_atomic(summary, summary_csv)
    return summary
