# Helpers for all stages: config validation and the input functions (get_*) the rule files call.

import os
import re
import sys
from pathlib import Path

from codecbench.provenance import config_hash
from codecbench.config import (
    BD_METRICS,
    ConfigError,
    codec_datasets,
    codec_job_settings,
    is_learned_codec,
    sweep_points,
    target_points,
    training_settings,
    validate_config,
)

# Every cache inside the project, never in $HOME (matplotlib, torch hub, pooch/XDG users).
for _variable, _folder in [
    ("MPLCONFIGDIR", "matplotlib"),
    ("XDG_CACHE_HOME", "xdg"),
    ("TORCH_HOME", "torch"),
]:
    os.environ.setdefault(
        _variable, str(Path(workflow.basedir, ".cache", _folder).resolve())
    )

_config_source = ", ".join(map(str, workflow.overwrite_configfiles)) or "config.yaml"
try:
    _validated = validate_config(
        config,
        Path(workflow.basedir, "schemas", "config.schema.yaml"),
        source=f"config ({_config_source})",
    )
except ConfigError as error:
    sys.exit(str(error))
config.clear()
config.update(_validated)

RESULTS = "results"
LADDER_QUALITY = r"-?[0-9]+(\.[0-9]+)?"  # a point of a quality ladder; equal-rate points are 'target_<bpp>'
DOWNLOADS = "resources/downloads"


def alternatives(names):
    """A regex matching exactly one of ``names`` (for wildcard_constraints)."""
    return "|".join(re.escape(name) for name in names)


def get_point_tables(dataset, codec=None):
    """Per-(dataset, codec, quality) tables of one dataset (and one codec, if given), or of all datasets."""
    return [
        f"{RESULTS}/quality/{d}/{c}/{q}.csv"
        for d, c, q in sweep_points(config)
        if dataset in (None, d) and codec in (None, c)
    ]


def get_model_dir(codec, model):
    """Where a trained model lives: its folder name carries the hash of its training settings."""
    settings_hash = config_hash(training_settings(config, codec, int(model)))[:12]
    return f"{RESULTS}/models/codecs/{codec}/{model}-{settings_hash}"


# Learned codecs run a network on every image: up to this many threads (Snakemake caps it at --cores), and a
# GPU when the job gets one (resources: gpu=1, as training). Classical codecs are single-threaded.
LEARNED_CODEC_THREADS = 4


def get_codec_threads(wildcards):
    return LEARNED_CODEC_THREADS if is_learned_codec(config, wildcards.codec) else 1


def get_codec_gpus(wildcards):
    return int(is_learned_codec(config, wildcards.codec))


def get_checkpoint(wildcards):
    """A trained codec's compression job needs its model; every other codec needs nothing."""
    if wildcards.codec not in config.get("learned", {}):
        return []
    return f"{get_model_dir(wildcards.codec, wildcards.quality)}/checkpoint.pth.tar"


def get_point_columns(wildcards):
    """Constant columns of a point's rows: a trained codec's lambda."""
    if wildcards.codec not in config.get("learned", {}):
        return {}
    return {
        "train_lambda": training_settings(
            config, wildcards.codec, int(wildcards.quality)
        )["lambda"]
    }


def get_target_point_tables(wildcards=None):
    """Per-point tables of every equal-rate (target bpp) point."""
    return [
        f"{RESULTS}/quality/{d}/{c}/{label}.csv"
        for d, c, label in target_points(config)
    ]


def get_codec_jsons(dataset):
    """CompressAI-style JSON of every codec that runs on ``dataset``."""
    return [
        f"{RESULTS}/tables/{dataset}/{codec}.json"
        for codec in config["codecs"]
        if dataset in codec_datasets(config, codec)
    ]


def get_rd_metrics():
    """Quality metrics drawn against rate (and given a spread figure): the configured higher-is-better ones."""
    return [m for m in BD_METRICS if m in config["metrics"]]


def get_decoded_dirs(dataset):
    """Every decoded-image folder of ``dataset`` (the comparison grid picks its tiles among them)."""
    return [
        f"{RESULTS}/compressed/{d}/{c}/{q}/decoded"
        for d, c, q in sweep_points(config)
        if d == dataset
    ]


def get_dataset_figures(dataset):
    figures = f"{RESULTS}/figures/{dataset}"
    outputs = expand(f"{figures}/rd_{{metric}}.png", metric=get_rd_metrics())
    outputs += expand(f"{figures}/spread_{{metric}}.png", metric=get_rd_metrics())
    return outputs + [
        f"{figures}/coding_time.png",
        f"{figures}/bd_rate.png",
        f"{figures}/grid.png",
    ]


def get_final_outputs():
    tables = f"{RESULTS}/tables"
    outputs = [
        f"{tables}/quality.csv",
        f"{tables}/quality.parquet",
        f"{tables}/summary.csv",
    ]
    outputs += [
        f"{tables}/bd_rate.csv",
        f"{RESULTS}/provenance.json",
        f"{RESULTS}/provenance.txt",
    ]
    if target_points(config):
        outputs += [f"{tables}/equal_rate.csv", f"{tables}/equal_rate_summary.csv"]
    measured = dict.fromkeys(
        d for d, _, _ in sweep_points(config)
    )  # training-only datasets have no results
    for dataset in measured:
        outputs += get_codec_jsons(dataset) + get_dataset_figures(dataset)
    return outputs
