"""Reference pages rendered from the plug-in registries, so that they cannot drift from the code.

``python -m codecbench.report.docs`` (``make docs``) writes ``docs/codecs.md``, ``docs/metrics.md``,
``docs/datasets.md``, ``docs/tasks.md`` and ``docs/settings.md`` from the codec classes, the metric registry, the
dataset sources, the task classes and the config schema as :func:`codecbench.config.validate.load_schema` fills it
(settings, defaults, shared ``$defs``).
``--check`` writes nothing and exits non-zero naming each page that differs from a fresh render.

What a page says comes from two places, each fact written once:

* a plug-in's own facts from its declaration: a codec's ``description``, ``notes``, knob, options and bitstream
  extension; a dataset source's ``description``, ``notes`` and annotations; a task's scores, settings and
  ``notes``; a metric's label, direction, minimum side and ``notes``;
* general prose that is no one plug-in's fact (how images are normalised, how learned codecs are checked, how
  tasks are scored) from a hand-written Markdown file ``docs/src/<page>``, put after the page's title; a leading
  ``<!-- ... -->`` comment there is for its editors and left out.

Topics that are no registry (statistics, reruns, the cluster, faults) are hand-written pages in ``docs/`` that
this module does not touch.

Everything is listed in registry order (the order of the schema and of the figures), so the output depends on
the code and ``docs/src/`` alone; only the package's own plug-ins are registered when this runs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
PROSE_DIR = DOCS_DIR / "src"  # the hand-written prose each page starts with: docs/src/<page>
COMMAND = "make docs"  # what regenerates the pages: `python -m codecbench.report.docs`


# ---- Markdown and JSON-schema helpers ---------------------------------------------------------------------------


def _prose(page: str) -> list[str]:
    """The hand-written Markdown of ``docs/src/<page>`` less its leading comment, as lines; none without a file."""
    path = PROSE_DIR / page
    if not path.is_file():
        return []
    text = re.sub(r"\A\s*<!--.*?-->", "", path.read_text(encoding="utf-8"), count=1, flags=re.DOTALL)
    return text.strip().splitlines() + [""]


def _header(title: str, source: str, page: str) -> list[str]:
    """The page's title, where it comes from, and its hand-written prose (if any)."""
    prose = _prose(page)
    edit = f"; the prose at the top comes from [`docs/src/{page}`](src/{page})" if prose else ""
    return [
        f"# {title}",
        "",
        f"_Generated from {source} by `{COMMAND}` (`python -m codecbench.report.docs`); do not edit by hand{edit}._",
        "",
        *prose,
    ]


def _notes(text: str) -> list[str]:
    """A plug-in's ``notes`` (Markdown, indented as a docstring may be) as lines; none when it has none."""
    text = inspect.cleandoc(text or "")
    return text.splitlines() + [""] if text else []


def _text(text: str | None) -> str:
    """One line of table-safe text: YAML's folded descriptions keep newlines, '|' would end a cell, '<file>' would
    be taken for HTML and '*' for emphasis."""
    text = " ".join((text or "").split())
    for character in "|<*":
        text = text.replace(character, "\\" + character)
    return text


def _value(value: Any) -> str:
    """A config value as a user writes it in YAML (null, true, 4:2:0, [train])."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _code(value: Any) -> str:
    return f"`{_value(value)}`".replace("|", "\\|")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _table(columns: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines + [""]


def _resolved(fragment: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``fragment`` with its ``$ref`` into ``$defs`` replaced by the shared definition (the fragment's own keys
    winning, as the codecs' option defaults are derived)."""
    if "$ref" not in fragment:
        return fragment
    shared = _resolved(defs[fragment["$ref"].removeprefix("#/$defs/")], defs)
    return {**shared, **{key: value for key, value in fragment.items() if key != "$ref"}}


def _properties(spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Name -> resolved fragment of an object schema's properties, those of its ``allOf`` parts (a shared option
    set) first and amended by its own."""
    spec = _resolved(spec, defs)
    merged: dict[str, dict[str, Any]] = {}
    for part in spec.get("allOf", []):
        for name, fragment in _properties(part, defs).items():
            merged[name] = {**merged.get(name, {}), **fragment}
    for name, fragment in spec.get("properties", {}).items():
        merged[name] = {**_resolved(merged.get(name, {}), defs), **_resolved(fragment, defs)}
    return merged


def _range(spec: dict[str, Any]) -> str:
    """A numeric fragment's bounds in words: '>= 0', '> 0', '<= 1', or both."""
    bounds = []
    for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in spec:
            bounds.append(f"{sign} {_number(spec[key])}")
    return ", ".join(bounds)


def _kind(spec: dict[str, Any], defs: dict[str, Any]) -> str:
    """What a fragment allows, in words: its type and range, the allowed values, or the alternatives."""
    spec = _resolved(spec, defs)
    if "enum" in spec:
        return "one of " + ", ".join(_code(value) for value in spec["enum"])
    if "const" in spec:
        return _code(spec["const"])
    if "oneOf" in spec:
        return " or ".join(_kind(part, defs) for part in spec["oneOf"])
    kinds = spec.get("type", "")
    text = " or ".join(kinds) if isinstance(kinds, list) else kinds
    text = text.replace("null", "`null`")
    if kinds == "array" and "items" in spec:
        text = f"list of ({_kind(spec['items'], defs)})"
    elif kinds == "object" and "additionalProperties" in spec and isinstance(spec["additionalProperties"], dict):
        text = f"mapping to ({_kind(spec['additionalProperties'], defs)})"
    if "pattern" in spec:
        text += f" matching {_code(spec['pattern'])}"
    bounds = _range(spec)
    return f"{text} ({bounds})" if bounds and text else (text or bounds)


def _default(spec: dict[str, Any]) -> str:
    return _code(spec["default"]) if "default" in spec else "(not set)"


def _setting_rows(properties: dict[str, dict[str, Any]], defs: dict[str, Any], prefix: str = "") -> list[list[str]]:
    """One row per setting (type / allowed values, default, description); a nested mapping's keys as 'a.b'."""
    rows = []
    for name, fragment in properties.items():
        spec = _resolved(fragment, defs)
        nested = _properties(spec, defs) if spec.get("type") == "object" and "properties" in spec else {}
        if nested:
            if spec.get("description"):  # the mapping's own row, then its keys
                rows.append([f"`{prefix}{name}`", "mapping (keys below)", " ", _text(spec["description"])])
            rows += _setting_rows(nested, defs, prefix=f"{prefix}{name}.")
        else:
            rows.append([f"`{prefix}{name}`", _kind(spec, defs), _default(spec), _text(spec.get("description"))])
    return rows


SETTING_COLUMNS = ["key", "type / allowed values", "default", "description"]


# ---- the pages --------------------------------------------------------------------------------------------------


def render_codecs(schema: dict) -> str:
    """``docs/codecs.md``: per codec its description, quality knob, equal-rate support and options."""
    from ..codecs import CODECS

    defs = schema["$defs"]
    entries = schema["properties"]["codecs"]["properties"]
    lines = _header("Codecs", "the codec classes (`codecbench/codecs/`) and `schemas/config.schema.yaml`", "codecs.md")
    lines += [
        "## Every codec",
        "",
        "Each entry under `codecs:` in a config names a codec below and takes:",
        "",
        f"- `qualities` (required): {_text(defs['ladder']['description'])};",
        f"- `datasets`: {_text(defs['dataset_refs']['description'])};",
        f"- `target_bpp` (codecs with equal-rate points only): {_text(defs['target_bpp']['description'])};",
        "- `keep_decoded`: keep each point's decoded images (PNG) beside its bitstreams (true), or decode the "
        "bitstreams again wherever pixels are needed (false); each codec's default below ([config.md](config.md));",
        "- `options`: the codec's options below, each optional (a config names only what it changes).",
        "",
    ]
    overview = []
    for name, cls in CODECS.items():
        knob = f"{'integer' if cls.quality_type is int else 'number'} "
        knob += f"{_number(cls.quality_min)}..{_number(cls.quality_max)}"
        direction = "higher" if cls.higher_is_better else "lower"
        overview.append(
            [
                f"`{name}`", knob, direction, _yes_no(cls.supports_target_bpp), _yes_no(cls.keeps_decoded),
                str(len(cls.default_options)),
            ]
        )  # fmt: skip
    headers = ["codec", "quality knob", "better quality", "equal-rate points", "keeps decoded images", "options"]
    lines += _table(headers, overview)

    for name, cls in CODECS.items():
        entry = entries[name]
        kind = "integer" if cls.quality_type is int else "number"
        direction = "higher is better" if cls.higher_is_better else "lower is better"
        lines += [f"## `{name}`", "", _text(cls.description), "", *_notes(cls.notes)]
        lines.append(
            f"- Quality knob: {kind} {_number(cls.quality_min)}..{_number(cls.quality_max)}, {direction}: "
            f"{_text(cls.quality_doc)}"
        )
        ladder = entry["properties"]["qualities"]
        if ladder.get("$ref") != "#/$defs/ladder":  # a codec's own ladder (e.g. CRFs or kbit/s)
            lines.append(f"- `qualities`: {_text(_resolved(ladder, defs).get('description'))}")
        lines.append(f"- Equal-rate points (`target_bpp`): {_yes_no(cls.supports_target_bpp)}")
        lines.append(f"- Bitstream files: `*.{cls.extension}`")
        lines.append(f"- Keeps decoded images (`keep_decoded` default): {_yes_no(cls.keeps_decoded)}")
        options = _properties(entry["properties"]["options"], defs) if "options" in entry["properties"] else {}
        if options:
            lines += ["- Options:", ""]
            lines += _table(["option", "type / allowed values", "default", "description"], _setting_rows(options, defs))
        else:
            lines += ["- Options: none", ""]

    learned = schema["properties"]["learned"]
    lines += [
        "## Codecs trained in the pipeline (`learned:`)",
        "",
        f"`learned:` in a config: {_text(learned['description'])}. Each entry takes:",
        "",
    ]
    lines += _table(SETTING_COLUMNS, _setting_rows(learned["additionalProperties"]["properties"], defs))
    return "\n".join(lines)


def render_metrics(schema: dict) -> str:
    """``docs/metrics.md``: each registered metric's facts, one row each."""
    from ..metrics import REGISTRY

    lines = _header("Metrics", "the metric registry (`codecbench.metrics.REGISTRY`)", "metrics.md")
    lines += [
        "## Every metric",
        "",
        "*Minimum side*: of the shorter side; *scored* per clip: on the clips of video datasets (`nan` on image",
        "datasets); *default*: computed when a config gives no `metrics:` list.",
        "",
    ]
    rows = [
        [
            f"`{name}`",
            _text(metric.label),
            "higher" if metric.higher_is_better else "lower",
            f"{metric.min_side} px",
            "per clip" if metric.per_clip else "per image",
            f"`{metric.compressai_key}`" if metric.compressai_key else "(none)",
            _yes_no(metric.default),
        ]
        for name, metric in REGISTRY.items()
    ]
    columns = ["metric", "label (unit)", "better", "minimum side", "scored", "CompressAI key", "default"]
    lines += _table(columns, rows)
    described = [(name, metric) for name, metric in REGISTRY.items() if metric.notes]
    if described:
        lines += ["## How each is computed", ""]
        for name, metric in described:
            lines += [f"- `{name}`: " + " ".join(_notes(metric.notes)).strip()]
        lines.append("")
    return "\n".join(lines)


def _entry_fact(fact: bool | Callable) -> str:
    """A source's yes/no fact, or that it depends on the config entry (a function of it)."""
    return "depends on the entry" if callable(fact) else _yes_no(bool(fact))


def render_datasets(schema: dict) -> str:
    """``docs/datasets.md``: each dataset source's facts and own options, then every key a dataset entry takes."""
    from ..datasets.sources import get_source, source_names

    defs = schema["$defs"]
    entry_keys = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    lines = _header("Dataset sources", "the dataset source registry (`codecbench.datasets.sources`)", "datasets.md")
    lines += [
        "## Every source",
        "",
        "Each entry under `datasets:` in a config names its `source`; the entry's other keys are listed at the end.",
        "",
    ]
    sources = [get_source(name) for name in source_names()]

    def annotations(source) -> str:
        if callable(source.annotations):  # the kinds depend on the entry: say which entries give which
            offered = source.offered_kinds()
            return "depends on the entry: " + "; ".join(f"{kind} ({words})" for kind, words in offered.items())
        return ", ".join(source.annotations) or "none (unlabelled)"

    overview = [[f"`{s.name}`", annotations(s), _entry_fact(s.video), _entry_fact(s.train_split)] for s in sources]
    lines += _table(["source", "annotations", "video", "train split"], overview)
    for source in sources:
        lines += [f"## `{source.name}`", "", _text(source.description), "", *_notes(source.notes)]
        lines += [
            f"- Annotations: {annotations(source)}",
            f"- Video (frames of clips): {_entry_fact(source.video)}",
            f"- Train split: {_entry_fact(source.train_split)}",
        ]
        if source.options:  # keys a source declares itself (one from outside the package)
            lines += ["- Its own entry keys:", ""]
            lines += _table(SETTING_COLUMNS, _setting_rows(dict(source.options), defs))
        else:
            lines.append("")

    own = {key for source in sources for key in source.options}
    shared = {key: spec for key, spec in entry_keys.items() if key not in own and key != "source"}
    lines += [
        "## Keys of a dataset entry",
        "",
        "Besides `source`, from the config schema; each description says which sources read the key.",
        "",
    ]
    lines += _table(SETTING_COLUMNS, _setting_rows(shared, defs))
    return "\n".join(lines)


def _task_settings(schema: dict, task: str) -> dict[str, dict[str, Any]]:
    """A task's own settings: the ``then`` of the schema's ``if: {task: <name>}`` block (none if it has no block)."""
    for block in schema["properties"]["tasks"]["additionalProperties"].get("allOf", []):
        if block.get("if", {}).get("properties", {}).get("task", {}).get("const") == task:
            return block["then"].get("properties", {})
    return {}


def render_tasks(schema: dict) -> str:
    """``docs/tasks.md``: per task its scores with their labels and its settings with defaults."""
    from ..tasks import TASKS

    defs = schema["$defs"]
    entry = schema["properties"]["tasks"]["additionalProperties"]
    common = {key: spec for key, spec in entry["properties"].items() if key != "task"}
    lines = _header("Tasks", "the task classes (`codecbench.tasks`) and `schemas/config.schema.yaml`", "tasks.md")
    lines += ["## Every task", "", "Each entry under `tasks:` in a config names its `task` (below) and takes:", ""]
    lines += _table(SETTING_COLUMNS, _setting_rows(common, defs))
    for name, cls in TASKS.items():
        summary = _text((cls.__doc__ or "").strip().splitlines()[0])
        quality = f"`{cls.sample_quality}`"
        if cls.sample_quality_label != cls.sample_quality:
            quality += f" ({_text(cls.sample_quality_label)})"
        lines += [f"## `{name}`", "", f"{summary} Module: `{cls.__module__}`.", "", *_notes(cls.notes)]
        lines += [
            f"- Dataset annotated with: {cls.annotation_kind}",
            f"- Per-image quality (images improved or worsened, BD-rate): {quality}",
            "- Scores (the headline one first):",
            "",
        ]
        scores = [
            [
                f"`{score}`",
                _text(cls.score_labels.get(score, score.replace("_", " "))),  # as the figures label it
                "lower" if score in cls.lower_is_better else "higher",
            ]
            for score in cls.scores
        ]
        lines += _table(["score", "label", "better"], scores)
        settings = _task_settings(schema, name)
        if settings:
            lines += ["- Settings:", ""]
            lines += _table(SETTING_COLUMNS, _setting_rows(settings, defs))
        else:
            lines += ["- Settings: none", ""]
    return "\n".join(lines)


def _branch_settings(branches: list[dict], key: str, name: str) -> dict[str, dict[str, Any]]:
    """The settings of one plug-in's ``if: {<key>: <name>}`` block of a registry-filled schema entry."""
    for block in branches:
        if block.get("if", {}).get("properties", {}).get(key, {}).get("const") == name:
            return block["then"].get("properties", {})
    return {}


def render_roi(schema: dict) -> str:
    """``docs/roi.md``: the mask sources (kind, annotation, settings) and the ROI strategies (settings, and which
    codecs each can steer at their default options, with the reason for those it cannot)."""
    from ..codecs import CODECS
    from ..masks import MASK_SOURCES
    from ..roi import STRATEGIES

    defs = schema["$defs"]
    lines = _header("Region-of-interest coding", "the mask sources (`codecbench.masks`) and ROI strategies "
                    "(`codecbench.roi`)", "roi.md")  # fmt: skip
    lines += ["## Mask sources", "", "Each entry under `masks:` names its `source` (below):", ""]
    branches = schema["properties"]["masks"]["additionalProperties"].get("allOf", [])
    for name, cls in MASK_SOURCES.items():
        lines += [f"### `{name}`", "", f"{_text(cls.description)}. Module: `{cls.__module__}`.", ""]
        lines += [f"- Kind (in every ROI table): {cls.kind}"]
        if cls.annotation:
            lines += [f"- Dataset annotated with: {cls.annotation}"]
        if cls.uses_task:
            lines += ["- Runs a task's model (its checkpoint is an input of the mask job)"]
        lines += [""]
        settings = _branch_settings(branches, "source", name)
        lines += _table(SETTING_COLUMNS, _setting_rows(settings, defs)) if settings else ["No settings.", ""]
    lines += ["## Strategies", "", "A codec entry's `roi:` names its `mask`, its `strategy` (below) and optionally "
              "`compare_to`:", ""]  # fmt: skip
    common = {key: spec for key, spec in defs["roi"]["properties"].items() if key != "strategy"}
    lines += _table(SETTING_COLUMNS, _setting_rows(common, defs))
    for name, cls in STRATEGIES.items():
        lines += [f"### `{name}`", "", f"{_text(cls.description)}. Module: `{cls.__module__}`.", ""]
        settings = _branch_settings(defs["roi"].get("allOf", []), "strategy", name)
        lines += _table(SETTING_COLUMNS, _setting_rows(settings, defs)) if settings else ["No settings.", ""]
        steers, refused = [], []
        for codec, codec_class in CODECS.items():
            problem = cls.problem(codec_class, codec_class.default_options)
            (refused.append([f"`{codec}`", _text(problem)]) if problem else steers.append(f"`{codec}`"))
        lines += [f"- Steers (at their default options): {', '.join(steers) or 'none'}", ""]
        if refused and steers:
            lines += ["- Refused, a config error naming the reason:", ""]
            lines += _table(["codec", "why"], refused)
    return "\n".join(lines)


def render_settings(schema: dict) -> str:
    """``docs/settings.md``: the config's other top-level keys (statistics, BD-rates, the grid, sharding, ...)."""
    pages = {
        "datasets": "datasets.md", "codecs": "codecs.md", "learned": "codecs.md", "tasks": "tasks.md",
        "masks": "roi.md",
    }  # fmt: skip
    lines = _header("Settings", "`schemas/config.schema.yaml` as the registries fill it", "settings.md")
    listed = ", ".join(f"`{key}:` ([{page}]({page}))" for key, page in pages.items())
    lines += [
        f"A config's top-level keys other than {listed}; each is optional.",
        "",
    ]
    others = {key: spec for key, spec in schema["properties"].items() if key not in pages}
    lines += _table(SETTING_COLUMNS, _setting_rows(others, schema["$defs"]))
    return "\n".join(lines)


PAGES: dict[str, Callable[[dict], str]] = {
    "codecs.md": render_codecs,
    "metrics.md": render_metrics,
    "datasets.md": render_datasets,
    "tasks.md": render_tasks,
    "settings.md": render_settings,
    "roi.md": render_roi,
}


def render_pages() -> dict[str, str]:
    """File name -> Markdown of every reference page, from the registries as they are now."""
    from ..config.validate import load_schema

    schema = load_schema()
    return {name: render(schema).rstrip("\n") + "\n" for name, render in PAGES.items()}


def stale_pages(directory: Path = DOCS_DIR) -> list[str]:
    """The pages in ``directory`` that are missing or differ from a fresh render."""
    stale = []
    for name, text in render_pages().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_pages(directory: Path = DOCS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_pages().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codecbench.report.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale page")
    parser.add_argument("--out", type=Path, default=DOCS_DIR, help="the pages' folder (default: docs/)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(args.out)
        for name in stale:
            message = f"{args.out / name} is stale (differs from what the registries give): run `{COMMAND}`"
            print(message, file=sys.stderr)
        return 1 if stale else 0
    for path in write_pages(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
