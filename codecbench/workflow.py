"""Helpers for the scripts that Snakemake runs: send everything a job prints, tracebacks included, to its log."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def job_log(log_path: str | os.PathLike) -> Iterator[logging.Logger]:
    """Redirect stdout and stderr (file descriptors 1 and 2, so C libraries and tqdm too) into ``log_path``.

    A traceback raised inside the block is written to the log before the exception propagates, so Snakemake
    reports the failure and the log says why.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a", buffering=1, encoding="utf-8") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)
        logging.captureWarnings(True)
        try:
            yield logging.getLogger("codecbench")
        except BaseException:
            traceback.print_exc(file=sys.stderr)
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


@contextlib.contextmanager
def script_job(smk) -> Iterator[logging.Logger]:
    """A script's job: :func:`job_log` of its log, with the config's plug-ins imported first (a metric or dataset
    source of the user's: the job must know it as the planning did)."""
    from .config.plugins import load_plugins

    with job_log(smk.log[0]) as log:
        load_plugins(smk.config.get("plugins", []))
        yield log


def job_shard(smk) -> tuple[int, int] | None:
    """The ``(index, count)`` of a shard job (params ``shard``: rules/common.smk, shard_params), None for a job that
    handles the whole split."""
    shard = smk.params.shard
    return (shard["index"], shard["count"]) if shard else None


def written_by_another_process(path: str | os.PathLike, problem: str, script: str) -> FileExistsError:
    """The error for a training's output that is already there: its job did not write it (Snakemake deletes a
    job's outputs before starting it), so another process did, most likely an earlier run's job that outlived its
    Snakemake; ``problem`` says what is wrong with the file, ``script`` is the rule's script (e.g. train_task.py),
    as its process shows in ``ps``."""
    return FileExistsError(
        f"{path} already exists and {problem}. This training did not write it (Snakemake deletes a job's outputs "
        "before starting it): another process did, most likely an earlier run's training job that outlived its "
        f"Snakemake (e.g. Snakemake killed with kill -9) and is still running or has just finished (a python process "
        f"running .snakemake/scripts/tmp*.{script}). Wait for that process to end or kill it, then delete {path} "
        "and rerun"
    )
