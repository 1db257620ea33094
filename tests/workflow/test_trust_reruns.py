"""Edited inputs are noticed: a dataset read from the user's files, a user's model file and a detector's weights
file are dependencies of the jobs that read them, so changing them reruns exactly what depends on them."""

from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pytest
from PIL import Image
from snakemake_project import listed_jobs, make_project_copy, run_snakemake, write_config

from codecbench.datasets.fingerprint import dataset_fingerprint, path_fingerprint

pytestmark = pytest.mark.workflow

TWO_FOLDERS = {
    "datasets": {"mine": {"source": "local", "path": "input"}, "other": {"source": "local", "path": "other"}},
    "codecs": {"jpeg": {"qualities": [50]}},
    "metrics": ["psnr_rgb"],
    "bd": {"metrics": ["psnr_rgb"]},
    "statistics": {"n_boot": 100},
}
# Jobs that follow any change of a dataset's measurements: the tables, provenance and every dataset's figures.
AGGREGATES = [
    "all",
    "bd_rate",
    "dataset_figures[dataset=mine]",
    "dataset_figures[dataset=other]",
    "provenance",
    "quality_table",
    "stage_costs",
    "summary",
]
MINE_POINT = [
    "compress[dataset=mine, codec=jpeg, quality=50]",
    "prepare_dataset[dataset=mine]",
    "quality_ladder[dataset=mine, codec=jpeg]",
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
    assert not [job for job in jobs if job.startswith(("compress", "quality_ladder", "prepare_dataset[dataset=other"))]
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


def test_a_users_model_files_are_inputs_of_the_jobs_that_read_them(tmp_path, photo):
    """Replacing a learned codec's or ssf2020's checkpoint, a task's checkpoint or a ready detector's weights file
    reruns their jobs (Snakemake's mtime and checksum triggers), because each is an input of those jobs."""
    workdir = make_project_copy(tmp_path, photo)
    for name in ("codec.pth.tar", "video.pth.tar", "detector.pt"):
        (workdir / name).write_bytes(b"weights")
    cfg = {
        "datasets": {"tiny": {"source": "local", "path": "input"}, "shapes": {"source": "builtin", "max_images": 4}},
        "codecs": {
            "bmshj2018-factorized": {"qualities": [1], "options": {"checkpoint": "codec.pth.tar"}},
            "jpeg": {"qualities": [50]},
        },
        "tasks": {"boxes": {"task": "detection", "dataset": "shapes", "model": "detector.pt", "codecs": ["jpeg"]}},
        "metrics": ["psnr_rgb"],
        "statistics": {"n_boot": 100},
    }
    out = run_snakemake(workdir, "-n", "--configfile", write_config(workdir, cfg)).stdout
    # Each job's block of the dry run: its rule line and the indented lines under it (the jobs' order is not fixed).
    blocks = re.findall(r"^(?:local)?rule \w+:\n(?:    .*\n)+", out, re.M)
    compress = [b for b in blocks if b.startswith("rule compress:") and "dataset=tiny, codec=bmshj2018-factorized" in b]
    assert len(compress) == 1 and re.search(r"input: .*codec\.pth\.tar", compress[0])
    evaluate = [b for b in blocks if b.startswith("rule evaluate_task:")]
    assert len(evaluate) == 1 and re.search(r"input: .*detector\.pt", evaluate[0])


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
