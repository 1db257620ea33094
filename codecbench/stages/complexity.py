"""Rule complexity: what each codec and each task model of the run costs, in one table and one figure.

One row per network or coding point (:data:`COMPLEXITY_COLUMNS`):

- ``kind`` ``codec``: one per ladder point (dataset, codec, quality) of the quality table (equal-rate points are
  re-codings of ladder qualities and are left out): the measured encoding and decoding seconds per megapixel at
  that point (:func:`codecbench.stats.complexity.coding_times_per_megapixel`), and for a learned codec its
  model's parameters and kMAC/px: the whole forward, its encoder side and its decoder side
  (:func:`codecbench.stats.complexity.codec_complexity`). The model is counted with seeded random weights of the
  point's architecture (a trained codec: its architecture and model size; a zoo codec: its quality's), since the
  counts do not depend on the weights: nothing is loaded or downloaded for it.
- ``kind`` ``task_model``: one per task, its model as evaluated (the first training variant's checkpoint, or the
  ready model the settings name): parameters and kMAC/px of its network at its input size
  (:meth:`codecbench.tasks.Task.counted_network`); NaN where the task runs no torch network (Canny, OCR).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..codecs import get_codec_class
from ..codecs.learned import ModelSource
from ..config.plan import normalise_quality
from ..io import write_csv_atomic
from ..layout import TARGET_PREFIX
from ..stats.complexity import codec_complexity, coding_times_per_megapixel, task_model_complexity
from .points import Point

COMPLEXITY_COLUMNS = [
    "kind", "name", "model", "dataset", "quality", "input_px", "params", "kmacs_per_pixel",
    "encoder_kmacs_per_pixel", "decoder_kmacs_per_pixel", "n_images", "megapixels", "encode_s_per_mp",
    "decode_s_per_mp",
]  # fmt: skip
COUNT_SIDE = 256  # the square input learned codecs are counted on: a multiple of every model's downsampling factor
_COUNT_KEYS = ("params", "kmacs_per_pixel", "encoder_kmacs_per_pixel", "decoder_kmacs_per_pixel")
_WEIGHT_OPTIONS = ("checkpoint", "pretrained", "device")  # where the weights come from: not what they cost


def _is_ladder_point(quality: Any) -> bool:
    return not str(quality).startswith(TARGET_PREFIX)


def codec_rows(quality_table: pd.DataFrame, codec_settings: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """The ``codec`` rows of the complexity table from the quality table's per-image rows (``width``,
    ``height``, ``encode_s``, ``decode_s`` per (dataset, codec, quality, image_id)) and each config codec's job
    settings (:func:`codecbench.config.plan.codec_job_settings`). A codec of the table without settings is a
    ValueError naming it."""
    unknown = sorted(set(quality_table["codec"]) - set(codec_settings))
    if unknown:
        raise ValueError(f"the quality table has codec(s) {', '.join(unknown)} that the config does not declare")
    ladder = quality_table[quality_table["quality"].map(_is_ladder_point)]
    times = coding_times_per_megapixel(ladder, by=("dataset", "codec", "quality"))
    counted: dict[tuple, dict[str, Any]] = {}
    rows = []
    for time_row in times.itertuples(index=False):
        settings = codec_settings[time_row.codec]
        point = Point(quality=time_row.quality, folder=Path("."), settings=settings)
        quality = point.codec_quality()
        options = dict(settings["options"])
        if issubclass(get_codec_class(settings["codec"]), ModelSource):
            options = {k: v for k, v in options.items() if k not in _WEIGHT_OPTIONS} | {"pretrained": False}
        key = (settings["codec"], quality, repr(sorted(options.items())))
        if key not in counted:
            counted[key] = codec_complexity(settings["codec"], quality, options, COUNT_SIDE)
        counts = counted[key]
        learned = not math.isnan(counts["params"])
        rows.append(
            {
                "kind": "codec",
                "name": time_row.codec,
                "model": settings["codec"],
                "dataset": time_row.dataset,
                "quality": normalise_quality(time_row.quality),
                "input_px": f"{COUNT_SIDE}x{COUNT_SIDE}" if learned else "",
                **{column: counts[column] for column in _COUNT_KEYS},
                "n_images": time_row.n_images,
                "megapixels": time_row.megapixels,
                "encode_s_per_mp": time_row.encode_s_per_mp,
                "decode_s_per_mp": time_row.decode_s_per_mp,
            }
        )
    return pd.DataFrame(rows, columns=COMPLEXITY_COLUMNS)


def task_model_row(name: str, task_settings: dict[str, Any], checkpoint: str | Path | None, dataset: str) -> dict:
    """The ``task_model`` row of task ``name`` (``task_settings``: :func:`codecbench.config.plan.task_job_settings`),
    its model loaded from ``checkpoint`` (None: the ready model its settings name) on the CPU."""
    from ..tasks import get_task_class

    task = get_task_class(task_settings["task"])(task_settings["settings"])
    task.load(checkpoint, device="cpu")
    counted = task.counted_network()
    row = {"kind": "task_model", "name": name, "model": task_settings["task"], "dataset": dataset}
    if counted is None:
        return row | dict.fromkeys(_COUNT_KEYS, math.nan) | {"input_px": ""}
    network, (height, width) = counted
    counts = task_model_complexity(network, (height, width))
    return row | {
        "model": f"{task_settings['task']} {type(network).__name__}",
        "input_px": f"{width}x{height}",
        "params": counts["params"],
        "kmacs_per_pixel": counts["kmacs_per_pixel"],
    }


def complexity_table(
    quality_table: pd.DataFrame,
    codec_settings: Mapping[str, dict[str, Any]],
    task_models: Mapping[str, dict[str, Any]],
) -> pd.DataFrame:
    """Codec rows (:func:`codec_rows`), then one row per task of ``task_models`` (task name -> ``settings``,
    ``checkpoint``, ``dataset``: the arguments of :func:`task_model_row`)."""
    tasks = pd.DataFrame(
        [
            task_model_row(name, spec["settings"], spec["checkpoint"], spec["dataset"])
            for name, spec in task_models.items()
        ],
        columns=COMPLEXITY_COLUMNS,
    )
    codecs = codec_rows(quality_table, codec_settings)
    return pd.concat([frame for frame in (codecs, tasks) if not frame.empty], ignore_index=True).reindex(
        columns=COMPLEXITY_COLUMNS
    )


def codec_time_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per codec, its seconds per megapixel over all its ladder points and datasets (total seconds over total
    megapixels, from each point's rate and megapixels), the codecs ordered by encoding time."""
    codecs = table[table["kind"] == "codec"].copy()
    for side in ("encode", "decode"):
        codecs[f"{side}_s"] = codecs[f"{side}_s_per_mp"] * codecs["megapixels"]
    summary = codecs.groupby("name", sort=False)[["encode_s", "decode_s", "megapixels"]].sum(min_count=1)
    for side in ("encode", "decode"):
        summary[f"{side}_s_per_mp"] = summary[f"{side}_s"] / summary["megapixels"]
    return summary.sort_values("encode_s_per_mp")[["encode_s_per_mp", "decode_s_per_mp"]]


def network_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The distinct networks of the table: learned codecs (one row per distinct architecture and size of each
    codec, its encoder and decoder sides) and task models, with parameters and kMAC/px; networks only."""
    networks = table[table["params"].notna()].copy()
    networks["label"] = [
        f"{row.name} ({row.model})" if row.kind == "codec" else f"task {row.name} ({row.model})"
        for row in networks.itertuples()
    ]
    columns = ["label", "kind", "params", "kmacs_per_pixel", "encoder_kmacs_per_pixel", "decoder_kmacs_per_pixel"]
    distinct = networks[columns].drop_duplicates(subset=["label", "params", "kmacs_per_pixel"])
    counts = distinct.groupby("label")["label"].transform("size")
    # A codec whose ladder holds models of two sizes (a zoo codec's lower and higher qualities) shows each.
    distinct["label"] = [
        f"{label}, {params / 1e6:.2f} M" if n > 1 else label
        for label, params, n in zip(distinct.label, distinct.params, counts, strict=True)
    ]
    return distinct.reset_index(drop=True)


def write_complexity(
    quality_csv: str | Path,
    codec_settings: Mapping[str, dict[str, Any]],
    task_models: Mapping[str, dict[str, Any]],
    csv_path: str | Path,
    png_path: str | Path,
    svg_path: str | Path,
) -> pd.DataFrame:
    """The complexity table as CSV, and its figure: encoding and decoding seconds per megapixel of each codec
    (left), parameters and kMAC/px of each network (right)."""
    from .points import read_rates

    table = complexity_table(read_rates(quality_csv), codec_settings, task_models)
    write_csv_atomic(table, csv_path)
    plot_complexity(table, png_path, svg_path)
    return table


def plot_complexity(table: pd.DataFrame, png_path: str | Path, svg_path: str | Path) -> None:
    """Two panels, one above the other: coding seconds per megapixel per codec; kMAC/px per network."""
    from ..report.figures import _pyplot, save_figure

    times, networks = codec_time_summary(table), network_summary(table)
    plt = _pyplot()
    heights = [max(len(times), 1), max(len(networks), 1)]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 0.3 * sum(heights) + 2.4), gridspec_kw={"height_ratios": heights}
    )
    positions = range(len(times))
    top.barh([p - 0.2 for p in positions], times.encode_s_per_mp, height=0.4, label="encode")
    top.barh([p + 0.2 for p in positions], times.decode_s_per_mp, height=0.4, label="decode")
    top.set_yticks(list(positions), times.index)
    top.invert_yaxis()
    top.set_xscale("log")
    top.set_xlabel("seconds per megapixel (measured in this run, on its machine)")
    top.set_title("coding time per codec, over all its points", fontsize=9)
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: bars reach both ends
    positions = range(len(networks))
    bottom.barh(list(positions), networks.kmacs_per_pixel, height=0.6, color="tab:gray", label="one forward")
    for side, marker, colour in (("encoder", "<", "tab:blue"), ("decoder", ">", "tab:orange")):
        values = networks[f"{side}_kmacs_per_pixel"]
        shown = values.notna().to_numpy()
        at = [position for position, has in zip(positions, shown, strict=True) if has]
        bottom.scatter(values[shown], at, marker=marker, color=colour, zorder=3, label=f"{side} side")
    for position, row in zip(positions, networks.itertuples(), strict=True):
        bottom.text(row.kmacs_per_pixel, position, f"  {row.params / 1e6:.2f} M params", va="center", fontsize=7)
    bottom.set_yticks(list(positions), networks.label)
    bottom.invert_yaxis()
    if len(networks):
        values = networks.kmacs_per_pixel
        if values.max() > 20 * values.min() > 0:
            bottom.set_xscale("log")
        bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        bottom.text(0.5, 0.5, "no torch networks in this run", ha="center", va="center", transform=bottom.transAxes)
    bottom.margins(x=0.25)
    bottom.set_xlabel("kMAC per pixel (torch's FLOP counter)")
    bottom.set_title("networks: learned codecs and task models", fontsize=9)
    save_figure(fig, png_path, svg_path)


__all__ = [
    "COMPLEXITY_COLUMNS",
    "codec_rows",
    "complexity_table",
    "task_model_row",
    "write_complexity",
]
