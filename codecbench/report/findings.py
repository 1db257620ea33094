"""What a run found, in sentences built from its tables, each effect judged against its confidence interval.

- Codecs, per dataset: the codec with the lowest BD-rate against the anchor under the first configured metric,
  with its CI, whether that saving lies beyond its CI (an interval that holds 0 is no finding), and which codec
  is best under the other metrics.
- Tasks, per task and codec (the model trained on original images, or the ready model): the change of the
  headline score at the codec's lowest rate against the same model on the uncompressed images, with its paired CI
  (:func:`codecbench.stages.task_tables.summarise`), and the highest rate at which a loss first lies beyond its
  CI (going down the ladder); per task the codec that loses most at its lowest rate.
- Metrics, per task: the quality metric whose per-image rank correlation with the task's per-image quality is
  highest, and whether it beats bpp alone (:func:`codecbench.stats.metric_agreement.best_metric`).

:func:`write_findings` writes them as a table (one row per finding, :data:`FINDING_COLUMNS`), as Markdown and as
the HTML page the report shows first.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..config.plan import UNCOMPRESSED
from ..io import write_csv_atomic, write_text_atomic
from ..stats.metric_agreement import best_metric

FINDING_COLUMNS = [
    "section", "subject", "codec", "metric", "estimate", "ci_low", "ci_high", "beyond_ci", "sentence",
]  # fmt: skip
SECTIONS = {
    "codecs": "Codecs",
    "tasks": "Tasks",
    "metrics": "Which metric predicts each task",
    "machines": "Compression for machines",
}


def _interval(estimate: float, low: float, high: float, digits: int = 2) -> str:
    return f"{estimate:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _finding(section: str, subject: str, sentence: str, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(FINDING_COLUMNS, math.nan) | {"codec": "", "metric": "", "beyond_ci": False}
    return row | {"section": section, "subject": subject, "sentence": sentence} | values


def codec_findings(bd: pd.DataFrame, metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Per dataset: the codec that saves most rate against the anchor at equal quality under the first of
    ``metrics`` the BD table has for it, and which codec is best under each other metric when that differs.
    ``bd``: the run's ``bd_rate.csv``."""
    from ..metrics import metric_label as axis_label

    def metric_label(name: str) -> str:  # its axis label without the unit: "PSNR-RGB", "MS-SSIM"
        return axis_label(name).split(" (")[0]

    findings = []
    usable = bd[bd["available"].astype(bool) & bd["bd_rate_pct"].notna() & (bd["codec"] != bd["anchor"])]
    for dataset in dict.fromkeys(bd["dataset"]):
        rows_of_dataset = usable[usable.dataset == dataset]
        measured = [m for m in metrics if m in set(rows_of_dataset.metric)]
        if not measured:
            continue
        best = {m: rows_of_dataset[rows_of_dataset.metric == m].sort_values("bd_rate_pct") for m in measured}
        metric, ranked = measured[0], best[measured[0]]
        top = ranked.iloc[0]
        estimate, low, high = (float(top[c]) for c in ("bd_rate_pct", "bd_rate_ci_low", "bd_rate_ci_high"))
        beyond = bool(high < 0)
        text = (
            f"{dataset}: {top.codec} needs the least rate for equal {metric_label(metric)}, BD-rate "
            f"{_interval(estimate, low, high, 1)} % against {top.anchor}"
        )
        if not beyond:
            text += " (inside its CI: no codec is shown to save rate against the anchor)"
        if not bool(top.get("bd_rate_reliable", True)):
            text += "; the curves overlap little, so this BD-rate is partly extrapolated"
        if len(ranked) > 1:
            second = ranked.iloc[1]
            text += f"; next {second.codec} at {float(second.bd_rate_pct):.1f} %"
            if float(second.bd_rate_ci_low) <= high:
                text += " (the two intervals overlap)"
        others = {m: best[m].iloc[0].codec for m in measured[1:]}
        differing = {m: codec for m, codec in others.items() if codec != top.codec}
        if others and not differing:
            text += f"; {top.codec} is the best under {', '.join(metric_label(m) for m in others)} too"
        elif differing:
            text += "; under " + ", ".join(f"{metric_label(m)} {codec} is" for m, codec in differing.items())
            text += " the best instead"
        findings.append(
            _finding(
                "codecs",
                dataset,
                text,
                codec=top.codec,
                metric=metric,
                estimate=estimate,
                ci_low=low,
                ci_high=high,
                beyond_ci=beyond,
            )
        )
    return findings


def _shown_variant(summary: pd.DataFrame) -> str:
    variants = list(dict.fromkeys(summary["train_variant"]))
    return next((v for v in ("original", "pretrained") if v in variants), variants[0])


def task_findings(
    task_name: str, summary: pd.DataFrame, headline: str, lower_is_better: bool, label: str
) -> list[dict[str, Any]]:
    """Per codec of one task's ``summary`` (its ``summary.csv``, with ``<headline>_change`` and its CI): the change
    at the codec's lowest rate and the highest rate where a loss lies beyond its CI; first, the codec that
    loses most at its lowest rate. ``label``: the headline score's name in sentences."""
    change = f"{headline}_change"
    if summary.empty or change not in summary.columns:
        return [_finding("tasks", task_name, f"{task_name}: no compressed point was evaluated")]
    variant = _shown_variant(summary)
    rows = summary[summary.train_variant == variant]
    reference = rows[rows.codec == UNCOMPRESSED]
    before = float(reference[headline].iloc[0]) if len(reference) else math.nan
    sign = 1.0 if lower_is_better else -1.0  # a loss is a rise of an error rate, a fall of a score

    def loss_beyond(row) -> bool:  # the whole interval on the losing side of 0
        bound = row[f"{change}_ci_low"] if lower_is_better else row[f"{change}_ci_high"]
        return bool(sign * bound > 0)

    def gain_beyond(row) -> bool:
        bound = row[f"{change}_ci_high"] if lower_is_better else row[f"{change}_ci_low"]
        return bool(sign * bound < 0)

    per_codec = []
    for codec, points in rows[rows.codec != UNCOMPRESSED].groupby("codec", sort=False):
        points = points.sort_values("bpp", ascending=False)
        lowest = points.iloc[-1]
        estimate, low, high = (float(lowest[c]) for c in (change, f"{change}_ci_low", f"{change}_ci_high"))
        beyond = loss_beyond(lowest)
        text = (
            f"{task_name}: at {codec}'s lowest rate (quality {lowest.quality}, {lowest.bpp:.2f} bpp) {label} "
            f"changes by {_interval(estimate, low, high, 3)} from {before:.3f} uncompressed"
        )
        first = next((row for _, row in points.iterrows() if loss_beyond(row)), None)
        if first is None:
            text += "; no point's loss lies beyond its CI"
        else:
            text += f"; the loss first lies beyond its CI at quality {first.quality} ({first.bpp:.2f} bpp)"
        if gain_beyond(lowest):
            text += " (a gain beyond its CI: compression helps the task here)"
        per_codec.append(
            _finding(
                "tasks",
                task_name,
                text,
                codec=codec,
                metric=headline,
                estimate=estimate,
                ci_low=low,
                ci_high=high,
                beyond_ci=beyond,
            )
        )
    if not per_codec:
        return [_finding("tasks", task_name, f"{task_name}: no compressed point was evaluated")]
    worst = max(per_codec, key=lambda finding: sign * finding["estimate"])
    verdict = "beyond its CI" if worst["beyond_ci"] else "inside its CI: no loss is shown at the rates measured"
    headline_text = (
        f"{task_name} ({variant} model): the largest change at a codec's lowest rate is {worst['codec']}'s, "
        f"{label} {_interval(worst['estimate'], worst['ci_low'], worst['ci_high'], 3)}, {verdict}"
    )
    summary_row = _finding("tasks", task_name, headline_text, codec=worst["codec"], metric=headline,
                           estimate=worst["estimate"], ci_low=worst["ci_low"], ci_high=worst["ci_high"],
                           beyond_ci=worst["beyond_ci"])  # fmt: skip
    return [summary_row, *per_codec]


def metric_findings(task_name: str, agreement: pd.DataFrame) -> list[dict[str, Any]]:
    """The metric that best predicts one task's per-image quality (its ``metric_agreement.csv``), for the model
    the task findings show."""
    if agreement.empty:
        return [_finding("metrics", task_name, f"{task_name}: no metric agreement was computed")]
    variant = _shown_variant(agreement)
    best = best_metric(agreement[agreement.train_variant == variant])
    return [
        _finding(
            "metrics",
            task_name,
            f"{task_name}: {best['sentence']}",
            metric=best["metric"] or "",
            estimate=best["spearman"],
            ci_low=best["spearman_ci_low"],
            ci_high=best["spearman_ci_high"],
            beyond_ci=bool(best["better_than_bpp"]),
        )  # fmt: skip
    ]


KIND_WORDS = {
    "oracle": "the ground truth's mask (an oracle: no deployed sender has it)",
    "model": "a model's mask",
    "weight-free": "a weight-free saliency mask",
    "user": "the user's masks",
}


def machines_findings(machines: pd.DataFrame) -> list[dict[str, Any]]:
    """Per variant made for a machine and task: its BD-rate on the task score against its reference, with the mask's
    kind (or how it was trained), and whether the scorer drew the mask or trained the codec itself
    (``self_scored``: a gain then flatters the variant). ``machines``: the run's ``machines.csv`` with a
    ``self_scored`` column."""
    rows = []
    for row in machines[machines.scorer != "image"].itertuples(index=False):
        subject = f"{row.codec} on {row.dataset}"
        if row.mask_kind == "none":
            mask = f"{row.strategy}"
        else:
            mask = f"{row.strategy}, {KIND_WORDS.get(row.mask_kind, row.mask_kind)}, {row.coverage:.0%} of the pixels"
        if not math.isfinite(row.bd_rate_pct):
            sentence = (
                f"{subject} against {row.compare_to}, scored by {row.scorer}: no BD-rate (the curves do not overlap)"
            )
        else:
            change = _interval(row.bd_rate_pct, row.bd_rate_ci_low, row.bd_rate_ci_high, digits=1)
            verdict = "a finding" if row.finding else "its interval holds no change: not a finding"
            sentence = (
                f"{subject} ({mask}) against {row.compare_to}: "
                f"BD-rate on {row.scorer}'s {row.measure} {change}%, {verdict}"
            )
            if getattr(row, "self_scored", False):
                sentence += (
                    f"; {row.scorer} drew the mask or trained the codec itself, so the gain flatters the variant"
                )
        rows.append(
            _finding(
                "machines",
                subject,
                sentence,
                codec=row.codec,
                metric=row.measure,
                estimate=row.bd_rate_pct,
                ci_low=row.bd_rate_ci_low,
                ci_high=row.bd_rate_ci_high,
                beyond_ci=bool(row.finding),
            )  # fmt: skip
        )
    return rows


def findings_table(
    bd: pd.DataFrame,
    metrics: Sequence[str],
    tasks: Mapping[str, dict[str, Any]],
    machines: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every finding of a run. ``tasks``: task name -> ``summary`` and ``agreement`` tables, ``headline`` score,
    ``lower_is_better`` and its ``label``; ``machines``: the summary of variants made for machines
    (:func:`machines_findings`), if the run has one."""
    rows = codec_findings(bd, metrics)
    for name, task in tasks.items():
        rows += task_findings(name, task["summary"], task["headline"], task["lower_is_better"], task["label"])
    for name, task in tasks.items():
        rows += metric_findings(name, task["agreement"])
    if machines is not None:
        rows += machines_findings(machines)
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def findings_markdown(table: pd.DataFrame) -> str:
    lines = ["# Findings", "", "Each effect with its 95% interval; one whose interval holds no change is said so.", ""]
    for section, title in SECTIONS.items():
        rows = table[table.section == section]
        if rows.empty:
            continue
        lines += [f"## {title}", ""] + [f"- {sentence}" for sentence in rows.sentence] + [""]
    return "\n".join(lines)


def findings_html(table: pd.DataFrame) -> str:
    parts = ["<html><head><meta charset='utf-8'><title>Findings</title></head><body>", "<h1>Findings</h1>"]
    parts.append("<p>Each effect with its interval; one whose interval holds no change is said so.</p>")
    for section, title in SECTIONS.items():
        rows = table[table.section == section]
        if rows.empty:
            continue
        parts.append(f"<h2>{html.escape(title)}</h2><ul>")
        for row in rows.itertuples():
            style = "" if row.beyond_ci else " style='color:#666'"
            parts.append(f"<li{style}>{html.escape(row.sentence)}</li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_findings(
    bd_csv: str | Path,
    metrics: Sequence[str],
    task_tables: Mapping[str, dict[str, Any]],
    csv_path: str | Path,
    markdown_path: str | Path,
    html_path: str | Path,
    machines_csv: str | Path | None = None,
    self_scorers: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The findings from the run's BD table and each task's summary and metric agreement tables.
    ``task_tables``: task name -> ``task`` (its registry name), ``summary`` and ``agreement`` (paths); ``machines_csv``:
    the run's ``machines.csv``, with ``self_scorers`` (codec -> the task whose model drew its mask or trained it)."""
    from ..tasks import get_task_class
    from .task_figures import score_label

    tasks = {}
    for name, spec in task_tables.items():
        task = get_task_class(spec["task"])
        headline = task.scores[0]
        tasks[name] = {
            "summary": pd.read_csv(spec["summary"]),
            "agreement": pd.read_csv(spec["agreement"]),
            "headline": headline,
            "lower_is_better": headline in task.lower_is_better,
            "label": score_label(headline),
        }
    machines = None
    if machines_csv is not None:
        machines = pd.read_csv(machines_csv, dtype={"codec": str, "mask": str, "scorer": str})
        own = machines.codec.map(dict(self_scorers or {}))
        machines["self_scored"] = [s.split(" (")[0] == t for s, t in zip(machines.scorer, own, strict=True)]
    table = findings_table(pd.read_csv(bd_csv), metrics, tasks, machines)
    write_csv_atomic(table, csv_path)
    write_text_atomic(markdown_path, findings_markdown(table))
    write_text_atomic(html_path, findings_html(table))
    return table


__all__ = ["FINDING_COLUMNS", "findings_table", "write_findings"]
