"""Provenance: config hashing, git state and the record written for the report."""

from __future__ import annotations

import subprocess

import pandas as pd

from codecbench.report.provenance import collect_provenance, config_hash, git_state, provenance_line


def test_config_hash_ignores_key_order_but_not_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_git_state_reports_commit_and_uncommitted_changes(tmp_path):
    run = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "f.txt").write_text("one")
    run("add", "f.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "f.txt").write_text("two")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}


def test_outside_a_repository_the_commit_is_unknown(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}


def test_record_names_codec_versions_devices_and_config(tmp_path):
    config = {"codecs": {"jpeg": {"qualities": [5]}}, "datasets": {}}
    table = pd.DataFrame(
        {
            "codec": ["jpeg", "jpeg"],
            "codec_version": ["Pillow X", "Pillow X"],
            "host": ["h", "h"],
            "device": ["cpu", "cpu"],
            "metrics_device": ["cpu", "cpu"],
        }
    )
    record = collect_provenance(config, tmp_path, table)
    assert record["config"] == config and record["config_sha256"] == config_hash(config)
    assert record["codec_versions"]["jpeg"].startswith("Pillow ")
    assert record["codec_versions_in_results"] == {"jpeg": ["Pillow X"]}
    assert record["devices"] == [{"host": "h", "device": "cpu", "metrics_device": "cpu"}]
    assert record["packages"]["numpy"] and record["rows"] == 2
    assert "config " + record["config_sha256"][:12] in provenance_line(record)
