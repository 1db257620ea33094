"""What the benchmarks share: running the real pipeline on a config in a scratch folder, timed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]


def run_pipeline(config: dict, target: str, jobs: int, workdir: Path) -> float:
    """Run the Snakefile on ``config`` in ``workdir`` until ``target`` exists; return the wall time in seconds."""
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / ".cache")}
    command = [
        # the target first: --configfile takes every following word as another config file
        str(Path(sys.executable).with_name("snakemake")), target,
        "--snakefile", str(PROJECT / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "bench.yaml"), "--cores", str(jobs), "--quiet",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=workdir)
    return time.perf_counter() - start
