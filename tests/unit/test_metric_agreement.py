"""Metric-task rank correlations: point estimates against scipy, the image cluster bootstrap against replicates
rebuilt by hand, the paired gain over bpp, and the degenerate cases (constant columns, missing metric values)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from codecbench.stats.bootstrap import bootstrap_counts, percentile_bounds
from codecbench.stats.metric_agreement import COLUMNS, best_metric, metric_task_correlations

STATISTICS = {"n_boot": 200, "seed": 0, "confidence": 0.95}


def make_rows(n_images: int = 30, seed: int = 0, codecs=("jpeg", "webp", "hevc"), qualities=(20, 50, 80)):
    """Per-image rows of a toy benchmark: an image's difficulty and the quality point drive the task and the
    metrics alike, with noise; metrics are rounded so that they have ties, as real ones do."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(size=n_images)
    records = []
    for codec in codecs:
        for quality in qualities:
            for image in range(n_images):
                fidelity = quality / 40 - difficulty[image] + rng.normal(scale=0.7)
                records.append(
                    {
                        "codec": codec,
                        "quality": quality,
                        "image_id": f"img{image:03d}",
                        "bpp": round(quality / 30 + rng.normal(scale=0.8), 1),
                        "psnr_rgb": round(25 + 3 * fidelity + rng.normal(scale=1.0)),
                        "mse": round(float(np.exp(-fidelity + rng.normal(scale=0.5))), 1),
                        "correct": bool(fidelity + rng.normal(scale=0.8) > 0.5),
                        "cer": round(float(np.clip(0.4 - 0.15 * fidelity + rng.normal(scale=0.1), 0, 1)), 1),
                    }
                )
    return pd.DataFrame(records)


def by_metric(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("metric")


# --- point estimates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_quality", ["correct", "cer"])
def test_point_estimates_equal_scipy_with_ties_and_orientation(sample_quality):
    rows = make_rows()
    metrics = ["bpp", "psnr_rgb", "mse"]
    lower_is_better = {"mse", "cer"}
    table = by_metric(metric_task_correlations(rows, metrics, sample_quality, lower_is_better, STATISTICS))
    task = rows[sample_quality].astype(float)
    assert task.duplicated().any() and rows["psnr_rgb"].duplicated().any()  # the fixture has ties
    for metric in metrics:
        sign = (-1 if metric in lower_is_better else 1) * (-1 if sample_quality in lower_is_better else 1)
        expected_rho = stats.spearmanr(rows[metric], task).statistic
        expected_tau = stats.kendalltau(rows[metric], task, variant="b").statistic
        assert table.loc[metric, "spearman"] == pytest.approx(sign * expected_rho, abs=1e-12)
        assert table.loc[metric, "kendall"] == pytest.approx(sign * expected_tau, abs=1e-12)
        assert table.loc[metric, "n_pairs"] == len(rows) and table.loc[metric, "n_images"] == 30
    # Oriented, every metric agrees with the task: fewer errors (cer) where the metric says better.
    assert (table["spearman"] > 0).all() and (table["kendall"] > 0).all()


def test_golden_values_on_a_small_hand_fixture():
    # Golden values from scipy 1.17.1: spearmanr([1, 2, 2, 3, 4, 4], [0, 0, 1, 1, 1, 0]) and kendalltau (tau-b).
    rows = pd.DataFrame(
        {
            "codec": ["jpeg"] * 6,
            "quality": [10, 20, 30, 40, 50, 60],
            "image_id": ["a", "b", "c", "d", "e", "f"],
            "bpp": [1.0, 2.0, 2.0, 3.0, 4.0, 4.0],
            "correct": [0, 0, 1, 1, 1, 0],
        }
    )
    table = by_metric(metric_task_correlations(rows, ["bpp"], "correct", statistics={"n_boot": 20}))
    assert table.loc["bpp", "spearman"] == pytest.approx(0.3015113445777636, abs=1e-12)
    assert table.loc["bpp", "kendall"] == pytest.approx(0.2773500981126146, abs=1e-12)


def test_infinite_metric_values_rank_above_finite_ones():
    rows = make_rows(n_images=12).astype({"psnr_rgb": float})
    rows.loc[rows["quality"] == 80, "psnr_rgb"] = np.inf  # lossless-like points
    table = by_metric(metric_task_correlations(rows, ["psnr_rgb"], "correct", statistics=STATISTICS))
    as_finite = rows["psnr_rgb"].replace(np.inf, 1e9)
    assert table.loc["psnr_rgb", "spearman"] == pytest.approx(stats.spearmanr(as_finite, rows["correct"]).statistic)
    assert np.isfinite(table.loc["psnr_rgb", ["spearman_ci_low", "spearman_ci_high"]].astype(float)).all()


# --- the cluster bootstrap ---------------------------------------------------------------------------------------


def test_intervals_are_percentiles_of_scipy_on_tables_rebuilt_from_drawn_images():
    rows = make_rows(n_images=15)
    n_boot, seed, confidence = 60, 7, 0.9
    statistics = {"n_boot": n_boot, "seed": seed, "confidence": confidence}
    table = by_metric(metric_task_correlations(rows, ["bpp", "psnr_rgb"], "correct", statistics=statistics))

    image_ids = np.sort(rows["image_id"].unique())
    counts = bootstrap_counts(image_ids.size, n_boot, seed)
    replicates = {(m, s): [] for m in ("bpp", "psnr_rgb") for s in ("rho", "tau")}
    gains = []
    for draw in counts:
        # Each drawn image brings all its rows, once per draw.
        drawn = pd.concat([rows[rows["image_id"] == image] for image in np.repeat(image_ids, draw)])
        for metric in ("bpp", "psnr_rgb"):
            replicates[metric, "rho"].append(stats.spearmanr(drawn[metric], drawn["correct"]).statistic)
            replicates[metric, "tau"].append(stats.kendalltau(drawn[metric], drawn["correct"]).statistic)
        gains.append(replicates["psnr_rgb", "rho"][-1] - replicates["bpp", "rho"][-1])
    for metric in ("bpp", "psnr_rgb"):
        for statistic, column in (("rho", "spearman"), ("tau", "kendall")):
            low, high = percentile_bounds(np.array(replicates[metric, statistic]), confidence)
            assert table.loc[metric, f"{column}_ci_low"] == pytest.approx(low, abs=1e-12)
            assert table.loc[metric, f"{column}_ci_high"] == pytest.approx(high, abs=1e-12)
    low, high = percentile_bounds(np.array(gains), confidence)
    assert table.loc["psnr_rgb", "spearman_gain_ci_low"] == pytest.approx(low, abs=1e-12)
    assert table.loc["psnr_rgb", "spearman_gain_ci_high"] == pytest.approx(high, abs=1e-12)


def test_more_rows_per_image_do_not_add_independent_draws():
    # Every image's rows copied under a second codec: the images, hence the draws, are the same, and rho and
    # tau-b of a table with every row repeated equally are unchanged, so a cluster bootstrap gives the same
    # intervals. A bootstrap over rows would treat the copies as new evidence and narrow them.
    rows = make_rows(n_images=20, codecs=("jpeg",))
    doubled = pd.concat([rows, rows.assign(codec="jpeg_copy")], ignore_index=True)
    metrics = ["bpp", "psnr_rgb", "mse"]
    once = metric_task_correlations(rows, metrics, "correct", {"mse"}, STATISTICS)
    twice = metric_task_correlations(doubled, metrics, "correct", {"mse"}, STATISTICS)
    assert (twice["n_pairs"] == 2 * once["n_pairs"]).all() and (twice["n_images"] == once["n_images"]).all()
    statistics_columns = [c for c in COLUMNS if c not in ("metric", "n_pairs", "n_images", "rank")]
    pd.testing.assert_frame_equal(once[statistics_columns], twice[statistics_columns], rtol=1e-10, atol=1e-12)


def test_same_seed_same_table_other_seed_other_intervals():
    rows = make_rows()
    first = metric_task_correlations(rows, ["bpp", "psnr_rgb"], "correct", statistics=STATISTICS)
    again = metric_task_correlations(rows, ["bpp", "psnr_rgb"], "correct", statistics=STATISTICS)
    other = metric_task_correlations(rows, ["bpp", "psnr_rgb"], "correct", statistics={**STATISTICS, "seed": 1})
    pd.testing.assert_frame_equal(first, again)
    assert (first["spearman"] == other["spearman"]).all()
    assert not np.allclose(first["spearman_ci_low"], other["spearman_ci_low"])


def test_intervals_contain_the_estimate_and_narrow_with_more_images():
    widths = []
    for n_images in (20, 200):
        table = metric_task_correlations(
            make_rows(n_images=n_images, seed=3), ["bpp", "psnr_rgb"], "correct", statistics=STATISTICS
        )
        for column in ("spearman", "kendall"):
            assert (table[f"{column}_ci_low"] <= table[column]).all()
            assert (table[column] <= table[f"{column}_ci_high"]).all()
        widths.append((table["spearman_ci_high"] - table["spearman_ci_low"]).to_numpy())
    assert (widths[1] < widths[0] / 2).all()  # 10x the images: about 1/sqrt(10) of the width


# --- gain over bpp -----------------------------------------------------------------------------------------------


def test_a_metric_tracking_the_task_beats_bpp_and_bpp_gains_nothing():
    rows = make_rows(n_images=40)
    rows["oracle"] = rows["cer"]  # tracks the task exactly (lower is better, like cer)
    table = by_metric(metric_task_correlations(rows, ["psnr_rgb", "bpp", "oracle"], "cer", {"cer", "oracle"}))
    assert table.loc["oracle", "spearman"] == pytest.approx(1.0) and table.loc["oracle", "rank"] == 1
    assert table.loc["oracle", "spearman_gain_ci_low"] > 0
    assert table.loc["oracle", "spearman_gain_over_bpp"] == pytest.approx(1.0 - table.loc["bpp", "spearman"])
    bpp_gain = table.loc["bpp", ["spearman_gain_over_bpp", "spearman_gain_ci_low", "spearman_gain_ci_high"]]
    assert (bpp_gain == 0.0).all()

    summary = best_metric(table.reset_index())
    assert summary["metric"] == "oracle" and summary["better_than_bpp"]
    assert summary["sentence"].startswith("oracle (Spearman 1.00 [1.00, 1.00]) predicts the task best; better than")


def test_a_metric_no_better_than_bpp_is_reported_as_indistinguishable():
    # bpp shuffled within each (codec, quality) point: its spread there is noise unrelated to the image, so the
    # shuffled copy carries the same information as bpp and its gain is noise too.
    rows = make_rows(n_images=30)
    rng = np.random.default_rng(0)
    rows["bpp_shuffled"] = rows.groupby(["codec", "quality"])["bpp"].transform(lambda v: rng.permutation(v.to_numpy()))
    table = metric_task_correlations(rows, ["bpp", "bpp_shuffled"], "correct", statistics=STATISTICS)
    summary = best_metric(table)
    assert summary["metric"] == "bpp_shuffled" and not summary["better_than_bpp"]
    assert summary["gain_ci_low"] < 0 < summary["gain_over_bpp"] < summary["gain_ci_high"]
    assert summary["sentence"] == (
        "bpp_shuffled (Spearman 0.30 [0.18, 0.40]) predicts the task best; "
        "not distinguishable from bpp alone (gain 0.03 [-0.08, 0.14])"
    )

    bpp_only = best_metric(table[table["metric"] == "bpp"])
    assert bpp_only["metric"] == "bpp" and not bpp_only["better_than_bpp"]
    assert bpp_only["sentence"].endswith("; no quality metric predicts it better than bpp alone")


def test_gain_columns_are_nan_without_bpp():
    table = metric_task_correlations(make_rows(), ["psnr_rgb", "mse"], "correct", {"mse"}, STATISTICS)
    gain_columns = ["spearman_gain_over_bpp", "spearman_gain_ci_low", "spearman_gain_ci_high"]
    assert table[gain_columns].isna().all().all()
    summary = best_metric(table)
    assert summary["metric"] == "psnr_rgb" and not summary["better_than_bpp"]
    assert summary["sentence"].endswith("; bpp was not compared")


# --- degenerate cases --------------------------------------------------------------------------------------------


def test_constant_sample_quality_gives_nan_without_error():
    rows = make_rows(n_images=10).assign(correct=True)  # every image correct
    table = metric_task_correlations(rows, ["bpp", "psnr_rgb"], "correct", statistics=STATISTICS)
    assert list(table.columns) == COLUMNS and table["rank"].tolist() == [1, 2]
    nan_columns = [c for c in COLUMNS if c not in ("metric", "n_pairs", "n_images", "rank")]
    assert table[nan_columns].isna().all().all()
    summary = best_metric(table)
    assert summary["metric"] is None and math.isnan(summary["spearman"]) and not summary["better_than_bpp"]


def test_constant_metric_is_nan_and_ranked_last():
    rows = make_rows(n_images=10).assign(flat=0.5)
    table = metric_task_correlations(rows, ["flat", "psnr_rgb", "bpp"], "correct", statistics=STATISTICS)
    assert table["metric"].tolist()[-1] == "flat" and table["rank"].tolist() == [1, 2, 3]
    assert table.iloc[-1][["spearman", "kendall", "spearman_ci_low", "spearman_gain_over_bpp"]].isna().all()
    assert table.iloc[:2]["spearman"].notna().all()


def test_missing_metric_values_are_dropped_per_metric():
    rows = make_rows(n_images=25)
    rows["vmaf"] = np.where(rows["codec"] == "hevc", rows["psnr_rgb"] * 2.0, np.nan)  # video codecs only
    rows.loc[rows.index[:3], "bpp"] = np.nan
    table = by_metric(metric_task_correlations(rows, ["bpp", "psnr_rgb", "vmaf"], "correct", statistics=STATISTICS))
    hevc = rows[rows["codec"] == "hevc"]
    assert table.loc["vmaf", "n_pairs"] == len(hevc) and table.loc["vmaf", "n_images"] == 25
    assert table.loc["bpp", "n_pairs"] == len(rows) - 3 and table.loc["psnr_rgb", "n_pairs"] == len(rows)
    expected = stats.spearmanr(hevc["vmaf"], hevc["correct"]).statistic
    assert table.loc["vmaf", "spearman"] == pytest.approx(expected, abs=1e-12)
    assert np.isfinite(table.loc["vmaf", ["spearman_ci_low", "spearman_gain_ci_low"]].astype(float)).all()


def test_missing_sample_quality_is_dropped_too():
    rows = make_rows(n_images=10)
    rows["correct"] = rows["correct"].astype("boolean")
    rows.loc[rows.index[:4], "correct"] = pd.NA  # no prediction for these rows
    table = by_metric(metric_task_correlations(rows, ["psnr_rgb"], "correct", statistics=STATISTICS))
    kept = rows.iloc[4:]
    assert table.loc["psnr_rgb", "n_pairs"] == len(kept)
    expected = stats.spearmanr(kept["psnr_rgb"], kept["correct"].astype(float)).statistic
    assert table.loc["psnr_rgb", "spearman"] == pytest.approx(expected, abs=1e-12)


def test_the_table_is_sorted_by_spearman_with_ranks():
    table = metric_task_correlations(make_rows(), ["mse", "bpp", "psnr_rgb"], "correct", {"mse"}, STATISTICS)
    assert list(table.columns) == COLUMNS
    assert table["spearman"].is_monotonic_decreasing and table["rank"].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: rows.drop(columns="psnr_rgb"), "lack columns"),
        (lambda rows: pd.concat([rows, rows.head(1)]), "duplicate rows"),
        (lambda rows: rows.assign(dataset=np.where(rows.index % 2, "a", "b")), "one dataset"),
    ],
)
def test_unusable_rows_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        metric_task_correlations(change(make_rows(n_images=5)), ["bpp", "psnr_rgb"], "correct")


@pytest.mark.parametrize(
    ("statistics", "message"),
    [({"n_boot": 0}, "n_boot"), ({"confidence": 1.0}, "confidence"), ({"seeds": 1}, "unknown statistics")],
)
def test_bad_statistics_settings_are_refused(statistics, message):
    with pytest.raises(ValueError, match=message):
        metric_task_correlations(make_rows(n_images=5), ["bpp"], "correct", statistics=statistics)
