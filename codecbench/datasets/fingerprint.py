"""Fingerprints of the files a dataset (or a model) is read from, cheap enough to take at every DAG build.

A dataset read from the user's own files (``local``, ``folder``, ``yolo``, ``video_folder``, a local copy of MOT17 or
BSDS500) is prepared once; without a dependency on those files, adding, removing or editing one afterwards would
plan nothing and leave every table stale. Snakemake cannot watch a folder tree (a folder's mtime changes only when
its own entries do), so ``prepare_dataset`` carries the fingerprint of the tree as a param: any change of the listing,
a size or a modification time changes the param, and Snakemake's params trigger re-prepares that dataset alone.

The fingerprint only decides *whether to look again*. What reruns downstream is decided by content: the manifest
holds each image's sha256, and Snakemake reruns a job whose input is newer only when the input's checksum differs
from the one recorded (inputs up to ``--max-checksum-file-size``), so touching a file without changing it
re-prepares its dataset but reruns nothing that reads the manifest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# The keys of a dataset entry that name the user's files (folders or single files such as a labels file or an
# archive); every source that reads local files names them with these.
PATH_KEYS = ("path", "labels_file")


def _tree_entries(root: str) -> Iterator[str]:
    """One line per file below ``root`` (relative path, size, mtime in ns), depth first in name order; hidden files
    and folders are skipped as the datasets skip them. Symbolic links are followed (the datasets read what they point
    to), each real folder once, so a link loop ends."""
    seen_folders: set[tuple[int, int]] = set()
    stack = [("", root)]
    while stack:
        relative, folder = stack.pop()
        try:
            info = os.stat(folder)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen_folders:
            continue
        seen_folders.add((info.st_dev, info.st_ino))
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            yield f"{relative}\tunreadable\t{exc.errno}"
            continue
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            name = f"{relative}/{entry.name}" if relative else entry.name
            try:
                if entry.is_dir():
                    folders.append((name, entry.path))
                    continue
                stat = entry.stat()
            except OSError:  # a broken link: listed, so that fixing it changes the fingerprint
                yield f"{name}\tbroken"
                continue
            yield f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}"
        stack.extend(reversed(folders))


def path_fingerprint(path: str | Path) -> str:
    """The sha256 of a file's (size, mtime) or of a folder tree's listing (:func:`_tree_entries`); "missing" when
    nothing is there (preparing the dataset then fails with its own message)."""
    path = os.fspath(Path(path).expanduser())
    try:
        info = os.stat(path)
    except OSError:
        return "missing"
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for line in _tree_entries(path):
            digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    else:
        digest.update(f"{info.st_size}\t{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def dataset_fingerprint(dataset_cfg: Mapping[str, Any]) -> dict[str, str]:
    """The fingerprint of every local path a dataset entry names (:data:`PATH_KEYS`), by key; empty for sources
    that read no local files (builtin, or downloads pinned by their sha256)."""
    return {key: path_fingerprint(dataset_cfg[key]) for key in PATH_KEYS if dataset_cfg.get(key)}
