"""What each stage of a run cost, from the Snakemake benchmark TSVs of its jobs: wall and CPU time, peak memory and
job count per stage, so that users see where their time went.

Snakemake writes one TSV per job of a rule with ``benchmark:``: ``s`` (wall seconds), ``max_rss`` (peak resident
memory, MB), ``cpu_time`` (user + system CPU seconds of the job's processes), among others. The table covers the
jobs that made the current results, whenever each ran (a rerun replaces only its own jobs' TSVs). Rules without a
benchmark (the local aggregation and figure jobs, a few seconds each) are not in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..io import write_csv_atomic

STAGE_COLUMNS = [
    "stage", "jobs", "wall_s", "cpu_s", "mean_wall_s", "max_wall_s", "peak_rss_mb", "wall_share_pct", "cpu_share_pct",
]  # fmt: skip


def read_benchmark(path: str | Path) -> pd.Series:
    """One job's benchmark: its wall seconds, CPU seconds and peak RSS (MB); a TSV without them names the file."""
    table = pd.read_csv(path, sep="\t")
    missing = {"s", "cpu_time", "max_rss"} - set(table.columns)
    if table.empty or missing:
        raise ValueError(f"{path}: not a Snakemake benchmark TSV (missing {sorted(missing) or 'its row'})")
    row = table.iloc[-1]  # one row per repeat (--benchmark-repeats): the last run is the job that made the output
    return pd.Series({"wall_s": float(row["s"]), "cpu_s": float(row["cpu_time"]), "rss_mb": float(row["max_rss"])})


def stage_cost_table(benchmarks: Mapping[str, Iterable[str | Path]]) -> pd.DataFrame:
    """Per stage (``benchmarks``: stage -> its jobs' TSVs), in the given order: jobs, total and mean wall time,
    CPU time, the longest job, the peak RSS of any of its jobs, and the stage's shares of the run's wall and CPU
    time summed over jobs (jobs run side by side, so the shares are of the work, not of the elapsed time)."""
    rows = []
    for stage, paths in benchmarks.items():
        jobs = pd.DataFrame([read_benchmark(path) for path in paths], columns=["wall_s", "cpu_s", "rss_mb"])
        if jobs.empty:
            continue
        rows.append(
            {
                "stage": stage,
                "jobs": len(jobs),
                "wall_s": jobs.wall_s.sum(),
                "cpu_s": jobs.cpu_s.sum(),
                "mean_wall_s": jobs.wall_s.mean(),
                "max_wall_s": jobs.wall_s.max(),
                "peak_rss_mb": jobs.rss_mb.max(),
            }
        )
    table = pd.DataFrame(rows, columns=STAGE_COLUMNS)
    for column, share in (("wall_s", "wall_share_pct"), ("cpu_s", "cpu_share_pct")):
        total = table[column].sum()
        table[share] = 100.0 * table[column] / total if total > 0 else float("nan")
    return table.round(3)


def write_stage_costs(
    benchmarks: Mapping[str, Iterable[str | Path]], csv_path: str | Path, png_path: str | Path, svg_path: str | Path
) -> pd.DataFrame:
    """The stage cost table as CSV, and as a figure: wall and CPU seconds per stage, the job count and peak memory
    written beside each bar."""
    from .figures import _pyplot, save_figure

    table = stage_cost_table(benchmarks)
    write_csv_atomic(table, csv_path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * max(len(table), 1) + 1.4))
    positions = range(len(table))
    ax.barh([p + 0.2 for p in positions], table.wall_s, height=0.4, label="wall time (s, summed over jobs)")
    ax.barh([p - 0.2 for p in positions], table.cpu_s, height=0.4, label="CPU time (s)")
    ax.set_yticks(list(positions), table.stage)
    ax.invert_yaxis()
    for position, row in zip(positions, table.itertuples(), strict=True):
        note = f"  {row.jobs} job{'s' if row.jobs != 1 else ''}, peak {row.peak_rss_mb:.0f} MB"
        ax.text(max(row.wall_s, row.cpu_s), position, note, va="center", fontsize=7)
    ax.set_xlabel("seconds")
    ax.set_title("what each stage cost (jobs with a benchmark)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.margins(x=0.35)
    save_figure(fig, png_path, svg_path)
    return table
