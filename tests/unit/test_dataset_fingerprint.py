"""The fingerprint of a dataset read from the user's files: it follows a folder's listing, sizes and times (so a
workflow reruns what an edit changes), and names only the settings that are paths."""

from __future__ import annotations

import os

from codecbench.datasets.fingerprint import dataset_fingerprint, path_fingerprint


def test_a_folder_fingerprint_follows_listing_sizes_and_times(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"one")
    (tmp_path / ".hidden").write_bytes(b"x")
    first = path_fingerprint(tmp_path)
    assert path_fingerprint(tmp_path) == first
    (tmp_path / ".hidden").write_bytes(b"changed")  # hidden files are never read as images
    assert path_fingerprint(tmp_path) == first
    os.utime(tmp_path / "sub" / "a.png", ns=(1, 1))
    touched = path_fingerprint(tmp_path)
    assert touched != first
    (tmp_path / "sub" / "b.png").write_bytes(b"two")
    assert path_fingerprint(tmp_path) not in (first, touched)
    os.symlink(tmp_path, tmp_path / "sub" / "loop")  # a link loop ends
    assert len(path_fingerprint(tmp_path)) == 64
    assert path_fingerprint(tmp_path / "absent") == "missing"
    assert dataset_fingerprint({"source": "builtin"}) == {}
    labels = tmp_path / "labels.csv"
    labels.write_text("file,text\n")
    assert set(dataset_fingerprint({"source": "folder", "path": str(tmp_path), "labels_file": str(labels)})) == {
        "path",
        "labels_file",
    }
