"""Bjontegaard deltas and paired bootstrap intervals, against hand calculations, bjontegaard itself and sklearn."""

from __future__ import annotations

import math

import bjontegaard
import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from codecbench.stats.bd import bd_metrics, bootstrap_bd
from codecbench.stats.bootstrap import bootstrap_means, paired_bootstrap_indices

METHODS = ["pchip", "akima", "cubic"]
RATES = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
PSNR = np.array([28.0, 31.0, 34.0, 37.0, 40.0])


def bj(function, rate_a, quality_a, rate_t, quality_t, method):
    """bjontegaard called directly, on curves sorted by rate as it needs."""
    return function(rate_a, quality_a, rate_t, quality_t, method=method, require_matching_points=False, min_overlap=0)


# --- bd_metrics: hand-computed cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_halving_the_rate_at_every_quality_is_minus_50_percent(method):
    result = bd_metrics(RATES, PSNR, RATES / 2, PSNR, method=method)
    assert result["bd_rate_pct"] == pytest.approx(-50.0, abs=1e-9)
    assert result["available"] and not result["monotone_fit"] and result["method"] == method
    # log2-rates [-2, 2] against [-3, 1]: 3 of 5 along rate, so bd_quality would extrapolate too much to trust
    assert result["overlap_quality"] == 1.0 and result["overlap_rate"] == pytest.approx(0.6)
    assert result["bd_rate_reliable"] and not result["bd_quality_reliable"]


@pytest.mark.parametrize("method", METHODS)
def test_one_db_more_at_every_rate_is_plus_one_db(method):
    result = bd_metrics(RATES, PSNR, RATES, PSNR + 1.0, method=method)
    assert result["bd_quality"] == pytest.approx(1.0, abs=1e-9)
    assert result["overlap_rate"] == 1.0


@pytest.mark.parametrize("method", METHODS)
def test_straight_lines_of_different_slope_match_the_integral_by_hand(method):
    # Anchor q = 30 + 10 L, test q = 30 + 12.5 L, with L = log10(rate) at -0.6, -0.3, 0, 0.3: every interpolator
    # reproduces a straight line. Along quality, L_test - L_anchor = -0.02 (q - 30), whose mean over the common
    # range [24, 33] is -0.02 * -1.5 = 0.03, so BD-rate = 10**0.03 - 1. Along L, q_test - q_anchor = 2.5 L, whose
    # mean over [-0.6, 0.3] is 2.5 * -0.15 = -0.375 dB.
    log_rate = np.array([-0.6, -0.3, 0.0, 0.3])
    result = bd_metrics(10**log_rate, 30 + 10 * log_rate, 10**log_rate, 30 + 12.5 * log_rate, method=method)
    assert result["bd_rate_pct"] == pytest.approx((10**0.03 - 1) * 100, abs=1e-9)  # 7.1519...%
    assert result["bd_quality"] == pytest.approx(-0.375, abs=1e-9)
    assert result["overlap_quality"] == pytest.approx(9 / 11.25)  # [24, 33] within [22.5, 33.75]
    assert result["overlap_rate"] == 1.0
    assert result["bd_rate_reliable"] and result["bd_quality_reliable"]


# --- bd_metrics: wiring against bjontegaard ---------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_agrees_with_bjontegaard_called_directly(method):
    rate_a, psnr_a = np.array([0.12, 0.31, 0.7, 1.45]), np.array([27.1, 30.4, 33.9, 37.2])
    rate_t, psnr_t = np.array([0.1, 0.24, 0.55, 1.3]), np.array([27.6, 30.9, 34.6, 38.4])
    shuffle = [2, 0, 3, 1]  # we accept any order; bjontegaard needs it sorted
    result = bd_metrics(rate_a[shuffle], psnr_a[shuffle], rate_t[shuffle], psnr_t[shuffle], method=method)
    expected_rate = bj(bjontegaard.bd_rate, rate_a, psnr_a, rate_t, psnr_t, method)
    expected_psnr = bj(bjontegaard.bd_psnr, rate_a, psnr_a, rate_t, psnr_t, method)
    assert expected_rate < -5 and expected_psnr > 0.3  # a real difference, not a trivial fixture
    assert result["bd_rate_pct"] == pytest.approx(expected_rate, rel=1e-12)
    assert result["bd_quality"] == pytest.approx(expected_psnr, rel=1e-12)
    assert result["bd_rate_reliable"] and result["bd_quality_reliable"] and not result["monotone_fit"]


def test_non_finite_points_are_dropped():
    rate_a, psnr_a = np.append(RATES, [8.0, np.nan]), np.append(PSNR, [np.inf, 45.0])  # a lossless point, a gap
    result = bd_metrics(rate_a, psnr_a, RATES * 0.8, PSNR + 0.2)
    assert result["bd_rate_pct"] == pytest.approx(
        bj(bjontegaard.bd_rate, RATES, PSNR, RATES * 0.8, PSNR + 0.2, "pchip")
    )


def test_unknown_method_names_the_allowed_ones():
    with pytest.raises(ValueError, match="pchip, akima, cubic"):
        bd_metrics(RATES, PSNR, RATES, PSNR, method="linear")


# --- bd_metrics: overlap -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_disjoint_quality_ranges_are_not_available(method):
    result = bd_metrics(RATES, PSNR, RATES, PSNR + 20.0, method=method)  # [28, 40] against [48, 60]
    assert not result["available"] and not result["bd_rate_reliable"] and not result["bd_quality_reliable"]
    assert math.isnan(result["bd_rate_pct"]) and math.isnan(result["bd_quality"])
    assert result["overlap_quality"] == 0.0 and result["overlap_rate"] == 1.0


def test_disjoint_rate_ranges_are_not_available_either():
    result = bd_metrics(RATES, PSNR, RATES * 100, PSNR)
    assert result["overlap_rate"] == 0.0 and not result["available"]
    assert math.isnan(result["bd_rate_pct"]) and math.isnan(result["bd_quality"])


def test_low_overlap_is_available_but_not_reliable():
    result = bd_metrics(RATES, PSNR, RATES, PSNR + 5.0)  # [28, 40] against [33, 45]: 7 of 17
    assert result["overlap_quality"] == pytest.approx(7 / 17)
    assert result["available"] and not result["bd_rate_reliable"] and result["bd_quality_reliable"]
    assert result["bd_quality"] == pytest.approx(5.0, abs=1e-9)
    assert math.isfinite(result["bd_rate_pct"]) and result["bd_rate_pct"] < -50


def test_too_few_points_is_not_available():
    assert not bd_metrics([1.0], [30.0], RATES, PSNR)["available"]
    two = bd_metrics(RATES[:2], PSNR[:2], RATES[:2] / 1.5, PSNR[:2])
    assert two["bd_rate_pct"] == pytest.approx(-100 / 3) and two["available"]
    # np.polyfit(deg=3) is underdetermined below 4 points: cubic declines rather than return an arbitrary cubic
    three = bd_metrics(RATES[:3], PSNR[:3], RATES[:3] / 2, PSNR[:3], method="cubic")
    assert not three["available"] and math.isnan(three["bd_rate_pct"])


# --- bd_metrics: monotone fit and ties ---------------------------------------------------------------------------


def test_non_monotone_curve_is_replaced_by_its_isotonic_fit():
    psnr_a = np.array([28.0, 32.0, 31.0, 36.0, 39.0])  # drops between 0.5 and 1 bpp
    rate_t, psnr_t = RATES * 0.9, PSNR + 0.5
    result = bd_metrics(RATES, psnr_a, rate_t, psnr_t)
    assert result["monotone_fit"] and result["available"]
    # Independently: sklearn's isotonic fit, then the pooled block as one point at its geometric-mean rate
    fitted = IsotonicRegression().fit_transform(RATES, psnr_a)
    np.testing.assert_allclose(fitted, [28.0, 31.5, 31.5, 36.0, 39.0])
    rate_fit, psnr_fit = np.array([0.25, math.sqrt(0.5 * 1.0), 2.0, 4.0]), np.array([28.0, 31.5, 36.0, 39.0])
    assert result["bd_rate_pct"] == pytest.approx(bj(bjontegaard.bd_rate, rate_fit, psnr_fit, rate_t, psnr_t, "pchip"))
    assert result["bd_quality"] == pytest.approx(bj(bjontegaard.bd_psnr, rate_fit, psnr_fit, rate_t, psnr_t, "pchip"))


def test_a_longer_violation_pools_several_points():
    psnr_a = np.array([30.0, 36.0, 33.0, 32.0, 40.0])
    fitted = IsotonicRegression().fit_transform(RATES, psnr_a)  # 36, 33, 32 pool to 33.666...
    assert np.unique(fitted).size == 3
    rate_fit = np.array([0.25, (0.5 * 1.0 * 2.0) ** (1 / 3), 4.0])
    result = bd_metrics(RATES, psnr_a, RATES, PSNR, method="akima")
    assert result["monotone_fit"]
    expected = bj(bjontegaard.bd_rate, rate_fit, np.unique(fitted), RATES, PSNR, "akima")
    assert result["bd_rate_pct"] == pytest.approx(expected)


def test_flat_runs_and_duplicate_points_are_merged_without_a_fit():
    # Equal qualities at 0.5 and 1 bpp: one point at their geometric-mean rate. A repeated point changes nothing.
    rate_a = np.array([0.25, 0.5, 1.0, 2.0, 2.0])
    psnr_a = np.array([28.0, 33.0, 33.0, 37.0, 37.0])
    result = bd_metrics(rate_a, psnr_a, RATES, PSNR)
    assert not result["monotone_fit"] and result["available"]
    rate_fit, psnr_fit = np.array([0.25, math.sqrt(0.5), 2.0]), np.array([28.0, 33.0, 37.0])
    assert result["bd_rate_pct"] == pytest.approx(bj(bjontegaard.bd_rate, rate_fit, psnr_fit, RATES, PSNR, "pchip"))


def test_equal_rates_average_their_quality():
    result = bd_metrics([0.5, 0.5, 1.0, 2.0], [30.0, 32.0, 34.0, 37.0], RATES, PSNR)
    expected = bj(bjontegaard.bd_psnr, np.array([0.5, 1.0, 2.0]), np.array([31.0, 34.0, 37.0]), RATES, PSNR, "pchip")
    assert result["bd_quality"] == pytest.approx(expected)
    assert not result["monotone_fit"]


# --- paired_bootstrap_indices ------------------------------------------------------------------------------------


def test_bootstrap_indices_are_deterministic_draws_with_replacement():
    indices = paired_bootstrap_indices(24, 500, seed=3)
    assert indices.shape == (500, 24) and np.issubdtype(indices.dtype, np.integer)
    assert indices.min() == 0 and indices.max() == 23
    assert np.array_equal(indices, paired_bootstrap_indices(24, 500, seed=3))
    assert not np.array_equal(indices, paired_bootstrap_indices(24, 500, seed=4))
    # with replacement: rows repeat images (P(no repeat in 24 draws of 24) is about 1e-10)
    assert all(np.unique(row).size < 24 for row in indices)
    assert np.bincount(indices.ravel()).min() > 400  # every image drawn about 500 times


# --- bootstrap_bd ------------------------------------------------------------------------------------------------


def synthetic_table(n_images=24, seed=0, codecs=(("anchor", 1.0, 0.0), ("test", 0.8, 0.3))):
    """Per-image rows: rate and PSNR vary by image; each codec has a rate factor and a PSNR offset."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        difficulty, offset = rng.lognormal(0, 0.4), rng.normal(0, 2)
        for quality, base in enumerate([0.2, 0.4, 0.8, 1.6, 3.2]):
            for codec, factor, gain in codecs:
                bpp = base * difficulty * factor * rng.lognormal(0, 0.05)
                psnr = 30 + 3 * np.log2(base * difficulty) + offset + gain + rng.normal(0, 0.2)
                rows.append(
                    {
                        "dataset": "d",
                        "codec": codec,
                        "quality": quality,
                        "image_id": f"img{i:02d}",
                        "bpp": bpp,
                        "psnr_rgb": psnr,
                    }
                )
    return pd.DataFrame(rows)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)


def test_bootstrap_bd_is_reproducible_and_its_interval_holds_the_estimate():
    table = synthetic_table()
    first = bootstrap_bd(table, "anchor", "test", "psnr_rgb", n_boot=300, seed=7)
    assert set(first) == {
        "bd_rate_pct", "bd_quality", "overlap_quality", "overlap_rate", "bd_rate_reliable", "bd_quality_reliable", "available", "monotone_fit",
        "method", "bd_rate_ci_low", "bd_rate_ci_high", "bd_quality_ci_low", "bd_quality_ci_high", "n_boot_valid",
        "n_images",
    }  # fmt: skip
    assert same(first, bootstrap_bd(table, "anchor", "test", "psnr_rgb", n_boot=300, seed=7))
    other = bootstrap_bd(table, "anchor", "test", "psnr_rgb", n_boot=300, seed=8)
    assert other["bd_rate_pct"] == first["bd_rate_pct"]  # the estimate does not depend on the seed
    assert other["bd_rate_ci_low"] != first["bd_rate_ci_low"]
    assert first["bd_rate_ci_low"] < first["bd_rate_pct"] < first["bd_rate_ci_high"] < 0
    assert first["bd_quality_ci_low"] < first["bd_quality"] < first["bd_quality_ci_high"]
    assert first["n_boot_valid"] == 300 and first["n_images"] == 24


def test_bootstrap_bd_estimate_is_bd_metrics_of_the_per_quality_means():
    table = synthetic_table()
    result = bootstrap_bd(table, "anchor", "test", "psnr_rgb", method="akima", n_boot=20)
    means = table.groupby(["codec", "quality"])[["bpp", "psnr_rgb"]].mean()
    a, t = means.loc["anchor"], means.loc["test"]
    assert result["bd_rate_pct"] == pytest.approx(
        bj(bjontegaard.bd_rate, a.bpp, a.psnr_rgb, t.bpp, t.psnr_rgb, "akima")
    )
    assert result["bd_quality"] == pytest.approx(bj(bjontegaard.bd_psnr, a.bpp, a.psnr_rgb, t.bpp, t.psnr_rgb, "akima"))


def test_bootstrap_bd_resamples_both_codecs_with_the_same_images():
    # Per image, "half" spends exactly half the anchor's bits for the same PSNR and "plus1" gains exactly 1 dB at
    # the same bits. Paired draws keep that in every replicate, so the intervals shrink to a point; draws that
    # differed between codecs would spread them over the large image-to-image variation.
    table = synthetic_table(codecs=(("anchor", 1.0, 0.0),))
    half = table.assign(codec="half", bpp=table.bpp / 2)
    plus1 = table.assign(codec="plus1", psnr_rgb=table.psnr_rgb + 1)
    table = pd.concat([table, half, plus1], ignore_index=True)
    result = bootstrap_bd(table, "anchor", "half", "psnr_rgb", n_boot=200)
    assert result["bd_rate_ci_low"] == pytest.approx(-50.0, abs=1e-9)
    assert result["bd_rate_ci_high"] == pytest.approx(-50.0, abs=1e-9)
    assert result["n_boot_valid"] == 200
    result = bootstrap_bd(table, "anchor", "plus1", "psnr_rgb", n_boot=200)
    assert result["bd_quality_ci_low"] == pytest.approx(1.0, abs=1e-9)
    assert result["bd_quality_ci_high"] == pytest.approx(1.0, abs=1e-9)


def test_bootstrap_bd_uses_only_the_images_both_codecs_have():
    table = synthetic_table()
    dropped = {"img03", "img11", "img17"}
    partial = table[~((table.codec == "test") & table.image_id.isin(dropped))]
    shared = table[~table.image_id.isin(dropped)]
    result = bootstrap_bd(partial, "anchor", "test", "psnr_rgb", n_boot=100, seed=2)
    assert result["n_images"] == 21
    assert same(result, bootstrap_bd(shared, "anchor", "test", "psnr_rgb", n_boot=100, seed=2))


def test_bootstrap_bd_without_overlap_has_no_interval():
    table = synthetic_table(codecs=(("anchor", 1.0, 0.0), ("far", 1.0, 40.0)))
    result = bootstrap_bd(table, "anchor", "far", "psnr_rgb", n_boot=50)
    assert not result["available"] and result["n_boot_valid"] == 0
    for key in (
        "bd_rate_pct",
        "bd_quality",
        "bd_rate_ci_low",
        "bd_rate_ci_high",
        "bd_quality_ci_low",
        "bd_quality_ci_high",
    ):
        assert math.isnan(result[key]), key


def test_bootstrap_bd_rejects_ambiguous_tables():
    table = synthetic_table()
    with pytest.raises(ValueError, match="duplicate"):
        bootstrap_bd(pd.concat([table, table.head(1)]), "anchor", "test", "psnr_rgb", n_boot=10)
    with pytest.raises(ValueError, match="one dataset"):
        bootstrap_bd(pd.concat([table, table.assign(dataset="e")]), "anchor", "test", "psnr_rgb", n_boot=10)
    with pytest.raises(ValueError, match="'nope'"):
        bootstrap_bd(table, "anchor", "nope", "psnr_rgb", n_boot=10)


# --- bootstrap_means ---------------------------------------------------------------------------------------------


def test_bootstrap_means_are_the_group_means():
    table = synthetic_table()
    result = bootstrap_means(table, ["bpp", "psnr_rgb"], n_boot=100)
    expected = table.groupby(["dataset", "codec", "quality"], as_index=False)[["bpp", "psnr_rgb"]].mean()
    np.testing.assert_allclose(result[["bpp", "psnr_rgb"]], expected[["bpp", "psnr_rgb"]], rtol=1e-12)
    assert list(result.columns) == [
        "dataset", "codec", "quality", "bpp", "bpp_ci_low", "bpp_ci_high", "psnr_rgb", "psnr_rgb_ci_low",
        "psnr_rgb_ci_high", "n_images",
    ]  # fmt: skip
    assert (result.n_images == 24).all()
    assert (result.psnr_rgb_ci_low < result.psnr_rgb).all() and (result.psnr_rgb < result.psnr_rgb_ci_high).all()


def test_bootstrap_means_cover_the_true_mean_at_about_the_nominal_rate():
    # 200 samples of 40 images from N(5, 2): the 95% percentile interval should cover 5 about 94% of the time
    # (the percentile bootstrap runs slightly narrow at n=40) and be about 2 * 1.96 * 2 / sqrt(40) = 1.24 wide.
    covered, widths = 0, []
    for trial in range(200):
        values = np.random.default_rng(10_000 + trial).normal(5.0, 2.0, size=40)
        table = pd.DataFrame({"dataset": "d", "codec": "c", "quality": 1, "image_id": np.arange(40), "v": values})
        row = bootstrap_means(table, ["v"], n_boot=1000, seed=trial).iloc[0]
        covered += row.v_ci_low <= 5.0 <= row.v_ci_high
        widths.append(row.v_ci_high - row.v_ci_low)
    assert 0.88 <= covered / 200 <= 0.99
    assert np.mean(widths) == pytest.approx(2 * 1.96 * 2 / math.sqrt(40), rel=0.1)


def test_bootstrap_means_pair_codecs_on_the_same_draws():
    rng = np.random.default_rng(5)
    values = rng.normal(30, 4, size=30)
    table = pd.DataFrame(
        {"dataset": "d", "codec": np.repeat(["a", "b"], 30), "quality": 1, "image_id": np.tile(np.arange(30), 2),
         "psnr_rgb": np.concatenate([values, values + 1])}
    )  # fmt: skip
    result = bootstrap_means(table, ["psnr_rgb"], n_boot=500, seed=1).set_index("codec")
    a, b = result.loc["a"], result.loc["b"]
    assert a.psnr_rgb_ci_high - a.psnr_rgb_ci_low > 1.5  # a real interval, not a point
    assert b.psnr_rgb_ci_low == pytest.approx(a.psnr_rgb_ci_low + 1, abs=1e-9)
    assert b.psnr_rgb_ci_high == pytest.approx(a.psnr_rgb_ci_high + 1, abs=1e-9)


def test_a_group_lacking_an_image_averages_the_drawn_images_it_has():
    ids = ["a", "b", "c", "d", "e"]
    table = pd.DataFrame(
        {"dataset": "d", "codec": ["x"] * 5 + ["y"] * 4, "quality": 1, "image_id": ids + ["a", "b", "d", "e"],
         "v": [1.0, 2.0, 4.0, 8.0, 16.0, 1.0, 2.0, 8.0, 16.0]}
    )  # fmt: skip
    result = bootstrap_means(table, ["v"], n_boot=400, seed=9).set_index("codec")
    # By hand: the dataset's one index matrix over the sorted ids a..e; y has no "c" (position 2)
    indices = paired_bootstrap_indices(5, 400, seed=9)
    x_values = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    x_means = x_values[indices].mean(axis=1)
    y_means = [np.mean([x_values[i] for i in row if i != 2]) if (row != 2).any() else np.nan for row in indices]
    assert result.loc["y", "v"] == pytest.approx(6.75) and result.loc["y", "n_images"] == 4
    np.testing.assert_allclose(
        result.loc["x", ["v_ci_low", "v_ci_high"]].to_numpy(float), np.percentile(x_means, [2.5, 97.5])
    )
    np.testing.assert_allclose(
        result.loc["y", ["v_ci_low", "v_ci_high"]].to_numpy(float), np.nanpercentile(y_means, [2.5, 97.5])
    )


def test_infinite_values_give_infinite_bounds_and_nan_is_ignored():
    table = pd.DataFrame(
        {"dataset": "d", "codec": ["png"] * 3 + ["jpeg"] * 3, "quality": 1, "image_id": ["a", "b", "c"] * 2,
         "psnr_rgb": [np.inf, np.inf, np.inf, 30.0, np.inf, 34.0], "ms_ssim": [1.0, 1.0, 1.0, 0.9, np.nan, 0.95]}
    )  # fmt: skip
    result = bootstrap_means(table, ["psnr_rgb", "ms_ssim"], n_boot=200).set_index("codec")
    for codec in ("png", "jpeg"):  # jpeg is lossless on one image: its mean is infinite too
        assert result.loc[codec, ["psnr_rgb", "psnr_rgb_ci_low", "psnr_rgb_ci_high"]].tolist() == [np.inf] * 3
    assert result.loc["jpeg", "ms_ssim"] == pytest.approx(0.925)
    assert 0.9 <= result.loc["jpeg", "ms_ssim_ci_low"] < result.loc["jpeg", "ms_ssim_ci_high"] <= 0.95
    assert result.loc["png", ["ms_ssim_ci_low", "ms_ssim_ci_high"]].tolist() == [1.0, 1.0]


def test_each_dataset_is_resampled_on_its_own():
    first = synthetic_table(n_images=12, seed=1)
    second = synthetic_table(n_images=30, seed=2).assign(dataset="e")
    alone = bootstrap_means(first, ["psnr_rgb"], n_boot=200, seed=4)
    together = bootstrap_means(pd.concat([second, first]), ["psnr_rgb"], n_boot=200, seed=4)
    pd.testing.assert_frame_equal(together[together.dataset == "d"].reset_index(drop=True), alone)
    assert (together[together.dataset == "e"].n_images == 30).all()


# --- bootstrap_bd: vectorised replicates against the per-replicate path through bjontegaard ----------------------


def random_curve_matrices(rng, n_rows, n_points, noise):
    """Replicate-like (row x point) rate and quality matrices: noisy log-linear curves, some shuffled."""
    base = 0.2 * 2.0 ** np.arange(n_points)
    rate = base * rng.lognormal(0, noise, (n_rows, n_points))
    quality = 30 + 3 * np.log2(rate) + rng.normal(0, 5 * noise, (n_rows, n_points))
    flip = rng.random(n_rows) < 0.3
    rate[flip], quality[flip] = rate[flip, ::-1], quality[flip, ::-1]  # any order is accepted
    return rate, quality


def assert_replicates_equal(fast, slow):
    assert fast.shape == slow.shape
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
    assert not np.isinf(slow).any()
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_points", [4, 5, 6])
def test_vectorised_replicates_equal_bjontegaard_on_random_curves(method, n_points):
    from codecbench.stats.bd import _bootstrap_replicates, _bootstrap_replicates_loop

    rng = np.random.default_rng(n_points)
    for noise in (0.01, 0.15, 0.5):  # from clean monotone curves to many isotonic fits and lost overlaps
        rate_a, quality_a = random_curve_matrices(rng, 120, n_points, noise)
        rate_t, quality_t = random_curve_matrices(rng, 120, n_points, noise)
        rate_t *= rng.lognormal(-0.2, 0.3)
        quality_t += rng.normal(0, 4)
        slow = _bootstrap_replicates_loop(rate_a, quality_a, rate_t, quality_t, method)
        assert_replicates_equal(_bootstrap_replicates(rate_a, quality_a, rate_t, quality_t, method), slow)


@pytest.mark.parametrize("method", METHODS)
def test_vectorised_replicates_handle_ties_gaps_and_disjoint_curves(method):
    from codecbench.stats.bd import _bootstrap_replicates, _bootstrap_replicates_loop, _prepare_curve

    rng = np.random.default_rng(11)
    rate_a, quality_a = random_curve_matrices(rng, 400, 5, 0.05)
    rate_t, quality_t = random_curve_matrices(rng, 400, 5, 0.05)
    rate_t *= 0.8
    rate_a[::7, 1] = rate_a[::7, 2]  # equal rates: merged with their mean quality
    quality_a[::9, 3] = quality_a[::9, 4]  # equal qualities: merged at the mean log-rate
    quality_t[::5, 1] = quality_t[::5, 3] + 1.0  # a quality drop: isotonic fit, pooled points
    rate_t[::13, 0] = np.nan  # a gap
    quality_t[::17, 4] = np.inf  # a lossless point
    rate_a[::19, 2] = 0.0  # no logarithm
    rate_a[::23, 1:] = np.nan  # a single point left: not available
    quality_t[::29] += 15.0  # quality ranges barely or not overlapping
    rate_t[::31] *= 40.0  # rate ranges not overlapping
    quality_t[::37, :2] = quality_t[::37, 2:4]  # two pairs of duplicate qualities
    sizes = {(_prepare_curve(rate_a[b], quality_a[b])[0].size, _prepare_curve(rate_t[b], quality_t[b])[0].size)
             for b in range(400)}  # fmt: skip
    assert len(sizes) >= 6  # curves of several lengths, each a group of its own
    slow = _bootstrap_replicates_loop(rate_a, quality_a, rate_t, quality_t, method)
    assert 0.1 < np.isnan(slow[:, 0]).mean() < 0.5  # both available and unavailable replicates
    assert_replicates_equal(_bootstrap_replicates(rate_a, quality_a, rate_t, quality_t, method), slow)


@pytest.mark.parametrize("method", METHODS)
def test_vectorised_replicates_of_two_and_three_point_curves(method):
    from codecbench.stats.bd import _bootstrap_replicates, _bootstrap_replicates_loop

    rng = np.random.default_rng(3)
    for n_points in (2, 3):
        rate_a, quality_a = random_curve_matrices(rng, 200, n_points, 0.2)
        rate_t, quality_t = random_curve_matrices(rng, 200, n_points, 0.2)
        slow = _bootstrap_replicates_loop(rate_a, quality_a, rate_t * 0.7, quality_t, method)
        assert_replicates_equal(_bootstrap_replicates(rate_a, quality_a, rate_t * 0.7, quality_t, method), slow)


@pytest.mark.parametrize("method", METHODS)
def test_bootstrap_bd_is_unchanged_against_the_per_replicate_path(method, monkeypatch):
    import codecbench.stats.bd

    table = synthetic_table(n_images=30, seed=4)
    # A realistic table with a few awkward images: a lossless point, a missing measurement, a noisy codec.
    table.loc[(table.codec == "test") & (table.quality == 4) & (table.image_id == "img05"), "psnr_rgb"] = np.inf
    table.loc[(table.codec == "anchor") & (table.quality == 2) & (table.image_id == "img07"), "bpp"] = np.nan
    noisy = table[table.codec == "test"].assign(codec="noisy")
    noisy["psnr_rgb"] += np.random.default_rng(1).normal(0, 3, len(noisy))
    table = pd.concat([table, noisy], ignore_index=True)
    for codec in ("test", "noisy"):
        fast = bootstrap_bd(table, "anchor", codec, "psnr_rgb", method=method, n_boot=300, seed=5)
        with monkeypatch.context() as patch:
            patch.setattr(codecbench.stats.bd, "_bootstrap_replicates", codecbench.stats.bd._bootstrap_replicates_loop)
            slow = bootstrap_bd(table, "anchor", codec, "psnr_rgb", method=method, n_boot=300, seed=5)
        assert fast.keys() == slow.keys() and fast["n_boot_valid"] == slow["n_boot_valid"] > 0
        for key in fast:
            if isinstance(fast[key], float):
                assert fast[key] == pytest.approx(slow[key], rel=1e-9, abs=1e-11), key
            else:
                assert fast[key] == slow[key], key
