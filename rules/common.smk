# Helpers for all stages: config validation and the input functions (get_*) the rule files call.

import os
import re
import sys
from pathlib import Path

from codecbench.config import (
    ConfigError,
    codec_datasets,
    codec_job_settings,
    sweep_points,
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


def get_codec_jsons(dataset):
    """CompressAI-style JSON of every codec that runs on ``dataset``."""
    return [
        f"{RESULTS}/tables/{dataset}/{codec}.json"
        for codec in config["codecs"]
        if dataset in codec_datasets(config, codec)
    ]


def get_rd_metrics():
    """The rate-distortion figures drawn per dataset: PSNR-RGB and MS-SSIM where those metrics are computed."""
    return [m for m in ("psnr_rgb", "ms_ssim") if m in config["metrics"]]


def get_final_outputs():
    outputs = [f"{RESULTS}/tables/quality.csv", f"{RESULTS}/tables/quality.parquet"]
    for dataset in config["datasets"]:
        outputs += get_codec_jsons(dataset)
        outputs += expand(
            f"{RESULTS}/figures/{dataset}/rd_{{metric}}.png", metric=get_rd_metrics()
        )
    return outputs
