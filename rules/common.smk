# Helpers for all stages: config validation and the input functions (get_*) the rule files call.

import functools
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from codecbench import layout
from codecbench.datasets.fingerprint import dataset_fingerprint
from codecbench.codecs import get_codec_class
from codecbench.datasets.sources import get_source
from codecbench.metrics import REGISTRY as METRIC_REGISTRY, rate_quality_metrics
from codecbench.config.plugins import PluginError, load_plugins, plugin_fingerprint
from codecbench.report.provenance import config_hash
from codecbench.tasks import get_task_class
from codecbench.config.plan import (
    codec_datasets,
    TRAIN_VIEW_SUFFIX,
    UNCOMPRESSED,
    USER_CHECKPOINT,
    codec_job_settings,
    dataset_shards,
    dataset_job_settings,
    images_per_shard,
    is_sharded,
    dataset_view,
    is_sequence_codec,
    is_learned_codec,
    is_video_dataset,
    parse_train_variant,
    PRETRAINED_VARIANT,
    registry_name,
    sweep_points,
    target_points,
    task_codecs,
    task_job_settings,
    train_variants,
    training_set_points,
    training_settings,
)
from codecbench.config.validate import ConfigError, check_config_files, validate_config

# Every cache inside the project, never in $HOME (matplotlib, torch hub, pooch/XDG users).
for _variable, _folder in [
    ("MPLCONFIGDIR", "matplotlib"),
    ("XDG_CACHE_HOME", "xdg"),
    ("TORCH_HOME", "torch"),
    ("YOLO_CONFIG_DIR", "ultralytics"),
]:
    os.environ.setdefault(
        _variable, str(Path(workflow.basedir, ".cache", _folder).resolve())
    )

_config_source = ", ".join(map(str, workflow.overwrite_configfiles)) or "config.yaml"
try:
    # Snakemake has loaded the files (configfile: or --configfile) keeping the last of duplicate keys: re-read them.
    check_config_files(workflow.configfiles, source=f"config ({_config_source})")
    # Plug-ins first: what they register is part of the schema. A malformed list is the schema's to report.
    _plugins = config.get("plugins", [])
    if isinstance(_plugins, list) and all(isinstance(p, str) for p in _plugins):
        load_plugins(_plugins)
    _validated = validate_config(
        config,
        Path(workflow.basedir, "schemas", "config.schema.yaml"),
        source=f"config ({_config_source})",
    )
    # The plug-ins' code, a param of the jobs that run it (metrics, dataset sources): an edit reruns them.
    PLUGIN_CODE = plugin_fingerprint(_validated["plugins"])
except (ConfigError, PluginError) as error:
    sys.exit(str(error))
config.clear()
config.update(_validated)

# Wildcard values: a point of a quality ladder, and an equal-rate point's target (its folder is 'target_<bpp>').
LADDER_QUALITY = r"-?[0-9]+(\.[0-9]+)?"
TARGET_BPP = r"[0-9]+(\.[0-9]+)?"
# Compression jobs also run on tasks' train splits: the dataset views '<dataset>-train'.
TRAIN_VIEWS = sorted({view for view, _, _ in training_set_points(config)})


def alternatives(names):
    """A regex matching exactly one of ``names`` (for wildcard_constraints)."""
    return "|".join(re.escape(name) for name in names)


# ---- sharding (datasets with 'shards: N' or sharded by size): shard jobs per point, task model or ladder, then a
# local merge. A rule's 'dataset' (or 'task') constraint sends each dataset to either the one-job rule or the shard
# merge, so unsharded datasets keep their jobs and paths. A shard's path holds its index and the shard count, which
# the config gives, or, sharded by size, the prepared manifest: prepare_dataset is a checkpoint, and Snakemake
# plans a size-sharded dataset's shard jobs once it has run.
SHARD = r"[0-9]+"
_VIEWS = list(config["datasets"]) + TRAIN_VIEWS


def never_if_empty(pattern):
    """``pattern``, or a regex no wildcard value matches when there is nothing to match."""
    return pattern or "(?!)"


UNSHARDED_VIEWS = never_if_empty(
    alternatives(v for v in _VIEWS if not is_sharded(config, v))
)
SHARDED_VIEWS = never_if_empty(alternatives(v for v in _VIEWS if is_sharded(config, v)))
UNSHARDED_TASKS = never_if_empty(
    alternatives(
        t
        for t, e in config.get("tasks", {}).items()
        if not is_sharded(config, e["dataset"])
    )
)
SHARDED_TASKS = never_if_empty(
    alternatives(
        t
        for t, e in config.get("tasks", {}).items()
        if is_sharded(config, e["dataset"])
    )
)


def shard_count(view, codec=None):
    """How many shard jobs split a dataset view's work (with ``codec``: its compression by that codec): the
    config's fixed count, or, sharded by size, the count its prepared split comes to."""
    per_shard = images_per_shard(config, view)
    if per_shard is None:
        return dataset_shards(config, view)
    dataset, split = dataset_view(view)
    manifest = checkpoints.prepare_dataset.get(dataset=dataset).output.manifest
    sequence_codec = codec is not None and is_sequence_codec(config, codec)
    modified = os.stat(manifest).st_mtime_ns
    return _prepared_shard_count(manifest, modified, split, per_shard, sequence_codec)


@functools.cache
def _prepared_shard_count(manifest, modified, split, per_shard, sequence_codec):
    """count_shards of a prepared split, read once per manifest version (``modified``): every merge job's input
    functions ask for it (a compression point three times)."""
    from codecbench.datasets import read_split
    from codecbench.stages.shards import count_shards

    rows = read_split(manifest, split)
    return count_shards(manifest, rows, per_shard, sequence_codec=sequence_codec)


def shard_params(wildcards):
    """A shard job's params beyond its rule's: its shard index and the shard count (both change its rows)."""
    return {"index": int(wildcards.shard), "count": int(wildcards.shard_count)}


def shard_names(count):
    """The path labels of the shards of ``count``: '<index>-of-<count>'."""
    return [layout.shard_label(k, count) for k in range(count)]


def get_compress_shards(name):
    """Input function: one output (``name``: rate.csv, bitstreams, decoded) of every shard of a point."""

    def shard_files(wildcards):
        shards = shard_names(shard_count(wildcards.dataset, wildcards.codec))
        return [
            f"{layout.point_shard_dir(wildcards.dataset, wildcards.codec, wildcards.quality, shard)}/{name}"
            for shard in shards
        ]

    return shard_files


def get_quality_shards(wildcards):
    return [
        layout.ladder_quality_shard_table(wildcards.dataset, wildcards.codec, shard)
        for shard in shard_names(shard_count(wildcards.dataset))
    ]


def task_dataset(wildcards):
    return config["tasks"][wildcards.task]["dataset"]


def get_evaluation_shards(wildcards):
    return [
        layout.task_predictions_shard(wildcards.task, wildcards.train_variant, shard)
        for shard in shard_names(shard_count(task_dataset(wildcards)))
    ]


def task_manifest(wildcards):
    """The manifest of a task's dataset."""
    return layout.manifest(task_dataset(wildcards))


def plugin_code_of(code):
    """The plug-ins' code (:data:`PLUGIN_CODE`) when ``code`` (a function or class) comes from a plug-in, so that
    editing the plug-in reruns the jobs that run it; nothing for the package's own code.
    """
    return {} if code.__module__.startswith("codecbench.") else PLUGIN_CODE


def get_source_plugin_code(wildcards):
    """The plug-ins' code when a dataset's source is a plug-in's (an edit re-prepares the dataset)."""
    return plugin_code_of(
        get_source(config["datasets"][wildcards.dataset]["source"]).read
    )


def get_codec_plugin_code(wildcards):
    """The plug-ins' code when a codec is a plug-in's (an edit re-codes its points)."""
    return plugin_code_of(get_codec_class(registry_name(config, wildcards.codec)))


def get_task_plugin_code(wildcards):
    """The plug-ins' code when a task is a plug-in's (an edit retrains and re-evaluates it)."""
    return plugin_code_of(get_task_class(config["tasks"][wildcards.task]["task"]))


def get_view_manifest(wildcards):
    """The manifest behind a compression job's dataset view ('digits-train' is digits' train split)."""
    return layout.manifest(dataset_view(wildcards.dataset)[0])


def get_point_tables(dataset, codec=None):
    """Per-(dataset, codec) metric tables (every ladder point) of one dataset (and one codec, if given), or of
    all datasets."""
    pairs = dict.fromkeys((d, c) for d, c, _ in sweep_points(config))
    return [
        layout.ladder_quality_table(d, c)
        for d, c in pairs
        if dataset in (None, d) and codec in (None, c)
    ]


def get_ladder_files(name):
    """Input function: one file (``name``: rate.csv, decoded) of each point of a codec's ladder, in ladder order."""

    def ladder_files(wildcards):
        return [
            f"{layout.point_dir(wildcards.dataset, wildcards.codec, quality)}/{name}"
            for quality in config["codecs"][wildcards.codec]["qualities"]
        ]

    return ladder_files


def model_settings_hash(codec, model):
    """The hash of one trained model's settings, which its folder name carries."""
    return config_hash(training_settings(config, codec, int(model)))[:12]


def get_model_dir(codec, model):
    """Where a trained model lives: its folder name carries the hash of its training settings."""
    return layout.codec_model_dir(codec, model, model_settings_hash(codec, model))


def model_threads(wanted):
    """The threads of a job that runs a network (training, task evaluation, a learned codec): ``wanted``, but in a
    local run at most half its cores. A job that needs every core of a small machine waits until all
    single-threaded jobs are done and then runs alone: on 2 cores the default run's trainings and evaluations ran
    one after another at the end, 680 of its 1,030 s, each using 1.2-1.6 cores (measured). On a cluster (the jobs
    on the nodes included) a job gets ``wanted``, and its CPUs from the profile."""

    def threads(wildcards):
        try:
            cores = workflow.cores
        except WorkflowError:  # no --cores: a dry run, or a cluster executor
            return wanted
        if not (workflow.local_exec and workflow.is_main_process):
            return wanted
        return max(1, min(wanted, cores // 2))

    return threads


# Learned codecs run a network on every image: up to this many threads, and a GPU when the job gets one
# (resources: gpu=1, as training). Classical codecs are single-threaded.
LEARNED_CODEC_THREADS = 4


def get_codec_threads(wildcards):
    if is_learned_codec(config, wildcards.codec):
        return model_threads(LEARNED_CODEC_THREADS)(wildcards)
    return 1


def get_codec_gpus(wildcards):
    return int(is_learned_codec(config, wildcards.codec))


def get_checkpoint(wildcards):
    """A trained codec's compression job needs its model, a learned codec given a user's ``checkpoint`` that file
    (so that replacing it reruns the codec's points); every other codec needs nothing.
    """
    if wildcards.codec in config.get("learned", {}):
        return f"{get_model_dir(wildcards.codec, wildcards.quality)}/checkpoint.pth.tar"
    own = config["codecs"][wildcards.codec].get("options", {}).get("checkpoint")
    return [own] if own else []


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
        layout.target_quality_table(d, c, bpp) for d, c, bpp in target_points(config)
    ]


def get_codec_jsons(dataset):
    """CompressAI-style JSON of every codec that runs on ``dataset``."""
    return [
        layout.codec_json(dataset, codec)
        for codec in config["codecs"]
        if dataset in codec_datasets(config, codec)
    ]


def get_rd_metrics():
    """Quality metrics drawn against rate (and given a spread figure): the configured higher-is-better ones."""
    return rate_quality_metrics(config["metrics"])


def metric_figure_outputs(kind, category, label):
    """dataset_figures' outputs of one per-metric figure ``kind`` (rd, spread): for every rate-quality metric,
    ``<kind>_<metric>`` (the PNG, a report item with caption report/<kind>.rst) and ``<kind>_<metric>_svg``.
    """
    outputs = {}
    for metric in get_rd_metrics():
        path = layout.figure(f"{kind}_{metric}")
        outputs[f"{kind}_{metric}"] = report(
            f"{path}.png",
            caption=f"../report/{kind}.rst",
            category=category,
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "metric": metric, "figure": label},
        )
        outputs[f"{kind}_{metric}_svg"] = f"{path}.svg"
    return outputs


def get_dataset_points(dataset):
    """Every (codec, quality) ladder point of ``dataset``."""
    return [(c, q) for d, c, q in sweep_points(config) if d == dataset]


def get_decoded_dirs(dataset):
    """Every decoded-image folder of ``dataset``, in get_dataset_points order (the comparison grid picks its tiles
    among them)."""
    return [
        f"{layout.point_dir(dataset, c, q)}/decoded"
        for c, q in get_dataset_points(dataset)
    ]


def get_dataset_figures(dataset):
    names = [
        f"{kind}_{metric}" for kind in ("rd", "spread") for metric in get_rd_metrics()
    ]
    names += ["coding_time", "bd_rate", "grid"]
    return [layout.figure(f"{name}.png", dataset) for name in names]


def get_video_metrics():
    """The panels of a video dataset's kbit/s figure: the rate-quality metrics, then the clip metrics computed
    (VMAF)."""
    clip_metrics = [m for m in config["metrics"] if METRIC_REGISTRY[m].per_clip]
    return get_rd_metrics() + clip_metrics


def get_video_figures(dataset):
    """A video dataset's quality-against-kbit/s figure and per-frame traces (none for image datasets, nor without
    a rate-quality metric to draw)."""
    if not is_video_dataset(config, dataset) or not get_video_metrics():
        return []
    return [layout.figure(f"{name}.png", dataset) for name in ("kbps", "traces")]


def get_train_variant_images(wildcards):
    """The decoded compressed train split a task's model trains on ([] for the original train split)."""
    parsed = parse_train_variant(wildcards.train_variant)
    if parsed is None:
        return []
    view = config["tasks"][wildcards.task]["dataset"] + TRAIN_VIEW_SUFFIX
    return f"{layout.point_dir(view, *parsed)}/decoded"


# Task settings that may name a model file of the user's (a detector's weights, HED's two files): an input when the
# file exists, so that replacing it reruns the evaluation; a bare name such as 'yolov8n.pt' is downloaded instead.
TASK_MODEL_FILE_KEYS = ("model", "hed_prototxt", "hed_weights")


def get_task_checkpoint(wildcards):
    """A user's own model (the task's 'checkpoint'), the one trained for this variant, or for a ready model the
    local files its settings name."""
    entry = config["tasks"][wildcards.task]
    own = entry.get("checkpoint")
    if own:
        return own
    if wildcards.train_variant == PRETRAINED_VARIANT:
        return [
            entry[key]
            for key in TASK_MODEL_FILE_KEYS
            if isinstance(entry.get(key), str) and os.path.isfile(entry[key])
        ]
    return f"{layout.task_model_dir(wildcards.task, wildcards.train_variant)}/checkpoint.pt"


def get_task_test_points(task):
    """The (codec, quality) test points of a task: uncompressed first, then every point of its codecs."""
    return [(UNCOMPRESSED, 0)] + [
        (codec, quality)
        for codec in task_codecs(config, task)
        for quality in config["codecs"][codec]["qualities"]
    ]


def get_task_test_files(name):
    """Input function: one file (``name``: decoded, rate.csv) of each compressed test point of a task, in
    get_task_test_points order (the uncompressed point has none)."""

    def test_files(wildcards):
        dataset = task_dataset(wildcards)
        return [
            f"{layout.point_dir(dataset, codec, quality)}/{name}"
            for codec, quality in get_task_test_points(wildcards.task)[1:]
        ]

    return test_files


def get_task_evaluations(task):
    return [
        layout.task_predictions(task, variant)
        for variant in train_variants(config, task)
    ]


def trained_variants(task):
    """The training variants of a task that the pipeline trains (not a user's checkpoint nor a ready model)."""
    return [
        variant
        for variant in train_variants(config, task)
        if variant not in (USER_CHECKPOINT, PRETRAINED_VARIANT)
    ]


def get_task_trainings(task):
    return [
        f"{layout.task_model_dir(task, variant)}/training.json"
        for variant in trained_variants(task)
    ]


def compressed_training_variants(task):
    """The training variants of a task trained on a compressed train split."""
    return [
        variant
        for variant in train_variants(config, task)
        if parse_train_variant(variant) is not None
    ]


def get_task_training_rates(task):
    """The rate tables of a task's compressed training sets (their bytes are the training sets' sizes), in
    compressed_training_variants order."""
    view = config["tasks"][task]["dataset"] + TRAIN_VIEW_SUFFIX
    return [
        f"{layout.point_dir(view, *parse_train_variant(variant))}/rate.csv"
        for variant in compressed_training_variants(task)
    ]


def get_task_outputs():
    outputs = []
    for task in config.get("tasks", {}):
        outputs += [
            layout.task_table(f"{name}.csv", task)
            for name in ("summary", "training_sets", "bd_rate")
        ]
        outputs += [
            layout.task_figure(f"{name}.png", task)
            for name in (
                "scores_bpp",
                "train_test_accuracy",
                "flips",
                "per_class",
                "gallery",
                "training_sets",
            )
        ]
        if is_video_dataset(config, config["tasks"][task]["dataset"]):
            outputs.append(layout.task_figure("scores_kbps.png", task))
    return outputs


def get_final_outputs():
    names = ["quality.csv", "quality.parquet", "summary.csv", "bd_rate.csv"]
    if target_points(config):
        names += ["equal_rate.csv", "equal_rate_summary.csv"]
    outputs = [layout.table(name) for name in names]
    outputs += [layout.provenance("json"), layout.provenance("txt")]
    outputs += [layout.table("stage_costs.csv"), layout.run_figure("stage_costs.png")]
    measured = dict.fromkeys(
        d for d, _, _ in sweep_points(config)
    )  # training-only datasets have no results
    for dataset in measured:
        outputs += get_codec_jsons(dataset) + get_dataset_figures(dataset)
        outputs += get_video_figures(dataset)
    return outputs + get_task_outputs()


# ---- stage costs: the benchmark TSV of every job with one, per stage -------------------------------------------
def job_names(name, view, codec=None):
    """A job's log/benchmark name (``name``, wildcards' path), or those of its shard jobs on a sharded view."""
    if not is_sharded(config, view):
        return [name]
    return [
        layout.shard_job_name(name, shard)
        for shard in shard_names(shard_count(view, codec))
    ]


def get_stage_benchmarks(wildcards):
    """Stage -> the benchmark TSVs of its jobs in this run, in DAG order (unpacked into the stage_costs input)."""
    points = sweep_points(config) + training_set_points(config)
    pairs = dict.fromkeys((d, c) for d, c, _ in sweep_points(config))
    learned = config.get("learned", {})
    tasks = config.get("tasks", {})
    prepared = dict.fromkeys(
        [dataset_view(d)[0] for d, _, _ in points]
        + [entry["dataset"] for entry in learned.values()]
        + [entry["dataset"] for entry in tasks.values()]
    )
    names = {
        "prepare_dataset": list(prepared),
        "train_codec": [
            layout.codec_model_name(codec, model, model_settings_hash(codec, model))
            for codec, entry in learned.items()
            for model in range(1, len(entry["lambdas"]) + 1)
        ],
        "compress": [
            job for d, c, q in points for job in job_names(f"{d}/{c}/{q}", d, c)
        ],
        "compress_target": [f"{d}/{c}/{bpp:g}" for d, c, bpp in target_points(config)],
        "quality": [job for d, c in pairs for job in job_names(f"{d}/{c}", d)]
        + [
            f"{d}/{c}/{layout.target_label(bpp)}" for d, c, bpp in target_points(config)
        ],
        "train_task": [
            f"{task}/{variant}" for task in tasks for variant in trained_variants(task)
        ],
        "evaluate_task": [
            job
            for task, entry in tasks.items()
            for variant in train_variants(config, task)
            for job in job_names(f"{task}/{variant}", entry["dataset"])
        ],
        "task_tables": list(tasks),
    }
    benchmarks = {
        stage: [layout.benchmark(stage, name) for name in jobs]
        for stage, jobs in names.items()
    }
    return benchmarks | {
        "summary": [layout.benchmark("summary")],
        "bd_rate": [layout.benchmark("bd_rate")],
    }
