"""Fault injection on the real Snakefile: Snakemake and its jobs killed with SIGKILL mid-training and then
mid-compression, a training job orphaned by killing only Snakemake, and two clean runs of the same config.

After each kill the project is rerun as a user would (``--unlock`` when Snakemake says the directory is locked,
nothing else: ``rerun-incomplete`` is in profiles/default), and every table under results/tables, every file
under results/compressed and the trained codec's weights must equal those of an uninterrupted run, timings aside.
Two clean runs in fresh copies must agree the same way, and their trained checkpoints byte for byte.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import skimage.data
from faults_helpers import (
    checkpoint_content_differences,
    checkpoints,
    executed_rules,
    file_differences,
    job_processes,
    kill_when,
    recover,
    session_processes,
    snakemake_session,
    start_until,
    table_differences,
    wait_for_exit,
    wait_until,
)
from PIL import Image
from snakemake_project import make_project_copy, planned_jobs, run_snakemake, write_config

STEPS = 200  # about 5 s of training on one core: resumable states at steps 50, 100 and 150, time to kill it
FAULTS = {
    "datasets": {
        "tiny": {"source": "local", "path": "input"},
        "train": {"source": "local", "path": "input", "evaluate": False},
    },
    "codecs": {"jpeg": {"qualities": [30, 70]}, "webp": {"qualities": [40, 80]}},
    "learned": {
        "mini": {
            "architecture": "cae", "dataset": "train", "lambdas": [0.01], "steps": STEPS, "batch_size": 2,
            "crop_px": 64,
        }
    },
    "metrics": ["psnr_rgb", "ms_ssim"],
    "bd": {"metrics": ["psnr_rgb"]},
    "statistics": {"n_boot": 100},
}  # fmt: skip
MODELS = "results/models/codecs/mini"
MINI_POINT = "results/compressed/tiny/mini/1"
# What a rerun after a kill may take: the command again, or --unlock first when the killed run's lock is left.
RECOVERIES = (["snakemake"], ["snakemake", "snakemake --unlock", "snakemake"])


def faults_project(root: Path, photo) -> tuple[Path, str]:
    """A project copy with FAULTS: test_workflow's two photos, coffee whole (400x600) so that the trained codec
    codes it for a while after it wrote the small astronaut's stream (the moment the compression is killed)."""
    workdir = make_project_copy(root, photo)
    Image.fromarray(skimage.data.coffee()).save(workdir / "input" / "coffee.jpg", quality=95)
    return workdir, write_config(workdir, FAULTS)


@pytest.fixture(scope="module")
def clean_runs(tmp_path_factory, photo) -> list[Path]:
    """Two fresh copies of the project, each running FAULTS to the end uninterrupted. At once, as in
    test_sharding: one run leaves a core idle much of the time (its chain train -> compress -> metrics)."""
    copies = [faults_project(tmp_path_factory.mktemp(f"clean{k}"), photo) for k in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(run_snakemake, workdir, "--configfile", configfile) for workdir, configfile in copies]
        for run in runs:
            run.result()
    return [workdir for workdir, _ in copies]


def training_in_progress(workdir: Path, proc) -> bool:
    """The training job is running and has saved a resumable state, but no checkpoint yet."""
    return bool(
        list(Path(workdir, MODELS).glob("*/checkpoint.pth.tar.partial"))
        and not checkpoints(workdir)
        and job_processes(proc, "train_codec.py")
    )


def streams(workdir: Path) -> list[str]:
    folder = workdir / MINI_POINT / "bitstreams"
    return sorted(p.name for p in folder.glob("*.cbl")) if folder.is_dir() else []


def compressing(workdir: Path, proc) -> bool:
    """The trained codec's compression job is running, has written one stream (the astronaut's) and not its rate
    table: a directory output half written."""
    return bool(
        streams(workdir)
        and not (workdir / MINI_POINT / "rate.csv").exists()
        and job_processes(proc, "compress_ladder.py")
    )


def assert_same_results(reference: Path, workdir: Path) -> None:
    assert table_differences(reference, workdir) == []
    assert file_differences(reference, workdir, "results/compressed") == []
    assert checkpoint_content_differences(reference, workdir) == []


def test_two_clean_runs_write_the_same_tables_streams_and_weights(clean_runs):
    assert_same_results(*clean_runs)


def test_two_clean_runs_train_byte_identical_checkpoints(clean_runs):
    first, second = (checkpoints(run) for run in clean_runs)
    assert sorted(first) == sorted(second) and first
    assert [name for name in first if first[name].read_bytes() != second[name].read_bytes()] == []


def test_kill9_mid_training_and_mid_compression_then_a_rerun_matches_an_uninterrupted_run(clean_runs, tmp_path, photo):
    workdir, configfile = faults_project(tmp_path, photo)
    # 1. Snakemake and every job killed at once, while the codec trains (after its first resumable state).
    first = kill_when(workdir, configfile, "train", lambda p: training_in_progress(workdir, p), "a training state")
    assert not checkpoints(workdir)
    # 2. The rerun, killed the same way while the trained codec's compression job is half way through.
    second = kill_when(workdir, configfile, "compress", lambda p: compressing(workdir, p), "half a compression")
    left = streams(workdir)
    assert left and not (workdir / MINI_POINT / "rate.csv").exists()
    log = next(Path(workdir, "results/logs/train_codec/mini").glob("*.log")).read_text()
    resumed = re.search(rf"resuming from \S+checkpoint\.pth\.tar\.partial at step (\d+) of {STEPS}", log)
    assert resumed and int(resumed.group(1)) >= 50, log  # the rerun resumed the training, not started it over
    # 3. The rerun to the end.
    third, rerun = recover(workdir, configfile)
    print(
        f"\nkill -9 mid-training: started by {first}, then the rerun by {second} (resumed at step "
        f"{resumed.group(1)}); kill -9 mid-compression (left {left}, no rate.csv): finished by {third}, "
        f"rerunning {executed_rules(rerun)}"
    )
    assert first == ["snakemake"] and second in RECOVERIES and third in RECOVERIES
    assert "compress_ladder" in executed_rules(rerun) and "train_codec" not in executed_rules(rerun)
    assert_same_results(clean_runs[0], workdir)
    assert not list(Path(workdir, MODELS).glob("*/*.partial"))
    assert planned_jobs(workdir, configfile) == []  # up to date: nothing is left marked incomplete


def test_an_orphaned_training_job_that_finishes_while_the_rerun_starts_the_same_training(clean_runs, tmp_path, photo):
    """Only Snakemake is killed: its training job is orphaned and runs on to its end, writing the checkpoint with
    no Snakemake to record it, while the user's rerun (right away, --unlock first) starts the same training. The
    order is made certain by stopping processes: the orphan (SIGSTOP) until the rerun's training job has
    started, that job until the orphan has finished. The rerun must succeed with the uninterrupted run's results."""
    workdir, configfile = faults_project(tmp_path, photo)
    with contextlib.ExitStack() as stack:
        proc = stack.enter_context(snakemake_session(workdir, configfile, "orphaning"))
        wait_until(lambda: training_in_progress(workdir, proc), "the training saved a resumable state", proc)
        (orphan,) = job_processes(proc, "train_codec.py")
        os.kill(proc.pid, signal.SIGKILL)  # Snakemake only
        proc.wait(timeout=60)
        os.kill(orphan, signal.SIGSTOP)
        # Other jobs it orphaned (a compression, a metric job) end first: they would race the rerun's own.
        wait_for_exit([pid for pid in session_processes(proc.pid) if pid != orphan])
        rerun, steps = start_until(
            stack, workdir, configfile, "rerun", lambda p: job_processes(p, "train_codec.py"), "the rerun's training"
        )
        (job,) = job_processes(rerun, "train_codec.py")
        os.kill(job, signal.SIGSTOP)  # Snakemake deleted the outputs before it started the job
        os.kill(orphan, signal.SIGCONT)
        wait_for_exit([orphan])
        assert checkpoints(workdir)  # the orphan finished its training and wrote the checkpoint
        os.kill(job, signal.SIGCONT)
        rerun.wait(timeout=600)
        out = Path(workdir, f"rerun-{len(steps)}.out").read_text()
        assert rerun.returncode == 0, out[-6000:]
    log = next(Path(workdir, "results/logs/train_codec/mini").glob("*.log")).read_text()
    print(f"\norphaned training job: the rerun by {' -> '.join(steps)} succeeded; its training log:\n{log[-1500:]}")
    assert steps in RECOVERIES
    assert_same_results(clean_runs[0], workdir)
