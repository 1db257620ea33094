"""Provenance: what produced the results (code version, config, software versions, where jobs ran)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

# The packages whose versions change our numbers or how they are made.
KEY_PACKAGES = [
    "snakemake", "numpy", "pandas", "pillow", "imagecodecs", "imageio-ffmpeg", "torch", "torchvision",
    "compressai", "pytorch-msssim", "piq", "bjontegaard", "scikit-image", "scikit-learn", "matplotlib", "pyarrow",
]  # fmt: skip


def config_hash(config: dict) -> str:
    """sha256 of the config as canonical JSON (sorted keys): equal configs give equal hashes."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def git_state(project_dir: str | Path) -> dict:
    """The commit the workflow ran from and whether the working tree had uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions(names: list[str] = KEY_PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def collect_provenance(config: dict, project_dir: str | Path, table: pd.DataFrame) -> dict:
    """Everything needed to trace a row of ``table`` (the tidy quality table) back to how it was made."""
    from ..codecs import get_codec_class

    codec_versions = {
        codec: get_codec_class(entry.get("codec", codec)).version() for codec, entry in config["codecs"].items()
    }
    used = table.groupby("codec").codec_version.unique().map(sorted).to_dict() if len(table) else {}
    devices = (
        table[["host", "device", "metrics_device"]].drop_duplicates().to_dict("records")
        if {"host", "device", "metrics_device"} <= set(table.columns)
        else []
    )
    return {
        "git": git_state(project_dir),
        "config_sha256": config_hash(config),
        "config": config,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "codec_versions": codec_versions,
        "codec_versions_in_results": {k: list(v) for k, v in used.items()},
        "devices": devices,
        "rows": int(len(table)),
    }


def provenance_line(provenance: dict) -> str:
    """One line for the report: commit, config hash, Python and the key library versions."""
    git = provenance["git"]
    commit = (git["commit"] or "unknown")[:10] + (" (uncommitted changes)" if git.get("dirty") else "")
    packages = provenance["packages"]
    return (
        f"commit {commit}, config {provenance['config_sha256'][:12]}, Python {provenance['python']}, "
        f"snakemake {packages.get('snakemake')}, torch {packages.get('torch')}, Pillow {packages.get('pillow')}"
    )
