"""The pipeline on a real Slurm cluster through `snakemake --profile slurm`, against a local run of the same config.

A one-node Slurm (tests/slurm_cluster.py: Debian's packages, installed with apt-get if missing; needs root) runs
a tiny experiment: builtin digits, JPEG at two qualities, and a one-epoch classifier, so that GPU-tagged rules
(train_task, evaluate_task_shard) are scheduled on the node's fake GPU; the test images are sharded by size. The profile is used as written; only the
partition (the profile's is a placeholder) and the status-check interval (a test-sized 1 s instead of the profile's
20 s: each DAG level costs one interval) are given on the command line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from slurm_cluster import ClusterUnavailable, SlurmCluster
from snakemake_project import PROJECT, PROJECT_FILES, SNAKEMAKE, snakemake_env

PARTITION = "debug"  # not the placeholder's, not Slurm's usual default: the override must reach sbatch
TINY = {
    "datasets": {"digits": {"source": "builtin", "max_images": 40}},
    "codecs": {"jpeg": {"qualities": [30, 70]}},
    "metrics": ["psnr_rgb", "ssim"],
    "statistics": {"n_boot": 100},
    "sharding": {"images_per_shard": 20},  # 40 test images: 2 shards, counted after prepare_dataset (a checkpoint)
    "tasks": {
        "digits_cnn": {
            "task": "classification", "dataset": "digits", "train_on": ["original"], "epochs": 1, "batch_size": 16,
        }
    },
}  # fmt: skip
GPU_RULES = {"train_task", "evaluate_task_shard", "train_codec"}
RUN_TIMEOUT_S = 900  # SIGKILL: a snakemake waiting on a job state it never gets ignores SIGTERM
VOLATILE_COLUMNS = re.compile(r"(_s|_seconds|_time|time_.*|host.*|hostname|node|device.*|date|timestamp)$")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import snakemake_executor_plugin_slurm  # noqa: F401 (make setup installs it from requirements-slurm.lock)

    if os.geteuid() != 0:
        pytest.skip("the Slurm test cluster needs root (it runs slurmctld/slurmd and replaces /etc/slurm/slurm.conf)")
    # A node announced with 4 CPUs and 16 GB (SlurmdParameters=config_overrides) whatever this machine has, so the
    # profile's real requests (train_task: 4 CPUs per GPU, 4 GB) fit. Job records stay an hour for the assertions.
    slurm = SlurmCluster(
        tmp_path_factory.mktemp("slurm"), partition=PARTITION, gpus=1, cpus=max(4, os.cpu_count() or 1),
        memory_mb=16000, min_job_age=3600,
    )  # fmt: skip
    try:
        slurm.start()
    except ClusterUnavailable as error:
        pytest.skip(f"no Slurm test cluster: {error}")
    yield slurm
    slurm.stop()


def project_copy(root: Path) -> Path:
    for name in PROJECT_FILES:
        source = PROJECT / name
        (shutil.copytree(source, root / name, symlinks=True) if source.is_dir() else shutil.copy(source, root / name))
    (root / "slurm").symlink_to(os.readlink(PROJECT / "slurm"))  # as in the project: `--profile slurm` resolves it
    (root / "home").mkdir()
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return root


def snakemake(workdir: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = snakemake_env(workdir)
    env.pop("SLURM_CONF", None)
    command = ["timeout", "-s", "KILL", str(RUN_TIMEOUT_S), str(SNAKEMAKE), "--configfile", "tiny.yaml", *args]
    start = time.monotonic()
    proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(args)} failed ({proc.returncode}, {elapsed:.0f} s):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc, elapsed


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The tiny config through Slurm, then locally; their folders, snakemake logs and wall times."""
    on_slurm = project_copy(tmp_path_factory.mktemp("on_slurm"))
    proc, slurm_s = snakemake(
        on_slurm, "--profile", "slurm",
        "--default-resources", f"slurm_partition={PARTITION}", "runtime=30", "mem_mb=1000",
        "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs",
    )  # fmt: skip
    local = project_copy(tmp_path_factory.mktemp("local"))
    # The training's threads as on the node (the rule's 4, scaled down to the node's real cores by the job's
    # snakemake; a local job gets at most half of --cores), so both sum in the same order: weights agree exactly.
    cores = 2 * min(4, os.cpu_count() or 1)
    _, local_s = snakemake(local, "--cores", str(cores))
    print(f"\nwall time of the tiny config: {slurm_s:.1f} s through Slurm, {local_s:.1f} s locally (--cores {cores})")
    return {"slurm": on_slurm, "local": local, "log": proc.stdout + proc.stderr, "slurm_s": slurm_s, "local_s": local_s}


def submitted_jobs(log: str) -> dict[int, tuple[str, str]]:
    """Slurm job id -> (rule, its wildcards' values joined by '_', or ''), from the plugin's submission lines."""
    found = re.findall(
        r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+?)/(?:([^/\s]+)/)?\d+\.log\)", log
    )
    return {int(job): (rule, wildcards) for job, rule, wildcards in found}


def scontrol_job(job_id: int) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "-d", "-o", "show", "job", str(job_id)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", out))


def test_every_job_ran_as_a_slurm_job_in_the_given_partition(runs):
    jobs = submitted_jobs(runs["log"])
    rules = {rule for rule, _ in jobs.values()}
    assert {"train_task", "compress_ladder_shard", "evaluate_task_shard"} <= rules
    # Dataset preparation downloads: it runs on the submitting machine (compute nodes often have no internet).
    assert "prepare_dataset" not in rules and re.search(r"^localcheckpoint prepare_dataset:", runs["log"], re.M)
    assert sum(rule == "evaluate_task_shard" for rule, _ in jobs.values()) == 2  # 40 test images, 20 per shard
    # Every job not marked local ('rule X:' or 'checkpoint X:' in snakemake's log, local ones show as 'localrule X:')
    # went to Slurm.
    remote = re.findall(r"^(?:rule|checkpoint) (\w+):", runs["log"], re.M)
    assert sorted(remote) == sorted(rule for rule, _ in jobs.values())
    for job_id, (rule, wildcards) in jobs.items():
        record = scontrol_job(job_id)
        assert record["JobState"] == "COMPLETED", (job_id, rule, record.get("Reason"))
        assert record["Partition"] == PARTITION
        assert record["Comment"] == f"rule_{rule}" + (f"_wildcards_{wildcards}" if wildcards else "")
        log = runs["slurm"] / ".snakemake/slurm_logs" / f"rule_{rule}" / wildcards / f"{job_id}.log"
        assert re.search(rf"^(rule|checkpoint) {rule}:", log.read_text(), re.M)  # the job's snakemake ran it there


def test_gpu_tagged_jobs_were_given_a_gpu_and_their_cpus(runs):
    jobs = submitted_jobs(runs["log"])
    profile = yaml.safe_load((PROJECT / "profiles/slurm/config.yaml").read_text())["set-resources"]
    for job_id, (rule, _) in jobs.items():
        record = scontrol_job(job_id)
        if rule in GPU_RULES:
            assert record["TresPerJob"] == "gres:gpu:1"  # --gpus=1
            assert record["JOB_GRES"] == "gpu:fake:1"  # and Slurm allocated the node's GPU to it
            assert record["CpusPerTres"] == f"gres:gpu:{profile[rule]['cpus_per_gpu']}"
            assert int(record["NumCPUs"]) == profile[rule]["cpus_per_gpu"]
        else:
            assert record.get("TresPerJob", "") in ("", "(null)") and record["JOB_GRES"] == "(null)", (rule, record)


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in table.columns if not VOLATILE_COLUMNS.search(c)]
    keys = [c for c in ("dataset", "codec", "quality", "image_id", "train_variant") if c in keep]
    return table[keep].sort_values(keys).reset_index(drop=True)


def test_results_equal_a_local_run(runs):
    for table in ("results/tables/quality.csv", "results/tables/tasks/digits_cnn/summary.csv"):
        on_slurm, local = (pd.read_csv(runs[where] / table) for where in ("slurm", "local"))
        assert len(on_slurm) > 0
        pd.testing.assert_frame_equal(comparable(on_slurm), comparable(local), check_exact=False, rtol=1e-9)
    assert {"encode_s", "decode_s"} <= set(pd.read_csv(runs["slurm"] / "results/tables/quality.csv").columns)
    # Trained the same way on the node as here, with the same threads: the same settings, images, loss and weights.
    import torch

    path = "results/models/tasks/digits_cnn/original/checkpoint.pt"
    on_slurm, local = (torch.load(runs[where] / path, map_location="cpu") for where in ("slurm", "local"))
    assert on_slurm["training"] == local["training"]
    assert on_slurm["state_dict"].keys() == local["state_dict"].keys()
    for name, weights in on_slurm["state_dict"].items():
        assert torch.equal(weights, local["state_dict"][name]), name
