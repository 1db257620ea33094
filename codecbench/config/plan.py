"""The plan a validated config asks for: its sweep and equal-rate points, each task's training variants and codecs,
and the config slice each kind of job depends on (its params, so that a job reruns exactly when its slice changes).

Every function takes the completed config that :func:`codecbench.config.validate.validate_config` returns.
"""

from __future__ import annotations

from typing import Any


def normalise_quality(value: Any) -> Any:
    """YAML may give 50.0 for an integer knob; paths and codecs want 50."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def registry_name(cfg: dict, codec: str) -> str:
    """The codec class behind a config codec (a trained codec's architecture, else the codec itself)."""
    return cfg["codecs"][codec].get("codec", codec)


LEARNED_VIDEO_CODECS = ("ssf2020",)


def is_learned_codec(cfg: dict, codec: str) -> bool:
    """Whether a config codec is a learned one (a zoo model, the CAE, a codec trained in the pipeline, or the
    learned video codec): its jobs get threads and a GPU."""
    from ..learned import ARCHITECTURES

    return registry_name(cfg, codec) in ARCHITECTURES or registry_name(cfg, codec) in LEARNED_VIDEO_CODECS


def training_settings(cfg: dict, codec: str, model: int) -> dict:
    """The config slice one trained model depends on (model = 1-based index into the codec's lambdas)."""
    entry = cfg["learned"][codec]
    keys = ("architecture", "quality", "metric", "dataset", "steps", "batch_size", "crop_px", "learning_rate", "seed")
    if entry["architecture"] in LEARNED_VIDEO_CODECS:
        keys += ("frames_per_sample",)
    settings = {**{key: entry[key] for key in keys}, "lambda": entry["lambdas"][model - 1]}
    # Set only when given, so that the settings (and model folders) of codecs that do not use them stay as they were.
    if entry.get("aux_learning_rate") is not None:
        settings["aux_learning_rate"] = entry["aux_learning_rate"]
    if entry.get("init_from"):  # the base model's own settings: retraining it makes a new fine-tuned model too
        settings["init_from"] = training_settings(cfg, entry["init_from"], model)
    if entry.get("task_loss"):
        task = entry["task_loss"]["task"]
        settings["task_loss"] = {"gamma": entry["task_loss"]["gamma"], "task": task_job_settings(cfg, task)}
    return settings


def is_video_dataset(cfg: dict, dataset: str) -> bool:
    """Whether a declared dataset is video (clips of frames: its preparation writes frames.csv)."""
    from ..datasets import is_video_source

    return is_video_source(cfg["datasets"][dataset], dataset)


SHARDING_KEYS = ("shards", "images_per_shard")  # a dataset entry's keys that only split its later jobs


def dataset_shards(cfg: dict, view: str) -> int:
    """The fixed number of shard jobs that split a dataset's (or dataset view's, e.g. 'digits-train')
    compression, metric and inference work: its 'shards', 1 by default. A dataset sharded by size
    (:func:`images_per_shard`) gets its count only once it is prepared
    (:func:`codecbench.stages.shards.count_shards`)."""
    return int(cfg["datasets"][dataset_view(view)[0]].get("shards", 1))


def images_per_shard(cfg: dict, view: str) -> int | None:
    """For a dataset sharded by size, the images (frames) per shard: its own 'images_per_shard', else that of
    'sharding' unless it sets a fixed 'shards'; None for a fixed count."""
    entry = cfg["datasets"][dataset_view(view)[0]]
    if "shards" in entry:
        return None
    return entry.get("images_per_shard", cfg.get("sharding", {}).get("images_per_shard"))


def is_sharded(cfg: dict, view: str) -> bool:
    """Whether a dataset view's jobs run as shard jobs plus a merge (a fixed count above 1, or sharded by size,
    which may come to one shard for a small split)."""
    return images_per_shard(cfg, view) is not None or dataset_shards(cfg, view) > 1


def is_sequence_codec(cfg: dict, codec: str) -> bool:
    """Whether a config codec is a video codec (codes a clip as one file; an image dataset as one clip)."""
    from ..codecs import SequenceCodec, get_codec_class

    return issubclass(get_codec_class(registry_name(cfg, codec)), SequenceCodec)


def dataset_job_settings(cfg: dict, dataset: str) -> dict:
    """The config slice preparing a dataset depends on: its entry without what only routes its later jobs
    (sharding changes how the work is split, never the prepared images)."""
    return {key: value for key, value in cfg["datasets"][dataset].items() if key not in SHARDING_KEYS}


def codec_datasets(cfg: dict, codec: str) -> list[str]:
    """The datasets a codec runs on: its own 'datasets' list, or every declared dataset meant for evaluation."""
    return entry_datasets(cfg, cfg["codecs"][codec])


def entry_datasets(cfg: dict, entry: dict) -> list[str]:
    """The datasets a codec (or learned codec) entry runs on: its 'datasets', else every evaluated dataset."""
    evaluated = [name for name, dataset in cfg["datasets"].items() if dataset.get("evaluate", True)]
    return list(entry.get("datasets", evaluated))


def sweep_points(cfg: dict) -> list[tuple[str, str, Any]]:
    """Every (dataset, codec, quality) the config asks for, in config order."""
    return [
        (dataset, codec, quality)
        for codec, entry in cfg["codecs"].items()
        for dataset in codec_datasets(cfg, codec)
        for quality in entry["qualities"]
    ]


def target_points(cfg: dict) -> list[tuple[str, str, float]]:
    """Every (dataset, codec, target bpp) of the equal-rate comparisons the config asks for."""
    return [
        (dataset, codec, target)
        for codec, entry in cfg["codecs"].items()
        for dataset in codec_datasets(cfg, codec)
        for target in entry.get("target_bpp", [])
    ]


# ---- tasks ----------------------------------------------------------------------------------------------------
# A task trains on its dataset's train split, as is ("original") or compressed by a ladder point of a codec
# ("jpeg/25" in the config, "jpeg-25" in paths), and is evaluated on the test split: as is ("uncompressed") and
# at every point of every codec that runs on the dataset. The compressed train split is the dataset view
# "<dataset>-train" (dataset ids cannot contain '-'), made by the same compress jobs as everything else.
ORIGINAL_VARIANT = "original"
UNCOMPRESSED = "uncompressed"
TRAIN_VIEW_SUFFIX = "-train"
USER_CHECKPOINT = "checkpoint"
PRETRAINED_VARIANT = "pretrained"  # a ready model the task names itself (OCR engines, YOLO .pt weights)
_TASK_ROUTING_KEYS = ("task", "dataset", "train_on", "codecs")


def task_own_settings(entry: dict) -> dict:
    """A task entry's own settings (the task class's keys): everything but what routes it through the DAG."""
    return {key: value for key, value in entry.items() if key not in _TASK_ROUTING_KEYS}


def dataset_view(view: str) -> tuple[str, str]:
    """A compression job's dataset wildcard as (dataset, split): 'digits-train' is digits' train split, any
    other id its test split (all of a dataset without splits)."""
    if view.endswith(TRAIN_VIEW_SUFFIX):
        return view[: -len(TRAIN_VIEW_SUFFIX)], "train"
    return view, "test"


def train_variants(cfg: dict, task: str) -> list[str]:
    """The path labels of a task's training variants: 'original' and '<codec>-<quality>'; 'checkpoint' alone
    when the task evaluates a user's own model, 'pretrained' alone when its settings name a ready model."""
    from ..tasks import get_task_class

    if cfg["tasks"][task].get("checkpoint"):
        return [USER_CHECKPOINT]
    if get_task_class(cfg["tasks"][task]["task"]).is_pretrained(task_own_settings(cfg["tasks"][task])):
        return [PRETRAINED_VARIANT]
    labels = []
    for entry in cfg["tasks"][task]["train_on"]:
        if entry == ORIGINAL_VARIANT:
            labels.append(ORIGINAL_VARIANT)
        else:
            codec, quality = entry.rsplit("/", 1)
            labels.append(f"{codec}-{normalise_quality(float(quality))}")
    return labels


def parse_train_variant(label: str) -> tuple[str, Any] | None:
    """'jpeg-25' -> ('jpeg', 25); 'original' (or a user's checkpoint) -> None."""
    if label in (ORIGINAL_VARIANT, USER_CHECKPOINT, PRETRAINED_VARIANT):
        return None
    codec, quality = label.rsplit("-", 1)
    return codec, normalise_quality(float(quality))


def task_codecs(cfg: dict, task: str) -> list[str]:
    """The codecs whose test-split points a task is evaluated on (its 'codecs', or all that run on its dataset)."""
    entry = cfg["tasks"][task]
    running = [codec for codec in cfg["codecs"] if entry["dataset"] in codec_datasets(cfg, codec)]
    return [codec for codec in entry.get("codecs", running) if codec in running]


def training_set_points(cfg: dict) -> list[tuple[str, str, Any]]:
    """Every (train view, codec, quality) some task trains on: compressed train splits, each once."""
    points = {}
    for task in cfg.get("tasks", {}):
        for label in train_variants(cfg, task):
            parsed = parse_train_variant(label)
            if parsed is not None:
                points[(cfg["tasks"][task]["dataset"] + TRAIN_VIEW_SUFFIX, *parsed)] = None
    return list(points)


def compression_jobs(cfg: dict) -> int:
    """About how many compression jobs the config makes: one per (dataset or training view, codec), times the
    view's fixed shards (a dataset sharded by size counts once: its count is known only once prepared), plus one
    per equal-rate target."""
    ladders = {(d, c) for d, c, _ in sweep_points(cfg)} | {(v, c) for v, c, _ in training_set_points(cfg)}
    return sum(dataset_shards(cfg, view) for view, _ in ladders) + len(target_points(cfg))


def task_job_settings(cfg: dict, task: str) -> dict:
    """The config slice a task's training and evaluation jobs depend on: its task and settings, not its lists."""
    entry = cfg["tasks"][task]
    return {"task": entry["task"], "settings": dict(sorted(task_own_settings(entry).items()))}


def codec_job_settings(cfg: dict, codec: str) -> dict:
    """The config slice a compression job of ``codec`` depends on: its class and options, not its ladder.

    A trained codec's model comes in as the job's checkpoint input, so its training settings are not here.
    """
    settings = {"codec": registry_name(cfg, codec), "options": dict(sorted(cfg["codecs"][codec]["options"].items()))}
    if cfg["codecs"][codec].get("roi"):
        settings["roi"] = dict(sorted(cfg["codecs"][codec]["roi"].items()))
    if codec in cfg.get("learned", {}):
        settings["model_quality"] = cfg["learned"][codec]["quality"]
    return settings


def codec_keeps_decoded(cfg: dict, codec: str) -> bool:
    """Whether a config codec's points keep their decoded images: its ``keep_decoded``, else its class's policy
    (:func:`codecbench.stages.points.keeps_decoded`)."""
    from ..stages.points import keeps_decoded

    return keeps_decoded(registry_name(cfg, codec), cfg["codecs"][codec].get("keep_decoded"))


# ---- region-of-interest coding: variants of a plain codec that read a mask per image --------------------------
def roi_codecs(cfg: dict) -> list[str]:
    """The config codecs that are ROI variants (an ``roi`` entry), in config order."""
    return [codec for codec, entry in cfg["codecs"].items() if entry.get("roi")]


def plain_codec(cfg: dict, codec: str) -> str:
    """The plain codec an ROI variant is compared with: its ``compare_to``, else the id of its codec class."""
    return cfg["codecs"][codec]["roi"].get("compare_to") or registry_name(cfg, codec)


def mask_jobs(cfg: dict) -> list[tuple[str, str]]:
    """Every (dataset, mask id) some ROI variant reads, each once, in config order."""
    jobs = {}
    for codec in roi_codecs(cfg):
        for dataset in codec_datasets(cfg, codec):
            jobs[(dataset, cfg["codecs"][codec]["roi"]["mask"])] = None
    return list(jobs)


def roi_comparisons(cfg: dict, dataset: str | None = None) -> dict[str, str]:
    """ROI variant -> its plain codec, for the variants that run on ``dataset`` (every dataset when None)."""
    return {
        codec: plain_codec(cfg, codec)
        for codec in roi_codecs(cfg)
        if dataset is None or dataset in codec_datasets(cfg, codec)
    }


def learned_comparisons(cfg: dict, dataset: str | None = None) -> dict[str, str]:
    """Learned codec -> the codec it is compared with (its ``compare_to``), for those that run on ``dataset``."""
    return {
        codec: entry["compare_to"]
        for codec, entry in cfg.get("learned", {}).items()
        if entry.get("compare_to") and (dataset is None or dataset in codec_datasets(cfg, codec))
    }


def variant_comparisons(cfg: dict, dataset: str | None = None) -> dict[str, str]:
    """Every codec with a reference of its own (ROI variants, codecs trained for a task) -> that reference."""
    return {**roi_comparisons(cfg, dataset), **learned_comparisons(cfg, dataset)}
