"""Helpers of tests/workflow/test_faults.py: start Snakemake in its own session, find its jobs in /proc, kill them
with SIGKILL, rerun the way a user would after a crash, and compare two runs' tables (timings aside) and models."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from snakemake_project import SNAKEMAKE, TIMING_COLUMNS, run_snakemake, snakemake_env

POLL_S = 0.02


@contextlib.contextmanager
def snakemake_session(workdir: Path, configfile: str, name: str) -> Iterator[subprocess.Popen]:
    """Snakemake started in the background as the leader of a new session (so its process group and session id
    are its pid, and every job it starts inherits them); its output goes to ``workdir/<name>.out``. On leaving,
    whatever is still running in that session is killed, so that no test leaves a process behind."""
    with open(workdir / f"{name}.out", "w") as out:
        proc = subprocess.Popen(
            [str(SNAKEMAKE), "--cores", "2", "--configfile", configfile],
            cwd=workdir, env=snakemake_env(workdir), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        kill_session(proc)


def session_processes(session: int) -> dict[int, str]:
    """pid -> command line of every live (not zombie) process in ``session``, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        # Fields after the command name (which may hold spaces and parentheses): state ppid pgrp session ...
        state, _ppid, _pgrp, sid = stat[stat.rindex(")") + 2 :].split()[:4]
        if int(sid) == session and state not in ("Z", "X"):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def job_processes(proc: subprocess.Popen, script: str) -> list[int]:
    """The pids of the jobs of ``proc``'s session running ``scripts/<script>`` (Snakemake runs a rule's script as
    ``python .snakemake/scripts/tmpXXXX.<script>``)."""
    return [
        pid for pid, cmd in session_processes(proc.pid).items() if re.search(rf"\.snakemake/scripts/\S*\.{script}", cmd)
    ]


def wait_until(condition: Callable[[], object], what: str, proc: subprocess.Popen | None = None, timeout_s=300):
    """Poll ``condition`` until it is true; fail if ``proc`` (Snakemake) ends first or after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if result := condition():
            return result
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"snakemake ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_S)


def wait_for_exit(pids: list[int], timeout_s: float = 300) -> None:
    """Wait until none of ``pids`` is alive (an orphan is reaped by init, so its /proc entry disappears)."""

    def alive(pid: int) -> bool:
        try:
            return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) not in ("Z", "X")
        except (OSError, IndexError):
            return False

    wait_until(lambda: not any(alive(pid) for pid in pids), f"processes {pids} to exit", timeout_s=timeout_s)


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL Snakemake's whole process group (Snakemake and its jobs), then any process of its session still
    alive (one that left the group), each by its pid; wait until all are gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in session_processes(proc.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=60)
    wait_for_exit(list(session_processes(proc.pid)), timeout_s=60)


def start_until(
    stack: contextlib.ExitStack,
    workdir: Path,
    configfile: str,
    name: str,
    condition: Callable[[subprocess.Popen], object],
    what: str,
) -> tuple[subprocess.Popen, list[str]]:
    """Start Snakemake in the background (its session is killed when ``stack`` closes) and wait until
    ``condition(proc)`` holds. As a user would on a rerun after a kill: if Snakemake ends saying the directory
    is locked, ``--unlock`` once and start it again. Returns Snakemake and the commands that were run, in order."""
    steps = []
    while True:
        steps.append("snakemake")
        out = f"{name}-{len(steps)}"
        proc = stack.enter_context(snakemake_session(workdir, configfile, out))
        state = wait_until(partial(_ready_or_ended, proc, condition), what)
        if state == "ready":
            return proc, steps
        text = (workdir / f"{out}.out").read_text()
        if "LockException" in text and "snakemake --unlock" not in steps:
            run_snakemake(workdir, "--configfile", configfile, "--unlock")
            steps.append("snakemake --unlock")
            continue
        pytest.fail(f"snakemake ended (exit {proc.returncode}) before {what}:\n{text[-5000:]}")


def _ready_or_ended(proc: subprocess.Popen, condition: Callable[[subprocess.Popen], object]) -> str | None:
    if condition(proc):
        return "ready"
    return "ended" if proc.poll() is not None else None


def kill_when(
    workdir: Path, configfile: str, name: str, condition: Callable[[subprocess.Popen], object], what: str
) -> list[str]:
    """Run Snakemake in the background (see start_until) until ``condition(proc)`` holds, then SIGKILL it and all
    its jobs (the process group). Returns the commands that were run, in order."""
    with contextlib.ExitStack() as stack:
        proc, steps = start_until(stack, workdir, configfile, name, condition, what)
        kill_session(proc)
    return steps


def recover(workdir: Path, configfile: str) -> tuple[list[str], subprocess.CompletedProcess]:
    """Rerun after a crash as the README tells a user to: the same command; if Snakemake says the directory is
    locked (the killed run's lock is left behind), ``--unlock`` and the same command again. Nothing else:
    ``--rerun-incomplete`` is in profiles/default, and no output is deleted by hand. Returns the commands that
    were needed, in order, and the last run (which must succeed)."""
    steps = ["snakemake"]
    proc = run_snakemake(workdir, "--configfile", configfile, check=False)
    if proc.returncode != 0 and "LockException" in proc.stderr:
        run_snakemake(workdir, "--configfile", configfile, "--unlock")
        steps += ["snakemake --unlock", "snakemake"]
        proc = run_snakemake(workdir, "--configfile", configfile, check=False)
    if proc.returncode != 0:
        pytest.fail(
            f"rerun after the kill failed (after {' -> '.join(steps)}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return steps, proc


def executed_rules(proc: subprocess.CompletedProcess) -> list[str]:
    """The rules of the jobs a real run executed, one entry per job, sorted."""
    return sorted(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", proc.stderr, re.M))


# ---- comparing runs -------------------------------------------------------------------------------------------


def is_timing(column: str) -> bool:
    """Whether a table column (or JSON key) measures the run itself or names its machine, and so differs between
    any two runs: snakemake_project.TIMING_COLUMNS (encode_s, decode_s, host), any other ``*_s`` measure or its
    rate (``encode_s_per_mp``), their bootstrap bounds (``encode_s_ci_low``), CompressAI's JSON names for the
    coding times (``encoding_time``), and the stage costs' memory and time shares (``peak_rss_mb``,
    ``wall_share_pct``)."""
    base = re.sub(r"_ci_(low|high)$", "", column)
    return base in TIMING_COLUMNS or base.endswith(("_s", "_s_per_mp", "_time", "_mb", "_share_pct"))


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"}


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not is_timing(k)}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _frame_difference(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    a = a.drop(columns=[c for c in a.columns if is_timing(str(c))])
    b = b.drop(columns=[c for c in b.columns if is_timing(str(c))])
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError as error:
        return str(error)[:1500]
    return None


def table_differences(first: Path, second: Path) -> list[str]:
    """How ``results/tables`` of two project copies differ, timing columns aside: the same files, and in each
    CSV the same text in every cell (read as strings), in each parquet file the same frame (exactly), in each
    JSON document the same values; empty if they agree."""
    roots = [run / "results" / "tables" for run in (first, second)]
    files = [_files(root) for root in roots]
    differences = []
    if files[0] != files[1]:
        differences.append(
            f"only in {first}: {sorted(files[0] - files[1])}; only in {second}: {sorted(files[1] - files[0])}"
        )
    assert files[0] & files[1], f"no tables under {roots}"
    for name in sorted(files[0] & files[1]):
        a, b = (root / name for root in roots)
        if name.endswith(".csv"):
            read = {"dtype": str, "keep_default_na": False}
            difference = _frame_difference(pd.read_csv(a, **read), pd.read_csv(b, **read))
        elif name.endswith(".parquet"):
            difference = _frame_difference(pd.read_parquet(a), pd.read_parquet(b))
        elif name.endswith(".json"):
            documents = [_without_timings(json.loads(p.read_text())) for p in (a, b)]
            difference = None if documents[0] == documents[1] else f"{documents[0]}\n!=\n{documents[1]}"
        else:
            difference = None if a.read_bytes() == b.read_bytes() else "the bytes differ"
        if difference:
            differences.append(f"{name}: {difference}")
    return differences


def file_differences(first: Path, second: Path, folder: str) -> list[str]:
    """Files under ``folder`` (e.g. results/compressed: bitstreams, decoded images, rate tables) that are not in
    both copies, or whose bytes differ; CSV files are compared as tables without their timing columns."""
    roots = [run / folder for run in (first, second)]
    files = [_files(root) for root in roots]
    differences = []
    if files[0] != files[1]:
        differences.append(
            f"only in the first: {sorted(files[0] - files[1])}; in the second: {sorted(files[1] - files[0])}"
        )
    for name in sorted(files[0] & files[1]):
        a, b = (root / name for root in roots)
        if name.endswith(".csv"):
            read = {"dtype": str, "keep_default_na": False}
            if difference := _frame_difference(pd.read_csv(a, **read), pd.read_csv(b, **read)):
                differences.append(f"{name}: {difference}")
        elif a.read_bytes() != b.read_bytes():
            differences.append(f"{name}: the bytes differ")
    return differences


def checkpoints(run: Path) -> dict[str, Path]:
    """The trained codecs' checkpoints of a run, by path below results/models."""
    models = run / "results" / "models"
    return {str(p.relative_to(models)): p for p in sorted(models.rglob("checkpoint.pth.tar"))}


def checkpoint_content_differences(first: Path, second: Path) -> list[str]:
    """Trained checkpoints whose content differs between two runs: every tensor of the weights (exactly) and the
    stored training record; their train.csv curves too. The file bytes are not compared here."""
    import torch

    a, b = checkpoints(first), checkpoints(second)
    if sorted(a) != sorted(b) or not a:
        return [f"checkpoints {sorted(a)} != {sorted(b)}"]
    differences = []
    for name in a:
        one, two = (torch.load(p[name], map_location="cpu", weights_only=True) for p in (a, b))
        if sorted(one) != sorted(two):
            differences.append(f"{name}: keys {sorted(one)} != {sorted(two)}")
            continue
        if sorted(one["state_dict"]) != sorted(two["state_dict"]):
            differences.append(f"{name}: the weights' names differ")
        elif weights := [k for k in one["state_dict"] if not torch.equal(one["state_dict"][k], two["state_dict"][k])]:
            differences.append(f"{name}: weights differ: {weights[:5]}")
        for key in (k for k in one if k != "state_dict"):
            if one[key] != two[key]:
                differences.append(f"{name}: {key} {one[key]} != {two[key]}")
        curves = [(p[name].parent / "train.csv").read_bytes() for p in (a, b)]
        if curves[0] != curves[1]:
            differences.append(f"{name}: train.csv differs")
    return differences
