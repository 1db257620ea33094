"""Config validation: JSON Schema first (structure, names, ranges), then the checks a schema cannot express.

``validate_config`` returns a completed copy (defaults filled in) or raises :class:`ConfigError` whose message
lists every problem, each naming the key and what is allowed. ``check_config_files`` re-reads the config files
themselves for what their loaded dict no longer shows: a key given twice (Snakemake's JSON and YAML loaders keep
the last one silently).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml

from .plan import (
    LEARNED_VIDEO_CODECS,
    ORIGINAL_VARIANT,
    codec_datasets,
    entry_datasets,
    is_video_dataset,
    normalise_quality,
    registry_name,
    task_own_settings,
)

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The config is invalid; the message names each offending key and what is allowed."""


class _DuplicateKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that records every mapping key given twice, with both lines (PyYAML, like JSON, would
    keep the last value without a word: a ladder silently loses a point)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []  # (line, problem)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *anchor' brings in keys that the mapping may override
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    given_before = key in first_lines
                except TypeError:
                    continue  # an unhashable key: SafeLoader's own error names it
                if given_before:
                    problem = f"duplicate key {key!r} (first at line {first_lines[key]}); only the last would count"
                    self.duplicates.append((line, f"line {line}: {problem}"))
                else:
                    first_lines[key] = line
        return super().construct_mapping(node, deep=deep)


def config_file_problems(path: str | Path) -> list[str]:
    """What is wrong with a config file beyond its loaded content: each duplicate key with its lines, or that it
    is not plain YAML/JSON data (a config never needs Python tags)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        json.loads(text)  # Snakemake reads a file as JSON when it can, else as YAML
    except ValueError:
        pass
    else:
        # JSON is YAML but for tabs, which valid JSON holds only as whitespace (never inside a string).
        text = text.replace("\t", " ")
    loader = _DuplicateKeyLoader(text)
    try:
        loader.get_single_data()
    except yaml.YAMLError as error:
        return [f"not plain YAML or JSON data: {error}"]
    finally:
        loader.dispose()
    return [problem for _, problem in sorted(loader.duplicates)]  # in file order (nested maps are built last)


def check_config_files(paths, source: str = "config") -> None:
    """Raise :class:`ConfigError` listing every duplicate key (file, key, lines) of the config files ``paths``."""
    problems = [f"{path}, {problem}" for path in paths for problem in config_file_problems(path)]
    if problems:
        listing = "\n  - ".join(problems)
        raise ConfigError(f"invalid {source}:\n  - {listing}")


@functools.cache
def _schema_file(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_schema(path: str | Path = DEFAULT_SCHEMA) -> dict:
    """The config schema: the YAML file, with the plug-in parts filled from the registries as they are now (a
    plug-in module registers before the config is validated)."""
    from .. import codecs, masks, metrics, roi, tasks
    from ..datasets import sources

    schema = copy.deepcopy(_schema_file(path))
    metrics.fill_schema(schema)
    sources.fill_schema(schema)
    codecs.fill_schema(schema)
    tasks.fill_schema(schema)
    masks.fill_schema(schema)
    roi.fill_schema(schema)
    return schema


def _key_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _explain(error) -> str:
    message = error.message
    if error.validator == "additionalProperties" and "properties" in error.schema:
        message += f" (allowed: {', '.join(error.schema['properties'])})"
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if description and error.validator not in ("additionalProperties", "required"):
        message += f" [{description.strip()}]"
    return f"{_key_path(error.absolute_path)}: {message}"


def _schema_errors(config: dict, schema: dict) -> list[str]:
    import jsonschema

    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    return [_explain(e) for e in errors]


def _reference_errors(cfg: dict) -> list[str]:
    from ..codecs import get_codec_class
    from ..datasets.sources import get_source

    problems = []
    declared = set(cfg["datasets"])
    for dataset, entry in cfg["datasets"].items():
        problems += get_source(entry["source"]).problems(dataset, entry)  # the schema admits registered ones only
        if "shards" in entry and "images_per_shard" in entry:
            problems.append(
                f"datasets.{dataset}: set either shards (a fixed count) or images_per_shard (a count from its size)"
            )
    for codec, entry in cfg["codecs"].items():
        for dataset in entry.get("datasets", []):
            if dataset not in declared:
                problems.append(
                    f"codecs.{codec}.datasets: dataset {dataset!r} is not declared under datasets "
                    f"(declared: {', '.join(sorted(declared))})"
                )
    for name, entry in cfg.get("learned", {}).items():
        if name in cfg["codecs"]:
            problems.append(f"learned.{name}: the name is already a codec under codecs; rename the learned codec")
        for dataset in [entry["dataset"], *entry.get("datasets", [])]:
            if dataset not in declared:
                problems.append(
                    f"learned.{name}: dataset {dataset!r} is not declared under datasets "
                    f"(declared: {', '.join(sorted(declared))})"
                )
        if entry["architecture"] in LEARNED_VIDEO_CODECS:
            problems += _video_training_errors(cfg, name, entry)
        problems += _fine_tuning_errors(cfg, name, entry)
        quality_max = get_codec_class(entry["architecture"]).quality_max
        if entry.get("quality", 1) > quality_max:
            problems.append(
                f"learned.{name}.quality: {entry['quality']} is above {quality_max} for {entry['architecture']}"
            )
    for name, entry in cfg.get("tasks", {}).items():
        problems += _task_errors(cfg, name, entry, declared)
    problems += _roi_errors(cfg)
    anchor = cfg.get("anchor")
    if anchor is not None and anchor not in cfg["codecs"] and anchor not in cfg.get("learned", {}):
        problems.append(f"anchor: codec {anchor!r} is not declared under codecs (declared: {', '.join(cfg['codecs'])})")
    missing = [m for m in cfg["bd"]["metrics"] if m not in cfg["metrics"]]
    if missing:
        problems.append(f"bd.metrics: {missing} are not computed; add them to metrics (computed: {cfg['metrics']})")
    return problems


def _fine_tuning_errors(cfg: dict, name: str, entry: dict) -> list[str]:
    """A learned codec that starts from another one's models, is trained for a task or is compared with another
    codec: what it names exists and fits."""
    problems = []
    learned = cfg.get("learned", {})
    key = f"learned.{name}"
    base = entry.get("init_from")
    if base is not None:
        if base not in learned or base == name:
            problems.append(f"{key}.init_from: {base!r} is not another learned codec (learned: {', '.join(learned)})")
        else:
            other = learned[base]
            for setting in ("architecture", "quality"):
                if other.get(setting, 1) != entry.get(setting, 1):
                    problems.append(
                        f"{key}.init_from: {base} has {setting} {other.get(setting, 1)!r}, this codec "
                        f"{entry.get(setting, 1)!r}; a model can only start from one of its own kind"
                    )
            if len(other["lambdas"]) != len(entry["lambdas"]):
                problems.append(
                    f"{key}.init_from: {base} has {len(other['lambdas'])} lambdas, this codec {len(entry['lambdas'])}: "
                    "each model starts from the base model of the same index"
                )
            if other.get("init_from"):
                problems.append(f"{key}.init_from: {base} starts from another codec itself; start from its base")
    task_loss = entry.get("task_loss")
    if task_loss is not None:
        task = cfg.get("tasks", {}).get(task_loss["task"])
        if task is None:
            problems.append(f"{key}.task_loss.task: {task_loss['task']!r} is not a task under tasks")
        elif task["task"] != "classification":
            problems.append(
                f"{key}.task_loss.task: {task_loss['task']!r} is a {task['task']} task; the task loss is a "
                "classifier's cross-entropy (a classification task)"
            )
        elif task["dataset"] != entry["dataset"]:
            problems.append(
                f"{key}.task_loss.task: {task_loss['task']!r} is on dataset {task['dataset']!r}, this codec trains "
                f"on {entry['dataset']!r}; the labels of the training images must be the task's classes"
            )
        elif task.get("checkpoint") is None and task.get("train_on", [ORIGINAL_VARIANT])[0] != ORIGINAL_VARIANT:
            problems.append(f"{key}.task_loss.task: {task_loss['task']!r} must train on 'original' first")
        if entry.get("crop_px", 64) is not None:
            problems.append(f"{key}.crop_px: a task loss scores whole labelled images; set crop_px: null")
        if base is None:
            problems.append(
                f"{key}.init_from: a task-trained codec starts from the MSE-trained model of the same codec "
                "(training with the task loss from scratch loses); name it with init_from"
            )
    compare_to = entry.get("compare_to")
    if compare_to is not None and compare_to not in cfg["codecs"] and compare_to not in learned:
        problems.append(f"{key}.compare_to: {compare_to!r} is not a declared codec")
    elif compare_to is not None:
        other = cfg["codecs"].get(compare_to) or learned[compare_to]
        missing = sorted(set(entry_datasets(cfg, entry)) - set(entry_datasets(cfg, other)))
        if missing:
            problems.append(
                f"{key}.compare_to: {compare_to} does not run on {', '.join(missing)}; add them to its datasets"
            )
    return problems


def _roi_errors(cfg: dict) -> list[str]:
    """Masks and ROI variants: each mask's source can be made (its task, its folder), each variant's mask is
    declared and made from what its datasets have, its strategy works with its codec (an encoder that would ignore
    the mask is an error, never a silent no-op), and its plain codec is a declared codec without roi."""
    from ..codecs import get_codec_class
    from ..datasets import ANNOTATION_KINDS, annotation_kinds
    from ..masks import get_mask_source
    from ..roi import get_strategy

    problems = []
    masks = cfg.get("masks", {})
    for name, entry in masks.items():
        problems += get_mask_source(entry["source"]).problems(name, entry, cfg)
    for codec, entry in cfg["codecs"].items():
        roi = entry.get("roi")
        if not roi:
            continue
        key = f"codecs.{codec}.roi"
        codec_class = get_codec_class(registry_name(cfg, codec))
        strategy = get_strategy(roi["strategy"])
        problem = strategy.problem(codec_class, entry["options"])
        if problem:
            problems.append(f"{key}.strategy: {roi['strategy']} cannot steer {codec}: {problem}")
        problem = strategy.settings_problem(roi)
        if problem:
            problems.append(f"{key}: {problem}")
        if entry.get("target_bpp"):
            problems.append(f"codecs.{codec}.target_bpp: an ROI variant has no equal-rate points (remove target_bpp)")
        plain = roi.get("compare_to") or registry_name(cfg, codec)
        if plain not in cfg["codecs"] or cfg["codecs"][plain].get("roi"):
            problems.append(
                f"{key}.compare_to: {plain!r} is not a plain codec under codecs; declare it (without roi) or name one "
                "with compare_to"
            )
        elif set(codec_datasets(cfg, codec)) - set(codec_datasets(cfg, plain)):
            missing = sorted(set(codec_datasets(cfg, codec)) - set(codec_datasets(cfg, plain)))
            problems.append(f"{key}.compare_to: {plain} does not run on {', '.join(missing)}; add them to its datasets")
        if roi["mask"] not in masks:
            problems.append(
                f"{key}.mask: {roi['mask']!r} is not declared under masks (declared: {', '.join(masks) or 'none'})"
            )
            continue
        needed = get_mask_source(masks[roi["mask"]]["source"]).annotation
        for dataset in codec_datasets(cfg, codec):
            if needed and dataset in cfg["datasets"]:
                if needed not in annotation_kinds(cfg["datasets"][dataset], dataset):
                    problems.append(
                        f"{key}.mask: mask {roi['mask']!r} needs {ANNOTATION_KINDS[needed]}, which dataset "
                        f"{dataset!r} does not have; limit the codec's datasets or use another mask source"
                    )
    for name, entry in cfg.get("tasks", {}).items():
        for index, variant in enumerate(entry.get("train_on", [])):
            codec = variant.rpartition("/")[0]
            if codec in cfg["codecs"] and cfg["codecs"][codec].get("roi"):
                problems.append(
                    f"tasks.{name}.train_on[{index}]: {codec} is an ROI variant, whose masks exist for test images "
                    "only; train on its plain codec"
                )
    return problems


def _video_training_errors(cfg: dict, name: str, entry: dict) -> list[str]:
    """A learned video codec trains on clips at the model's granularity, for MSE."""
    from ..datasets import has_train_split

    problems = []
    dataset = cfg["datasets"].get(entry["dataset"])
    if dataset is not None and not is_video_dataset(cfg, entry["dataset"]):
        problems.append(
            f"learned.{name}.dataset: {entry['architecture']} trains on clips; {entry['dataset']!r} is no video"
        )
    elif dataset is not None and dataset.get("evaluate", True) and not has_train_split(dataset, entry["dataset"]):
        problems.append(
            f"learned.{name}.dataset: {entry['dataset']!r} has no train clips and is measured: the codec would train "
            "on the clips it is tested on; use a dataset with train clips, or mark it evaluate: false"
        )
    if entry.get("crop_px", 64) % 128:
        problems.append(f"learned.{name}.crop_px: {entry['architecture']} needs a multiple of 128 (its latent grid)")
    if entry.get("metric", "mse") != "mse":
        problems.append(f"learned.{name}.metric: {entry['architecture']} trains for mse only")
    return problems


def annotation_words(kind: str) -> str:
    """An annotation kind in words and which sources give it, as the registry says, e.g. "object boxes (builtin
    shapes and moving_shapes, source coco, source yolo, source mot17)"."""
    from ..datasets import ANNOTATION_KINDS
    from ..datasets.sources import offering

    sources = offering(kind)
    return f"{ANNOTATION_KINDS[kind]} ({', '.join(sources)})" if sources else ANNOTATION_KINDS[kind]


def _task_errors(cfg: dict, name: str, entry: dict, declared: set[str]) -> list[str]:
    from ..datasets import ANNOTATION_KINDS, annotation_kinds, has_train_split
    from ..tasks import get_task_class

    problems = []
    dataset = cfg["datasets"].get(entry["dataset"])
    try:
        task_class = get_task_class(entry["task"])
    except (KeyError, ValueError):
        task_class = None  # reported below, with the known tasks
    if dataset is None:
        problems.append(
            f"tasks.{name}.dataset: dataset {entry['dataset']!r} is not declared under datasets "
            f"(declared: {', '.join(sorted(declared))})"
        )
    elif task_class is not None:
        try:
            needed = task_class.needed_annotation(task_class(task_own_settings(entry)).settings)
        except (KeyError, ValueError):
            needed = task_class.annotation_kind  # the settings' own error is reported below
        kinds = annotation_kinds(dataset, entry["dataset"])
        if needed is not None and needed not in kinds:
            has = " and ".join(annotation_words(kind) for kind in ANNOTATION_KINDS if kind in kinds) or "no annotations"
            problems.append(
                f"tasks.{name}.dataset: task {entry['task']!r} needs a dataset annotated with "
                f"{annotation_words(needed)}, but {entry['dataset']!r} has {has}"
            )
    ladders = {codec: codec_entry["qualities"] for codec, codec_entry in cfg["codecs"].items()}
    ladders |= {codec: list(range(1, len(e["lambdas"]) + 1)) for codec, e in cfg.get("learned", {}).items()}
    for index, variant in enumerate(entry.get("train_on", [])):
        key = f"tasks.{name}.train_on[{index}]"
        if variant == ORIGINAL_VARIANT:
            continue
        codec, _, quality = variant.rpartition("/")
        if codec not in ladders:
            problems.append(f"{key}: {variant!r} names no declared codec; use 'original' or '<codec>/<quality>'")
            continue
        try:
            value = normalise_quality(float(quality))
        except ValueError:
            value = None
        if value not in ladders[codec]:
            problems.append(f"{key}: {quality!r} is not on {codec}'s ladder {ladders[codec]}; add it there first")
    own = entry.get("checkpoint")
    try:
        pretrained = task_class is not None and task_class.is_pretrained(task_class(task_own_settings(entry)).settings)
    except (KeyError, ValueError):
        pretrained = False  # the settings' own error is reported below
    if pretrained and entry.get("train_on", [ORIGINAL_VARIANT]) != [ORIGINAL_VARIANT]:
        problems.append(f"tasks.{name}: its model is pretrained (evaluated as is, not trained): remove train_on")
    if dataset is not None and not (pretrained or own) and not has_train_split(dataset, entry["dataset"]):
        problems.append(
            f"tasks.{name}: its model trains, but dataset {entry['dataset']!r} has only test images; use a dataset "
            "with a train split, or evaluate a ready model (checkpoint, or pretrained weights)"
        )
    if own and entry.get("train_on", [ORIGINAL_VARIANT]) != [ORIGINAL_VARIANT]:
        problems.append(f"tasks.{name}: give checkpoint (evaluate your own model) or train_on, not both")
    if own and not Path(own).expanduser().is_file():
        problems.append(f"tasks.{name}.checkpoint: file {own!r} does not exist")
    for codec in entry.get("codecs", []):
        if codec not in ladders:
            problems.append(f"tasks.{name}.codecs: codec {codec!r} is not declared under codecs or learned")
    try:
        get_task_class(entry["task"])(task_own_settings(entry))
    except (KeyError, ValueError) as exc:
        problems.append(f"tasks.{name}: {exc}")
    return problems


def validate_config(config: dict, schema_path: str | Path = DEFAULT_SCHEMA, source: str = "config") -> dict:
    """Validate ``config`` and return a completed copy; raise :class:`ConfigError` listing every problem."""
    from ..codecs import get_codec_class
    from ..metrics import rate_quality_metrics

    schema = load_schema(schema_path)
    cfg = copy.deepcopy(dict(config))
    _admit_codec_aliases(schema, cfg)
    problems = _schema_errors(cfg, schema)
    if not problems:
        for key in ("plugins", "metrics", "anchor", "statistics", "bd", "grid", "sharding"):
            cfg.setdefault(key, copy.deepcopy(schema["properties"][key]["default"]))
        for key in ("statistics", "bd", "grid", "sharding"):
            _fill_defaults(cfg[key], schema["properties"][key]["properties"])
        if cfg["anchor"] is None:
            cfg["anchor"] = "jpeg" if "jpeg" in cfg["codecs"] else next(iter(cfg["codecs"]))
        cfg["bd"].setdefault("metrics", rate_quality_metrics(cfg["metrics"]))
        for codec, entry in cfg["codecs"].items():
            entry["qualities"] = [normalise_quality(q) for q in entry["qualities"]]
            entry["options"] = {
                **get_codec_class(registry_name(cfg, codec)).default_options,
                **entry.get("options", {}),
            }
        _fill_roi_defaults(cfg)
        cfg.setdefault("tasks", {})
        for entry in cfg["tasks"].values():
            _fill_defaults(entry, schema["properties"]["tasks"]["additionalProperties"]["properties"])
        problems = _reference_errors(cfg)
        if not problems:
            _add_trained_codecs(cfg, schema)
            _completetask_own_settings(cfg)
    if problems:
        listing = "\n  - ".join(problems)
        raise ConfigError(f"invalid {source}:\n  - {listing}")
    return cfg


def _admit_codec_aliases(schema: dict, cfg: dict) -> None:
    """Let the schema check each codec declared under an id of its own that names its class with ``codec`` (e.g.
    ``vtm_intra: {codec: external, ...}``, or one class with two option sets) as an entry of that class, plus the
    ``codec`` key; an unknown class is refused at ``codec``, listing the registered ones."""
    entries = schema["properties"]["codecs"]["properties"]
    codecs = cfg.get("codecs")
    if not isinstance(codecs, dict):
        return  # the schema's own error says what codecs must be
    codec = {"enum": list(entries), "description": "the codec class this entry uses"}
    aliases = {}
    for key, entry in codecs.items():
        if key in entries or not isinstance(entry, dict) or "codec" not in entry:
            continue
        if isinstance(entry["codec"], str) and entry["codec"] in entries:
            alias = copy.deepcopy(entries[entry["codec"]])
            alias["properties"] = {"codec": codec, **alias["properties"]}
        else:
            alias = {"type": "object", "required": ["codec"], "properties": {"codec": codec}}
        aliases[key] = alias
    entries.update(aliases)


def _fill_roi_defaults(cfg: dict) -> None:
    """Give each mask and each ROI variant every setting its source or strategy defines."""
    from ..masks import get_mask_source
    from ..roi import get_strategy

    cfg.setdefault("masks", {})
    for entry in cfg["masks"].values():
        for key, value in get_mask_source(entry["source"]).default_settings().items():
            entry.setdefault(key, value)
    for entry in cfg["codecs"].values():
        if entry.get("roi"):
            for key, value in get_strategy(entry["roi"]["strategy"]).default_settings().items():
                entry["roi"].setdefault(key, value)


def _fill_defaults(entry: dict, properties: dict) -> None:
    """Give ``entry`` every default its schema ``properties`` declare, keeping what the config set."""
    for option, spec in properties.items():
        if "default" in spec:
            entry.setdefault(option, copy.deepcopy(spec["default"]))


def _add_trained_codecs(cfg: dict, schema: dict) -> None:
    """Fill each learned entry's training defaults and declare it as a codec: its points are its models, one per
    lambda, labelled 1..n in the order of ``lambdas`` (so every table and figure treats it like any codec)."""
    from ..codecs import get_codec_class

    cfg.setdefault("learned", {})
    spec = schema["properties"]["learned"]["additionalProperties"]["properties"]
    for name, entry in cfg["learned"].items():
        _fill_defaults(entry, spec)
        architecture = entry["architecture"]
        options = {**get_codec_class(architecture).default_options, "pretrained": False}
        if "metric" in options:  # image codecs are trained for a distortion; ssf2020 for MSE only
            options["metric"] = entry["metric"]
        codec = {"qualities": list(range(1, len(entry["lambdas"]) + 1)), "codec": architecture, "options": options}
        if "datasets" in entry:
            codec["datasets"] = entry["datasets"]
        cfg["codecs"][name] = codec


def _completetask_own_settings(cfg: dict) -> None:
    """Give each task entry every setting its task class defines, so that job params are complete and stable."""
    from ..tasks import get_task_class

    for entry in cfg["tasks"].values():
        entry.update(get_task_class(entry["task"])(task_own_settings(entry)).settings)
