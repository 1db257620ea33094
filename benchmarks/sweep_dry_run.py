"""Benchmark: how long Snakemake takes to plan a large sweep before anything runs (a dry run).

The sweep of issue 17: 16 ``local`` datasets ``k00``..``k15``, all the same image folder, coded by jpeg 1-100,
webp 0-100, avif 0-100, jpegxl 0-99, h264 0-51, av1 0-63 and jpeg2000 15-80 (every integer, 584 points) and
measured by psnr_rgb and ms_ssim: 9,344 compression points. Prints the dry run's wall time, the jobs it plans
and the points per job (target: under 15 s).

    python benchmarks/sweep_dry_run.py ../shared/data/kodak
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import PROJECT

LADDERS = {
    "jpeg": range(1, 101), "webp": range(0, 101), "avif": range(0, 101), "jpegxl": range(0, 100),
    "h264": range(0, 52), "av1": range(0, 64), "jpeg2000": range(15, 81),
}  # fmt: skip


def sweep_config(images: Path, n_datasets: int = 16) -> dict:
    return {
        "datasets": {f"k{i:02d}": {"source": "local", "path": str(images.resolve())} for i in range(n_datasets)},
        "codecs": {codec: {"qualities": list(ladder)} for codec, ladder in LADDERS.items()},
        "metrics": ["psnr_rgb", "ms_ssim"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, help="the image folder every dataset points at")
    args = parser.parse_args()
    cfg = sweep_config(args.images)
    points = len(cfg["datasets"]) * sum(len(ladder) for ladder in LADDERS.values())
    with tempfile.TemporaryDirectory(prefix="codecbench-sweep-") as tmp:
        workdir = Path(tmp)
        (workdir / "sweep.yaml").write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "XDG_CACHE_HOME": str(workdir / ".cache")}
        command = [
            str(Path(sys.executable).with_name("snakemake")), "--dry-run", "--snakefile", str(PROJECT / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(workdir / "sweep.yaml"), "--cores", "2",
        ]  # fmt: skip
        start = time.perf_counter()
        out = subprocess.run(command, check=True, env=env, cwd=workdir, capture_output=True, text=True).stdout
        wall = time.perf_counter() - start
    total = re.search(r"^total\s+(\d+)$", out, re.M)
    jobs = int(total.group(1)) if total else 0
    print(f"dry run of {points:,} points: {wall:.1f} s, {jobs:,} jobs planned ({points / max(jobs, 1):.0f} points/job)")
    print(f"target: under 15 s -> {'met' if wall < 15 else 'missed'}")


if __name__ == "__main__":
    main()
