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
from codecbench.masks import get_mask_source
from codecbench.config.plan import (
    codec_datasets,
    learned_comparisons,
    mask_jobs,
    roi_comparisons,
    variant_comparisons,
    TRAIN_VIEW_SUFFIX,
    UNCOMPRESSED,
    USER_CHECKPOINT,
    codec_job_settings,
    codec_keeps_decoded,
    compression_jobs,
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


def is_train_view(view):
    return dataset_view(view)[1] == "train"


SHARDED_VIEWS = never_if_empty(alternatives(v for v in _VIEWS if is_sharded(config, v)))


def _views(sharded, train):
    return never_if_empty(
        alternatives(
            v
            for v in _VIEWS
            if is_sharded(config, v) == sharded and is_train_view(v) == train
        )
    )


UNSHARDED_TEST_VIEWS = _views(sharded=False, train=False)
UNSHARDED_TRAIN_VIEWS = _views(sharded=False, train=True)
SHARDED_TEST_VIEWS = _views(sharded=True, train=False)
SHARDED_TRAIN_VIEWS = _views(sharded=True, train=True)
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


def get_ladder_shards(path):
    """Input function: ``path`` (a layout function of dataset, codec and shard) of every shard of a ladder."""

    def shard_files(wildcards):
        shards = shard_names(shard_count(wildcards.dataset, wildcards.codec))
        return [path(wildcards.dataset, wildcards.codec, shard) for shard in shards]

    return shard_files


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


def ladder_qualities(view, codec):
    """The points a compression job of (``view``, ``codec``) codes: the codec's ladder, or on a task's train view
    only the points its models train on."""
    if is_train_view(view):
        return [
            q for v, c, q in training_set_points(config) if v == view and c == codec
        ]
    return list(config["codecs"][codec]["qualities"])


def point_checkpoint(codec, quality):
    """A trained codec's model file at one of its points (None for every other codec)."""
    if codec not in config.get("learned", {}):
        return None
    return f"{get_model_dir(codec, quality)}/checkpoint.pth.tar"


def get_ladder_points(wildcards):
    """Each point of a compression job: its quality, a trained codec's model file and lambda."""
    points = []
    for quality in ladder_qualities(wildcards.dataset, wildcards.codec):
        point = {
            "quality": quality,
            "checkpoint": point_checkpoint(wildcards.codec, quality),
            "extra": {},
        }
        if wildcards.codec in config.get("learned", {}):
            point["extra"] = {
                "train_lambda": training_settings(
                    config, wildcards.codec, int(quality)
                )["lambda"]
            }
        points.append(point)
    return points


def get_ladder_checkpoints(wildcards):
    """A trained codec's models (one per point), a learned codec's own ``checkpoint`` file (replacing it reruns
    the codec's job); nothing for every other codec."""
    models = [
        point_checkpoint(wildcards.codec, q)
        for q in ladder_qualities(wildcards.dataset, wildcards.codec)
    ]
    own = config["codecs"][wildcards.codec].get("options", {}).get("checkpoint")
    return [m for m in models if m] + ([own] if own else [])


def codec_reading(codec):
    """What a job that reads a codec's stored points needs to get their pixels (codecbench.stages.points):
    the codec's settings, whether its decoded images are kept, and a trained codec's model file per point.
    """
    return {
        "settings": codec_job_settings(config, codec),
        "keep_decoded": codec_keeps_decoded(config, codec),
        "checkpoints": {
            str(q): point_checkpoint(codec, q)
            for q in config["codecs"][codec]["qualities"]
            if point_checkpoint(codec, q)
        },
    }


def model_settings_hash(codec, model):
    """The hash of one trained model's settings, which its folder name carries."""
    return config_hash(training_settings(config, codec, int(model)))[:12]


def get_model_dir(codec, model):
    """Where a trained model lives: its folder name carries the hash of its training settings."""
    return layout.codec_model_dir(codec, model, model_settings_hash(codec, model))


def get_train_codec_inputs(wildcards):
    """A trained codec's dataset, the base model it starts from (init_from) and the frozen task model its task
    loss runs (task_loss)."""
    entry = config["learned"][wildcards.codec]
    inputs = {
        "manifest": layout.manifest(entry["dataset"]),
        "init": [],
        "task_model": [],
    }
    if entry.get("init_from"):
        inputs["init"] = [point_checkpoint(entry["init_from"], int(wildcards.model))]
    if entry.get("task_loss"):
        inputs["task_model"] = [first_task_model(entry["task_loss"]["task"])]
    return inputs


def local_cores():
    """The cores of a local run; None without --cores (a dry run), with a cluster executor, or inside a job."""
    try:
        cores = workflow.cores
    except WorkflowError:
        return None
    return cores if workflow.local_exec and workflow.is_main_process else None


def model_threads(wanted):
    """The threads of a job that runs a network (training, task evaluation, a learned codec): ``wanted``, but in a
    local run at most half its cores. A job that needs every core of a small machine waits until all
    single-threaded jobs are done and then runs alone: on 2 cores the default run's trainings and evaluations ran
    one after another at the end, 680 of its 1,030 s, each using 1.2-1.6 cores (measured). On a cluster (the jobs
    on the nodes included) a job gets ``wanted``, and its CPUs from the profile."""

    def threads(wildcards):
        cores = local_cores()
        return wanted if cores is None else max(1, min(wanted, cores // 2))

    return threads


# Learned codecs run a network on every image: up to this many threads, and a GPU when the job gets one
# (resources: gpu=1, as training). A classical codec's job codes one image per thread: in a local run the cores
# are spread over the compression jobs (a config of fewer jobs than cores, like a single JPEG ladder, uses them
# all; the default run's 26 jobs get one each, as its schedule was measured); on a cluster one thread.
LEARNED_CODEC_THREADS = 4
COMPRESSION_JOBS = compression_jobs(config)


def get_codec_threads(wildcards):
    if is_learned_codec(config, wildcards.codec):
        return model_threads(LEARNED_CODEC_THREADS)(wildcards)
    cores = local_cores()
    return 1 if cores is None else max(1, cores // max(1, COMPRESSION_JOBS))


def get_codec_gpus(wildcards):
    return int(is_learned_codec(config, wildcards.codec))


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


def dataset_codecs(dataset):
    """The codecs measured on ``dataset``, in config order."""
    return list(dict.fromkeys(c for c, _ in get_dataset_points(dataset)))


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
    """A video dataset's quality-against-kbit/s figure, per-frame traces (none for image datasets, nor without
    a rate-quality metric to draw), and its table of kbit/s per point."""
    if not is_video_dataset(config, dataset) or not get_video_metrics():
        return []
    return [layout.figure(f"{name}.png", dataset) for name in ("kbps", "traces")] + [
        layout.dataset_table("kbps.csv", dataset)
    ]


def get_train_variant_rates(wildcards):
    """The rate rows of the compressed train split a task's model trains on ([] for the original train split)."""
    parsed = parse_train_variant(wildcards.train_variant)
    if parsed is None:
        return []
    view = config["tasks"][wildcards.task]["dataset"] + TRAIN_VIEW_SUFFIX
    return layout.ladder_rates(view, parsed[0])


def get_train_variant_reading(wildcards):
    """How a task's training reads its compressed train split: its point and codec_reading (None for the
    original train split)."""
    parsed = parse_train_variant(wildcards.train_variant)
    if parsed is None:
        return None
    codec, quality = parsed
    view = config["tasks"][wildcards.task]["dataset"] + TRAIN_VIEW_SUFFIX
    return {"dataset": view, "codec": codec, "quality": quality, **codec_reading(codec)}


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


def get_task_rates(wildcards):
    """Input function: the ladder rate rows of each codec of a task, in task_codecs order."""
    dataset = task_dataset(wildcards)
    return [
        layout.ladder_rates(dataset, codec)
        for codec in task_codecs(config, wildcards.task)
    ]


def get_task_quality_tables(wildcards):
    """Input function: the quality tables of each codec of a task on its test dataset, in task_codecs order."""
    dataset = task_dataset(wildcards)
    return [
        layout.ladder_quality_table(dataset, codec)
        for codec in task_codecs(config, wildcards.task)
    ]


def get_task_readings(wildcards):
    """codec_reading of each codec of a task, by codec."""
    return {
        codec: codec_reading(codec) for codec in task_codecs(config, wildcards.task)
    }


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
    """The rate rows of a task's compressed training sets (their bytes are the training sets' sizes), in
    compressed_training_variants order (each a ladder's table, holding the variant's point).
    """
    view = config["tasks"][task]["dataset"] + TRAIN_VIEW_SUFFIX
    return [
        layout.ladder_rates(view, parse_train_variant(variant)[0])
        for variant in compressed_training_variants(task)
    ]


def get_task_outputs():
    outputs = []
    for task in config.get("tasks", {}):
        outputs += [
            layout.task_table(f"{name}.csv", task)
            for name in ("summary", "training_sets", "bd_rate", "metric_agreement")
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
                "metric_agreement",
            )
        ]
        if is_video_dataset(config, config["tasks"][task]["dataset"]):
            outputs.append(layout.task_figure("scores_kbps.png", task))
            outputs.append(layout.task_table("kbps.csv", task))
    return outputs


def get_final_outputs():
    names = ["quality.csv", "quality.parquet", "summary.csv", "bd_rate.csv"]
    if target_points(config):
        names += ["equal_rate.csv", "equal_rate_summary.csv"]
    outputs = [layout.table(name) for name in names]
    outputs += [layout.provenance("json"), layout.provenance("txt")]
    outputs += [layout.table("stage_costs.csv"), layout.run_figure("stage_costs.png")]
    outputs += [layout.table("complexity.csv"), layout.run_figure("complexity.png")]
    outputs += [layout.findings("md"), layout.findings("html")]
    measured = dict.fromkeys(
        d for d, _, _ in sweep_points(config)
    )  # training-only datasets have no results
    for dataset in measured:
        outputs += get_codec_jsons(dataset) + get_dataset_figures(dataset)
        outputs += get_video_figures(dataset)
    return outputs + get_task_outputs() + get_roi_outputs()


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
            job
            for d, c in dict.fromkeys((d, c) for d, c, _ in points)
            for job in job_names(f"{d}/{c}", d, c)
        ],
        "compress_target": [f"{d}/{c}/{bpp:g}" for d, c, bpp in target_points(config)],
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
        "complexity": [layout.benchmark("complexity")],
    }


# ---- complexity: parameters, kMAC/px and coding time of every codec and task model -----------------------------
def first_task_model(task):
    """A task's model as the complexity table counts it, a mask draws with it or a codec trains against it: its
    first variant's (the user's own checkpoint, the one trained for it, or None for the ready model its settings
    name)."""
    entry = config["tasks"][task]
    variant = train_variants(config, task)[0]
    if entry.get("checkpoint"):
        return entry["checkpoint"]
    if variant == PRETRAINED_VARIANT:
        return None
    return f"{layout.task_model_dir(task, variant)}/checkpoint.pt"


def get_complexity_inputs(wildcards):
    """The quality table (every point's coding time) and each task's model file."""
    checkpoints = [first_task_model(task) for task in config.get("tasks", {})]
    return {
        "quality": layout.table("quality.csv"),
        "checkpoints": [path for path in checkpoints if path],
    }


def get_complexity_codecs(wildcards):
    """Each measured codec's job settings: its class, options and model size."""
    codecs = dict.fromkeys(c for _, c, _ in sweep_points(config))
    return {codec: codec_job_settings(config, codec) for codec in codecs}


def get_complexity_task_models(wildcards):
    """Each task's settings, dataset and model file (None: the ready model its settings name)."""
    return {
        task: {
            "settings": task_job_settings(config, task),
            "dataset": entry["dataset"],
            "checkpoint": first_task_model(task),
        }
        for task, entry in config.get("tasks", {}).items()
    }


def get_complexity_plugin_code(wildcards):
    """The plug-ins' code when any measured codec or task is a plug-in's."""
    classes = [
        get_codec_class(registry_name(config, c))
        for c in get_complexity_codecs(wildcards)
    ]
    classes += [
        get_task_class(entry["task"]) for entry in config.get("tasks", {}).values()
    ]
    return next((PLUGIN_CODE for cls in classes if plugin_code_of(cls)), {})


# ---- findings: what the run found, from the BD table and each task's summary and metric agreement -------------
def get_findings_inputs(wildcards):
    """The BD table, then per task ``summary_<task>`` and ``agreement_<task>``."""
    inputs = {"bd": layout.table("bd_rate.csv")}
    for task in config.get("tasks", {}):
        inputs[f"summary_{task}"] = layout.task_table("summary.csv", task)
        inputs[f"agreement_{task}"] = layout.task_table("metric_agreement.csv", task)
    if machines_datasets():
        inputs["machines"] = layout.table("machines.csv")
    return inputs


# ---- region-of-interest coding: the masks ROI variants read --------------------------------------------------
def mask_task(mask):
    """The task whose model draws a mask (a detector source), else None."""
    entry = config["masks"][mask]
    return entry.get("task") if get_mask_source(entry["source"]).uses_task else None


def mask_task_model(mask):
    """The model file a mask's task runs (its first variant's), or None for the ready model its settings name."""
    task = mask_task(mask)
    return first_task_model(task) if task else None


def get_mask_inputs(wildcards):
    """The dataset's manifest and, for a mask drawn by a model, the model file."""
    model = mask_task_model(wildcards.mask)
    return {
        "manifest": layout.manifest(wildcards.dataset),
        "model": [model] if model else [],
    }


def get_mask_task_settings(wildcards):
    """The settings of the task whose model draws the mask (None for other sources)."""
    task = mask_task(wildcards.mask)
    return task_job_settings(config, task) if task else None


def get_ladder_masks(wildcards):
    """An ROI variant's masks of the job's dataset (changing them reruns only its jobs); nothing for others."""
    roi = config["codecs"][wildcards.codec].get("roi")
    return [layout.masks_table(wildcards.dataset, roi["mask"])] if roi else []


def roi_datasets():
    """The datasets some ROI variant runs on, in config order."""
    return list(dict.fromkeys(dataset for dataset, _ in mask_jobs(config)))


def roi_variant_facts(dataset):
    """ROI variant -> its plain codec, strategy and mask, for the variants on ``dataset``."""
    return {
        codec: {
            "compare_to": plain,
            "strategy": config["codecs"][codec]["roi"]["strategy"],
            "mask": config["codecs"][codec]["roi"]["mask"],
        }
        for codec, plain in roi_comparisons(config, dataset).items()
    }


def roi_codecs_of(dataset):
    """The ROI variants on ``dataset`` and their plain codecs, each once."""
    facts = roi_variant_facts(dataset)
    return list(dict.fromkeys([*facts, *(f["compare_to"] for f in facts.values())]))


def get_roi_quality_inputs(wildcards):
    """A dataset's manifest, its ROI masks and the rate rows and quality tables of its ROI and plain codecs, in the
    order of the params."""
    codecs = roi_codecs_of(wildcards.dataset)
    masks = dict.fromkeys(
        f["mask"] for f in roi_variant_facts(wildcards.dataset).values()
    )
    return {
        "manifest": layout.manifest(wildcards.dataset),
        "masks": [layout.masks_table(wildcards.dataset, mask) for mask in masks],
        "rates": [layout.ladder_rates(wildcards.dataset, codec) for codec in codecs],
        "quality": [
            layout.ladder_quality_table(wildcards.dataset, codec) for codec in codecs
        ],
        # Reading a trained codec's points needs its models.
        "checkpoints": [
            path
            for codec in codecs
            for path in codec_reading(codec)["checkpoints"].values()
        ],
    }


def machines_datasets():
    """The datasets with a variant made for a vision model: an ROI variant or a codec trained for a task."""
    trained = [
        d
        for codec in learned_comparisons(config)
        for d in codec_datasets(config, codec)
    ]
    return list(dict.fromkeys([*roi_datasets(), *trained]))


def machines_summary_tasks():
    """Task -> its dataset, for the tasks on a dataset with such variants (the order of the task_bd input)."""
    return {
        task: entry["dataset"]
        for task, entry in config.get("tasks", {}).items()
        if entry["dataset"] in machines_datasets()
    }


def get_machines_summary_inputs(wildcards):
    """Every dataset's ROI quality table and the BD table of each task on a dataset with such variants."""
    return {
        "quality": [
            layout.dataset_table("roi_quality.csv", dataset)
            for dataset in roi_datasets()
        ],
        "task_bd": [
            layout.task_table("bd_rate.csv", task) for task in machines_summary_tasks()
        ],
    }


def trained_for_task():
    """Codec compared with a reference (learned compare_to) -> its reference, datasets and how it was trained."""
    facts = {}
    for codec, reference in learned_comparisons(config).items():
        task_loss = config["learned"][codec].get("task_loss")
        how = (
            f"task_loss {task_loss['task']} gamma={task_loss['gamma']:g}"
            if task_loss
            else "fine-tuned"
        )
        facts[codec] = {
            "compare_to": reference,
            "datasets": codec_datasets(config, codec),
            "strategy": how,
        }
    return facts


def self_scorers():
    """Codec -> the task whose model drew its mask or trained it: a gain that task scores flatters the codec."""
    scorers = {}
    for codec in config["codecs"]:
        roi = config["codecs"][codec].get("roi")
        if roi and mask_task(roi["mask"]):
            scorers[codec] = mask_task(roi["mask"])
    for codec, entry in config.get("learned", {}).items():
        if entry.get("task_loss"):
            scorers[codec] = entry["task_loss"]["task"]
    return scorers


def get_roi_outputs():
    """The ROI and task-trained codecs' tables and figures, when the config has such variants."""
    if not machines_datasets():
        return []
    outputs = [layout.table("machines.csv"), layout.run_figure("machines_bd.png")]
    for dataset in roi_datasets():
        outputs += [
            layout.dataset_table("roi_quality.csv", dataset),
            layout.figure("roi_quality.png", dataset),
            layout.figure("roi_gallery.png", dataset),
        ]
    return outputs
