"""Where every file of a run lives: the one place that knows the output layout under ``results/``.

The rules' outputs, the input functions and the library ask these functions; nothing builds or parses these paths
elsewhere. Each argument left out stays a Snakemake wildcard (``point_dir()`` is
``results/compressed/{dataset}/{codec}/{quality}``), so a rule's output and an input function's concrete path come
from the same function.

=================================================  =============================================================
``datasets/{dataset}/``                            ``manifest.csv`` and ``images/``: the prepared dataset
``compressed/{dataset}/{codec}/rates.csv``         the rate rows of every ladder point of one codec
``compressed/{dataset}/{codec}/{quality}/``        a ladder point's store: ``bitstreams/``, ``rate.csv`` (per
                                                   shard ``rate-<k>-of-<n>.csv``), ``decoded/`` if kept
``compressed/{dataset}/{codec}/target_{bpp}/``     an equal-rate point: its store and ``rates.csv``
``compressed/{dataset}/{codec}/shards/``           one shard job's rate rows (temporary, merged)
``quality/{dataset}/{codec}.csv``                  the metrics of every ladder point of one codec
``quality/{dataset}/{codec}/target_{bpp}.csv``      the metrics of one equal-rate point
``tables/``, ``figures/``                          the tables and figures (``tasks/{task}/`` for a task's)
``masks/{dataset}/{mask}/``                         one mask id's masks: ``masks.csv`` and a PNG per test image
``models/codecs/{codec}/{model}-{settings_hash}/``  a learned codec trained in the pipeline
``models/tasks/{task}/{train_variant}/``           a task model trained in the pipeline
``tasks/{task}/{train_variant}/predictions.csv``    one task model's predictions on every test point
``logs/{stage}/...``, ``benchmarks/{stage}/...``    each job's log and Snakemake benchmark TSV
``findings.md``, ``findings.html``                  what the run found, in sentences (``tables/findings.csv``)
=================================================  =============================================================

A dataset may be a *view*: ``digits-train`` is the train split of dataset ``digits`` (its compression points feed
the task models trained on compressed images).
"""

from __future__ import annotations

RESULTS = "results"
DOWNLOADS = "resources/downloads"
TARGET_PREFIX = "target_"  # an equal-rate point's folder: target_<bpp>


def _w(name: str) -> str:
    return "{" + name + "}"


def shard_label(index: object = _w("shard"), count: object = _w("shard_count")) -> str:
    """One shard of a sharded job in its paths: '<index>-of-<count>'."""
    return f"{index}-of-{count}"


def shard_job_name(name: str, shard: str = shard_label()) -> str:
    """The log and benchmark name of a shard job of the job named ``name``."""
    return f"{name}/shard-{shard}"


def dataset_dir(dataset: str = _w("dataset")) -> str:
    return f"{RESULTS}/datasets/{dataset}"


def manifest(dataset: str = _w("dataset")) -> str:
    return f"{dataset_dir(dataset)}/manifest.csv"


def point_dir(dataset: str = _w("dataset"), codec: str = _w("codec"), quality: object = _w("quality")) -> str:
    """A ladder point's folder (``quality`` as written in the config's ladder, e.g. 50, not 50.0)."""
    return f"{RESULTS}/compressed/{dataset}/{codec}/{quality}"


def target_point_dir(dataset: str = _w("dataset"), codec: str = _w("codec"), bpp: object = _w("bpp")) -> str:
    """An equal-rate point's folder."""
    return f"{RESULTS}/compressed/{dataset}/{codec}/{target_label(bpp)}"


def target_label(bpp: float | str = _w("bpp")) -> str:
    """An equal-rate point's name in the folders and in the tables' ``quality`` column: ``target_<bpp>`` (a number
    in its shortest form: 0.5, 1, not 1.0; a string, such as the wildcard's value, as it is)."""
    return f"{TARGET_PREFIX}{bpp if isinstance(bpp, str) else format(bpp, 'g')}"


def ladder_rates(dataset: str = _w("dataset"), codec: str = _w("codec")) -> str:
    """The rate rows of every point of one codec's ladder (a point's store holds its own)."""
    return f"{RESULTS}/compressed/{dataset}/{codec}/rates.csv"


def ladder_rates_shard(dataset: str = _w("dataset"), codec: str = _w("codec"), shard: str = shard_label()) -> str:
    return f"{RESULTS}/compressed/{dataset}/{codec}/shards/rates-{shard}.csv"


def target_rates(dataset: str = _w("dataset"), codec: str = _w("codec"), bpp: object = _w("bpp")) -> str:
    return f"{target_point_dir(dataset, codec, bpp)}/rates.csv"


def ladder_quality_table(dataset: str = _w("dataset"), codec: str = _w("codec")) -> str:
    return f"{RESULTS}/quality/{dataset}/{codec}.csv"


def ladder_quality_shard_table(
    dataset: str = _w("dataset"), codec: str = _w("codec"), shard: str = shard_label()
) -> str:
    return f"{RESULTS}/quality/{dataset}/{codec}/shard-{shard}.csv"


def target_quality_table(dataset: str = _w("dataset"), codec: str = _w("codec"), bpp: object = _w("bpp")) -> str:
    return f"{RESULTS}/quality/{dataset}/{codec}/{target_label(bpp)}.csv"


def masks_dir(dataset: str = _w("dataset"), mask: str = _w("mask")) -> str:
    """One mask id's masks of a dataset's test images (:mod:`codecbench.masks`)."""
    return f"{RESULTS}/masks/{dataset}/{mask}"


def masks_table(dataset: str = _w("dataset"), mask: str = _w("mask")) -> str:
    return f"{masks_dir(dataset, mask)}/masks.csv"


def table(name: str) -> str:
    """A run-wide table (``quality.csv``, ``summary.csv``, ...)."""
    return f"{RESULTS}/tables/{name}"


def dataset_table(name: str, dataset: str = _w("dataset")) -> str:
    """A table of one dataset (a video dataset's ``kbps.csv``)."""
    return f"{RESULTS}/tables/{dataset}/{name}"


def codec_json(dataset: str = _w("dataset"), codec: str = _w("codec")) -> str:
    """CompressAI's JSON of one codec's ladder on one dataset."""
    return f"{RESULTS}/tables/{dataset}/{codec}.json"


def figure(name: str, dataset: str = _w("dataset")) -> str:
    """A dataset's figure file (``name`` with its extension)."""
    return f"{RESULTS}/figures/{dataset}/{name}"


def run_figure(name: str) -> str:
    """A figure of the whole run (``name`` with its extension)."""
    return f"{RESULTS}/figures/{name}"


def codec_model_name(
    codec: str = _w("codec"), model: object = _w("model"), settings_hash: str = _w("settings_hash")
) -> str:
    """A trained codec model's name in its folder, log and benchmark paths: '<codec>/<model>-<settings hash>'."""
    return f"{codec}/{model}-{settings_hash}"


def codec_model_dir(
    codec: str = _w("codec"), model: object = _w("model"), settings_hash: str = _w("settings_hash")
) -> str:
    """A learned codec trained in the pipeline: its folder carries the hash of its training settings."""
    return f"{RESULTS}/models/codecs/{codec_model_name(codec, model, settings_hash)}"


def task_model_dir(task: str = _w("task"), train_variant: str = _w("train_variant")) -> str:
    return f"{RESULTS}/models/tasks/{task}/{train_variant}"


def task_predictions(task: str = _w("task"), train_variant: str = _w("train_variant")) -> str:
    return f"{RESULTS}/tasks/{task}/{train_variant}/predictions.csv"


def task_predictions_shard(
    task: str = _w("task"),
    train_variant: str = _w("train_variant"),
    shard: str = shard_label(),
) -> str:
    return f"{RESULTS}/tasks/{task}/{train_variant}/shard-{shard}.csv"


def task_table(name: str, task: str = _w("task")) -> str:
    return f"{RESULTS}/tables/tasks/{task}/{name}"


def task_figure(name: str, task: str = _w("task")) -> str:
    return f"{RESULTS}/figures/tasks/{task}/{name}"


def log(stage: str, name: str | None = None) -> str:
    """A job's log: ``name`` is its wildcards' path (e.g. '{dataset}/{codec}/{quality}'); a stage of one job
    has none."""
    return f"{RESULTS}/logs/{stage}" + (f"/{name}.log" if name else ".log")


def benchmark(stage: str, name: str | None = None) -> str:
    """A job's Snakemake benchmark TSV, named like its log."""
    return f"{RESULTS}/benchmarks/{stage}" + (f"/{name}.tsv" if name else ".tsv")


def provenance(extension: str) -> str:
    return f"{RESULTS}/provenance.{extension}"


def findings(extension: str) -> str:
    """What the run found, in sentences: ``findings.md`` to read, ``findings.html`` for the report."""
    return f"{RESULTS}/findings.{extension}"
