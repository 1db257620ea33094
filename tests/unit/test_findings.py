"""The findings of a run: which sentences its tables give, and that an effect inside its CI is called so."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from codecbench.report.findings import FINDING_COLUMNS, findings_table, write_findings


def bd_row(dataset, codec, metric, estimate, low, high, reliable=True, available=True, anchor="jpeg"):
    return dict(
        dataset=dataset, codec=codec, anchor=anchor, metric=metric, bd_rate_pct=estimate, bd_rate_ci_low=low,
        bd_rate_ci_high=high, bd_rate_reliable=reliable, available=available,
    )  # fmt: skip


BD = pd.DataFrame(
    [
        bd_row("photos", "jpeg", "psnr_rgb", 0.0, 0.0, 0.0),  # the anchor against itself: not a finding
        bd_row("photos", "webp", "psnr_rgb", -20.0, -25.0, -15.0),
        bd_row("photos", "avif", "psnr_rgb", -31.0, -45.0, 5.0),  # the best estimate, but inside its CI
        bd_row("photos", "webp", "ms_ssim", -12.0, -14.0, -10.0),
        bd_row("photos", "h264", "ms_ssim", -40.0, -50.0, -30.0, available=False),  # no overlap: left out
        bd_row("digits", "webp", "psnr_rgb", -8.0, -9.0, -7.0, reliable=False),
    ]
)


def summary_row(codec, quality, bpp, score, change=math.nan, low=math.nan, high=math.nan, variant="original"):
    return dict(
        train_variant=variant, codec=codec, quality=quality, bpp=bpp, accuracy=score, accuracy_change=change,
        accuracy_change_ci_low=low, accuracy_change_ci_high=high,
    )  # fmt: skip


SUMMARY = pd.DataFrame(
    [
        summary_row("uncompressed", 0, 24.0, 0.90),
        summary_row("jpeg", 90, 2.0, 0.89, -0.01, -0.03, 0.01),
        summary_row("jpeg", 50, 1.0, 0.85, -0.05, -0.09, -0.01),
        summary_row("jpeg", 10, 0.3, 0.60, -0.30, -0.40, -0.20),
        summary_row("webp", 75, 1.2, 0.90, 0.00, -0.02, 0.02),
        summary_row("webp", 2, 0.2, 0.55, -0.35, -0.50, -0.20),
        summary_row("jpeg", 10, 0.3, 0.10, -0.80, -0.90, -0.70, variant="jpeg-10"),  # another model: not shown
    ]
)


def agreement_row(metric, spearman, low, high, gain, gain_low, gain_high, rank, variant="original"):
    return dict(
        train_variant=variant, metric=metric, spearman=spearman, spearman_ci_low=low, spearman_ci_high=high,
        spearman_gain_over_bpp=gain, spearman_gain_ci_low=gain_low, spearman_gain_ci_high=gain_high, rank=rank,
    )  # fmt: skip


AGREEMENT = pd.DataFrame(
    [
        agreement_row("ms_ssim", 0.41, 0.30, 0.52, 0.12, 0.05, 0.20, 1),
        agreement_row("bpp", 0.29, 0.20, 0.40, 0.0, 0.0, 0.0, 2),
    ]
)


def task(summary=SUMMARY, agreement=AGREEMENT, lower_is_better=False):
    return {"summary": summary, "agreement": agreement, "headline": "accuracy", "lower_is_better": lower_is_better,
            "label": "accuracy"}  # fmt: skip


def test_the_best_codec_per_dataset_under_the_first_metric_with_its_interval():
    table = findings_table(BD, ["psnr_rgb", "ms_ssim"], {})
    codecs = table[table.section == "codecs"]
    assert list(zip(codecs.subject, codecs.metric, codecs.codec, strict=True)) == [
        ("photos", "psnr_rgb", "avif"), ("digits", "psnr_rgb", "webp"),
    ]  # fmt: skip
    avif, digits = codecs.iloc[0], codecs.iloc[1]
    assert (avif.estimate, avif.ci_low, avif.ci_high, avif.beyond_ci) == (-31.0, -45.0, 5.0, False)
    assert "avif needs the least rate for equal PSNR-RGB, BD-rate -31.0 [-45.0, 5.0] % against jpeg" in avif.sentence
    assert "inside its CI" in avif.sentence
    assert "next webp at -20.0 % (the two intervals overlap)" in avif.sentence
    assert "under MS-SSIM webp is the best instead" in avif.sentence  # h264 had no overlap: not in the running
    assert digits.beyond_ci and "extrapolated" in digits.sentence and "next" not in digits.sentence
    # The first metric that a dataset has leads, and agreeing metrics are said to agree.
    table = findings_table(BD[BD.dataset == "photos"], ["ms_ssim", "psnr_rgb"], {})
    assert table.codec.tolist() == ["webp"] and table.metric.tolist() == ["ms_ssim"]
    same = BD.assign(bd_rate_pct=BD.bd_rate_pct.where(BD.codec != "avif", -1.0))
    table = findings_table(same[same.dataset == "photos"], ["psnr_rgb", "ms_ssim"], {})
    assert table.sentence.iloc[0].endswith("webp is the best under MS-SSIM too")


def test_task_losses_at_the_lowest_rate_and_where_they_first_exceed_their_interval():
    table = findings_table(BD.iloc[:0], [], {"digits_cnn": task()})
    tasks = table[table.section == "tasks"]
    headline, jpeg, webp = (tasks.iloc[i] for i in range(3))
    assert (jpeg.codec, jpeg.estimate, jpeg.beyond_ci) == ("jpeg", -0.30, True)
    assert "quality 10, 0.30 bpp" in jpeg.sentence and "from 0.900 uncompressed" in jpeg.sentence
    # Down the ladder q90 (inside its CI), q50 (beyond): q50 is where the loss first shows.
    assert "first lies beyond its CI at quality 50 (1.00 bpp)" in jpeg.sentence
    assert (webp.codec, webp.estimate) == ("webp", -0.35)
    assert "first lies beyond its CI at quality 2 (0.20 bpp)" in webp.sentence
    assert (headline.codec, headline.estimate, headline.beyond_ci) == ("webp", -0.35, True)
    assert headline.sentence.startswith("digits_cnn (original model): the largest change")


def test_a_loss_inside_its_interval_is_said_to_be_no_finding_and_error_rates_lose_upwards():
    inside = SUMMARY.assign(accuracy_change_ci_high=SUMMARY.accuracy_change_ci_high.where(SUMMARY.codec != "webp", 0.1))
    inside = inside[inside.train_variant == "original"].assign(accuracy_change_ci_high=0.05)
    table = findings_table(BD.iloc[:0], [], {"t": task(inside)})
    headline = table[table.section == "tasks"].iloc[0]
    assert not headline.beyond_ci and "inside its CI: no loss is shown" in headline.sentence
    assert all("no point's loss lies beyond its CI" in s for s in table[table.section == "tasks"].sentence[1:])
    # An error rate (lower is better): the same numbers read as a gain, and a rise beyond the CI as a loss.
    errors = SUMMARY[SUMMARY.train_variant == "original"]
    table = findings_table(BD.iloc[:0], [], {"ocr": task(errors, lower_is_better=True)})
    jpeg = table[table.sentence.str.startswith("ocr: at jpeg's")].iloc[0]
    assert not jpeg.beyond_ci and "a gain beyond its CI" in jpeg.sentence
    rising = errors.assign(accuracy_change=-errors.accuracy_change, accuracy_change_ci_low=-errors.accuracy_change_ci_high,
                           accuracy_change_ci_high=-errors.accuracy_change_ci_low)  # fmt: skip
    table = findings_table(BD.iloc[:0], [], {"ocr": task(rising, lower_is_better=True)})
    jpeg = table[table.sentence.str.startswith("ocr: at jpeg's")].iloc[0]
    assert jpeg.beyond_ci and "first lies beyond its CI at quality 50" in jpeg.sentence


def test_the_metric_that_best_predicts_each_task():
    table = findings_table(BD.iloc[:0], [], {"digits_cnn": task()})
    metric = table[table.section == "metrics"].iloc[0]
    assert (metric.metric, metric.estimate, metric.beyond_ci) == ("ms_ssim", 0.41, True)
    assert "better than bpp alone by 0.12 [0.05, 0.20]" in metric.sentence


def test_findings_are_written_as_a_table_markdown_and_html(tmp_path):
    BD.to_csv(tmp_path / "bd.csv", index=False)
    SUMMARY.to_csv(tmp_path / "summary.csv", index=False)
    AGREEMENT.to_csv(tmp_path / "agreement.csv", index=False)
    specs = {"digits_cnn": {"task": "classification", "summary": tmp_path / "summary.csv",
                            "agreement": tmp_path / "agreement.csv"}}  # fmt: skip
    out = {name: tmp_path / f"findings.{name}" for name in ("csv", "md", "html")}
    table = write_findings(tmp_path / "bd.csv", ["psnr_rgb"], specs, out["csv"], out["md"], out["html"])
    written = pd.read_csv(out["csv"])
    assert list(written.columns) == FINDING_COLUMNS and len(written) == len(table)
    markdown = out["md"].read_text()
    assert markdown.startswith("# Findings") and "## Codecs" in markdown and "## Tasks" in markdown
    assert "- photos: avif needs the least rate for equal PSNR-RGB" in markdown
    page = out["html"].read_text()
    assert "<h2>Which metric predicts each task</h2>" in page and "style='color:#666'" in page  # avif's, greyed


@pytest.mark.parametrize("empty", ["summary", "agreement"])
def test_a_task_without_rows_says_so(empty):
    spec = task()
    spec[empty] = spec[empty].iloc[:0]
    table = findings_table(BD.iloc[:0], [], {"t": spec})
    section = "tasks" if empty == "summary" else "metrics"
    assert table[table.section == section].sentence.iloc[0].startswith("t: no ")


def test_machines_findings_name_the_mask_kind_the_verdict_and_a_self_scored_gain():
    import numpy as np

    from codecbench.report.findings import machines_findings

    def row(codec, kind, scorer, estimate, low, high, finding, self_scored, strategy="background_jpeg"):
        return {
            "dataset": "shapes", "codec": codec, "compare_to": "jpeg", "strategy": strategy, "mask": "m",
            "mask_kind": kind, "coverage": 0.27 if kind != "none" else np.nan, "measure": "f1_50", "scorer": scorer,
            "bd_rate_pct": estimate, "bd_rate_ci_low": low, "bd_rate_ci_high": high, "finding": finding,
            "self_scored": self_scored,
        }  # fmt: skip

    table = pd.DataFrame(
        [
            row("jpeg_roi", "oracle", "yolo", -23.3, -39.8, -0.1, True, False),
            row("jpeg_roi_yolo", "model", "yolo", -38.9, -53.3, -25.1, True, True),
            row("webp_blur", "oracle", "yolo", np.nan, np.nan, np.nan, False, False, "prefilter"),
            row("digits_task", "none", "second", 10.5, -0.3, 22.6, False, False, "task_loss digits_cnn gamma=1"),
            {**row("jpeg_roi", "oracle", "image", -25.0, -28.0, -23.0, True, False), "measure": "psnr_roi"},
        ]
    )
    sentences = [finding["sentence"] for finding in machines_findings(table)]
    assert len(sentences) == 4  # the image-quality row is the table's, not a finding about a task
    assert sentences[0] == (
        "jpeg_roi on shapes (background_jpeg, the ground truth's mask (an oracle: no deployed sender has it), 27% of "
        "the pixels) against jpeg: BD-rate on yolo's f1_50 -23.3 [-39.8, -0.1]%, a finding"
    )
    assert sentences[1].endswith("yolo drew the mask or trained the codec itself, so the gain flatters the variant")
    assert sentences[2] == "webp_blur on shapes against jpeg, scored by yolo: no BD-rate (the curves do not overlap)"
    assert sentences[3] == (
        "digits_task on shapes (task_loss digits_cnn gamma=1) against jpeg: BD-rate on second's f1_50 10.5 "
        "[-0.3, 22.6]%, its interval holds no change: not a finding"
    )
