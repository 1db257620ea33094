"""Support for the tests that start Snakemake: the real Snakefile runs in a temporary copy of the project, with
$HOME and Snakemake's source cache inside the copy.

A plain module, not a test file: the tests import it (``from snakemake_project import ...``); pytest puts tests/,
the folder of the root conftest.py, on ``sys.path``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
PROJECT_FILES = ["Snakefile", "config.yaml", "configs", "rules", "scripts", "schemas", "profiles", "envs", "report"]
# Columns that time a run or name its machine: they differ between any two runs, sharded or not.
TIMING_COLUMNS = ["encode_s", "decode_s", "host"]
# The tiny experiment of workflow/test_workflow.py (the two photos of make_project_copy, three codecs, every image
# metric); dryrun/test_bad_configs.py breaks it.
TINY = {
    "datasets": {"tiny": {"source": "local", "path": "input"}},
    "codecs": {
        "jpeg": {"qualities": [30, 70], "target_bpp": [1.0]},
        "webp": {"qualities": [50]},
        "png": {"qualities": [6]},
    },
    "metrics": ["psnr_rgb", "psnr_y", "ssim", "ms_ssim", "vif", "mse", "mae"],
    "bd": {"metrics": ["psnr_rgb", "ms_ssim"]},
    "statistics": {"n_boot": 200},
}


def snakemake_env(workdir: Path) -> dict[str, str]:
    """The environment Snakemake runs in, as `make run` gives it: XDG_CACHE_HOME in the project, since Snakemake's
    own source cache is written before the Snakefile runs, and $HOME in the copy (the tests check nothing lands
    there). The workflow must place the other caches (matplotlib, torch) itself, so theirs are unset."""
    env = {**os.environ, "HOME": str(workdir / "home"), "XDG_CACHE_HOME": str(workdir / ".cache" / "xdg")}
    for variable in ("MPLCONFIGDIR", "TORCH_HOME"):
        env.pop(variable, None)
    return env


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [str(SNAKEMAKE), "--cores", "2", *args]
    proc = subprocess.run(command, cwd=workdir, env=snakemake_env(workdir), capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def write_config(workdir: Path, cfg: dict, name: str = "tiny.yaml") -> str:
    (workdir / name).write_text(yaml.safe_dump(cfg))
    return name


def listed_jobs(log: str) -> list[str]:
    """The jobs Snakemake lists in ``log`` (a dry run's stdout, or a real run's stderr), as 'rule' or
    'rule[key=value, ...]' strings, sorted (checkpoints, such as prepare_dataset, print as 'checkpoint X:')."""
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?(?:rule|checkpoint) )", log):
        match = re.search(r"^(?:local)?(?:rule|checkpoint) (\w+):", block, re.M)
        if not match:
            continue
        wildcards = re.search(r"^\s+wildcards: (.+)$", block, re.M)
        jobs.append(match.group(1) + (f"[{wildcards.group(1)}]" if wildcards else ""))
    return sorted(jobs)


def planned_jobs(workdir: Path, configfile: str) -> list[str]:
    """The jobs ``snakemake -n`` plans (see listed_jobs)."""
    return listed_jobs(run_snakemake(workdir, "-n", "--configfile", configfile).stdout)


def make_project_copy(root: Path, photo: np.ndarray) -> Path:
    """The project's workflow files copied into ``root``, an empty $HOME and an ``input`` folder of two photos."""
    for name in PROJECT_FILES:
        source = PROJECT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / name)
    (root / "home").mkdir()
    (root / "input").mkdir()
    import skimage.data

    Image.fromarray(photo[:200, :180]).save(root / "input" / "astronaut.png")
    Image.fromarray(skimage.data.coffee()[100:300, 200:380]).save(root / "input" / "coffee.jpg", quality=95)
    return root


def finished_run(tmp_path_factory, photo, name: str, cfg: dict) -> Path:
    """A project copy in which ``cfg`` has run to the end."""
    workdir = make_project_copy(tmp_path_factory.mktemp(name), photo)
    run_snakemake(workdir, "--configfile", write_config(workdir, cfg))
    return workdir
