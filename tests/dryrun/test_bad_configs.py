"""A bad config fails as Snakemake reads the Snakefile, before any job, naming what is wrong: a key the schema
does not allow, and a key given twice in a --configfile or in the default config.yaml."""

from __future__ import annotations

from snakemake_project import TINY, make_project_copy, run_snakemake, write_config


def test_a_broken_config_fails_before_any_job(tmp_path, photo):
    workdir = make_project_copy(tmp_path, photo)
    bad = {**TINY, "codecs": {"jpg": {"qualities": [5]}}}
    proc = run_snakemake(workdir, "--configfile", write_config(workdir, bad), check=False)
    assert proc.returncode != 0
    assert "'jpg' was unexpected" in proc.stderr and "allowed: original, png, jpeg" in proc.stderr
    assert not (workdir / "results").exists()


# A ladder whose second 'qualities' would silently replace the first (line 6 repeats line 5).
DUPLICATE_LADDER = """\
datasets:
  tiny: {source: local, path: input}
codecs:
  jpeg:
    qualities: [30, 70]
    qualities: [50]
metrics: [psnr_rgb]
"""


def test_a_duplicate_key_in_a_configfile_fails_before_any_job_naming_file_key_and_line(tmp_path, photo):
    workdir = make_project_copy(tmp_path, photo)
    (workdir / "dup.yaml").write_text(DUPLICATE_LADDER)
    proc = run_snakemake(workdir, "--configfile", "dup.yaml", check=False)
    assert proc.returncode != 0
    assert "dup.yaml, line 6: duplicate key 'qualities' (first at line 5)" in proc.stderr
    assert not (workdir / "results").exists()


def test_the_default_config_yaml_is_checked_too(tmp_path, photo):
    workdir = make_project_copy(tmp_path, photo)
    config = workdir / "config.yaml"
    lines = config.read_text().splitlines()
    first = next(number for number, line in enumerate(lines, 1) if line.startswith("anchor:"))
    config.write_text("\n".join([*lines, "anchor: webp"]) + "\n")  # a second anchor, valid on its own
    proc = run_snakemake(workdir, "-n", check=False)  # a dry run: the check runs as the Snakefile is read
    assert proc.returncode != 0
    assert f"config.yaml, line {len(lines) + 1}: duplicate key 'anchor' (first at line {first})" in proc.stderr
