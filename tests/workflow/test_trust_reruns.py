"""Edited inputs are noticed: a dataset read from the user's files is a dependency of the jobs that read it, so
editing, adding, removing or touching its images after a run reruns exactly what depends on them. (A user's model
file and a detector's weights file are inputs of their jobs too: dryrun/test_planned_jobs.py.)"""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from PIL import Image
from snakemake_project import listed_jobs, make_project_copy, run_snakemake, write_config

TWO_FOLDERS = {
    "datasets": {"mine": {"source": "local", "path": "input"}, "other": {"source": "local", "path": "other"}},
    "codecs": {"jpeg": {"qualities": [50]}},
    "metrics": ["psnr_rgb"],
    "bd": {"metrics": ["psnr_rgb"]},
    "statistics": {"n_boot": 100},
}
# Jobs that follow any change of a dataset's measurements: the tables, provenance, every dataset's figures, the
# coding costs (their times per megapixel) and the findings.
AGGREGATES = [
    "all",
    "bd_rate",
    "complexity",
    "dataset_figures[dataset=mine]",
    "dataset_figures[dataset=other]",
    "findings",
    "provenance",
    "quality_table",
    "stage_costs",
    "summary",
]
MINE_POINT = [
    "compress_ladder[dataset=mine, codec=jpeg]",
    "prepare_dataset[dataset=mine]",
]


def executed_jobs(proc: subprocess.CompletedProcess) -> list[str]:
    """The jobs a (real) run executed, as 'rule' or 'rule[key=value, ...]', sorted."""
    return listed_jobs(proc.stderr)


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory, photo):
    workdir = make_project_copy(tmp_path_factory.mktemp("reruns"), photo)
    (workdir / "other").mkdir()
    Image.fromarray(photo[50:150, 60:180]).save(workdir / "other" / "crop.png")
    configfile = write_config(workdir, TWO_FOLDERS)
    run_snakemake(workdir, "--configfile", configfile)
    return workdir, configfile


def rerun(workdir, configfile) -> list[str]:
    return executed_jobs(run_snakemake(workdir, "--configfile", configfile))


def test_an_unchanged_folder_plans_nothing(two_folders):
    workdir, configfile = two_folders
    assert rerun(workdir, configfile) == []


def test_touching_an_image_re_prepares_its_dataset_but_measures_nothing_again(two_folders):
    # The listing changed, the content did not: the manifest comes out identical, and Snakemake's checksum of it
    # keeps every compression and metric job (only the aggregate tables are redone, at the same values).
    workdir, configfile = two_folders
    quality = (workdir / "results/tables/quality.csv").read_text()
    os.utime(workdir / "input" / "astronaut.png")
    jobs = rerun(workdir, configfile)
    assert "prepare_dataset[dataset=mine]" in jobs
    assert not [job for job in jobs if job.startswith(("compress", "prepare_dataset[dataset=other"))]
    assert (workdir / "results/tables/quality.csv").read_text() == quality


def test_editing_adding_and_removing_images_reruns_that_dataset_only(two_folders):
    workdir, configfile = two_folders
    image = workdir / "input" / "astronaut.png"
    pixels = np.array(Image.open(image))
    pixels[:16] = 0
    Image.fromarray(pixels).save(image)
    assert rerun(workdir, configfile) == sorted(MINE_POINT + AGGREGATES)

    Image.fromarray(pixels[:64, :64]).save(workdir / "input" / "added.png")
    assert rerun(workdir, configfile) == sorted(MINE_POINT + AGGREGATES)
    quality = (workdir / "results/tables/quality.csv").read_text()
    assert "added" in quality

    (workdir / "input" / "added.png").unlink()
    assert rerun(workdir, configfile) == sorted(MINE_POINT + AGGREGATES)
    assert "added" not in (workdir / "results/tables/quality.csv").read_text()
