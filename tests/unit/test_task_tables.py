"""Task tables: vectorised scores against scikit-learn, paired bootstrap CIs, flips, training-set sizes, BD."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

from codecbench.stages.task_tables import (
    bd_on_task,
    confusion_counts,
    per_class_scores,
    summarise,
    training_sets,
)
from codecbench.tasks.classification import Classification, scores_from_confusion, weighted_confusion

STATISTICS = {"n_boot": 300, "seed": 0, "confidence": 0.95}


@pytest.mark.parametrize("seed", range(5))
def test_scores_from_confusion_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, 60)
    predicted = np.where(rng.random(60) < 0.6, truth, rng.integers(0, 5, 60))  # class 4 only ever predicted
    confusion = confusion_matrix(truth, predicted, labels=range(5))
    scores = scores_from_confusion(confusion)
    assert scores["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert scores["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))
    assert scores["cohen_kappa"] == pytest.approx(cohen_kappa_score(truth, predicted))


def test_weighted_confusion_counts_each_image_as_often_as_drawn():
    truth, predicted = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    counts = np.array([[1, 1, 1, 1], [3, 0, 1, 0]])
    confusion = weighted_confusion(truth, predicted, counts, 3)
    assert confusion[0].tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert confusion[1].tolist() == [[3, 0, 0], [0, 0, 1], [0, 0, 0]]
    # Replicate 1 as a resampled list of images, scored by scikit-learn.
    resampled_truth, resampled_predicted = [0, 0, 0, 1], [0, 0, 0, 2]
    assert scores_from_confusion(confusion[1])["cohen_kappa"] == pytest.approx(
        cohen_kappa_score(resampled_truth, resampled_predicted)
    )


def evaluation_table() -> pd.DataFrame:
    """Two models, three test variants, 40 images of 2 classes, with known right/wrong patterns."""
    rng = np.random.default_rng(1)
    labels = np.array(["cat", "dog"] * 20)
    rows = []
    for variant in ("original", "jpeg-10"):
        right_uncompressed = rng.random(40) < 0.9
        for codec, quality, bpp, flip in (
            ("uncompressed", 0, 24.0, 0.0),
            ("jpeg", 10, 0.5, 0.3),
            ("jpeg", 50, 1.2, 0.1),
        ):
            correct = right_uncompressed ^ (rng.random(40) < flip)
            predicted = np.where(correct, labels, np.where(labels == "cat", "dog", "cat"))
            for i in range(40):
                rows.append({
                    "task": "t", "train_variant": variant, "codec": codec, "quality": quality, "image_id": f"i{i:02d}",
                    "label": labels[i], "predicted": predicted[i], "confidence": 0.9, "correct": bool(correct[i]),
                    "bytes": 100, "bpp": bpp + 0.01 * i,
                })  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_estimates_are_the_plain_scores_and_flips_count_against_uncompressed():
    table = evaluation_table()
    summary = summarise(table, Classification, STATISTICS)
    assert len(summary) == 6
    for row in summary.itertuples():
        rows = table[
            (table.train_variant == row.train_variant) & (table.codec == row.codec) & (table.quality == row.quality)
        ]
        assert row.accuracy == pytest.approx(accuracy_score(rows.label, rows.predicted))
        assert row.macro_f1 == pytest.approx(f1_score(rows.label, rows.predicted, average="macro"))
        assert row.cohen_kappa == pytest.approx(cohen_kappa_score(rows.label, rows.predicted))
        assert row.bpp == pytest.approx(rows.bpp.mean())
        assert row.accuracy_ci_low <= row.accuracy <= row.accuracy_ci_high
        assert row.accuracy_ci_high - row.accuracy_ci_low > 0.02  # 40 images: a real interval
        reference = table[(table.train_variant == row.train_variant) & (table.codec == "uncompressed")]
        before = reference.set_index("image_id").correct.loc[rows.image_id].to_numpy()
        after = rows.correct.to_numpy()
        assert row.worsened == pytest.approx(np.mean(before & ~after))  # right to wrong
        assert row.improved == pytest.approx(np.mean(~before & after))  # wrong to right
    uncompressed = summary[summary.codec == "uncompressed"]
    assert (uncompressed.worsened == 0).all() and (uncompressed.improved == 0).all()


def test_summary_is_reproducible_and_paired():
    table = evaluation_table()
    first, second = summarise(table, Classification, STATISTICS), summarise(table, Classification, STATISTICS)
    pd.testing.assert_frame_equal(first, second)
    other = summarise(table, Classification, {**STATISTICS, "seed": 5})
    assert not np.allclose(first.accuracy_ci_low, other.accuracy_ci_low)


def test_the_headline_change_against_uncompressed_has_a_paired_interval():
    table = evaluation_table()
    summary = summarise(table, Classification, STATISTICS).set_index(["train_variant", "codec", "quality"])
    for variant in ("original", "jpeg-10"):
        before = table[(table.train_variant == variant) & (table.codec == "uncompressed")].set_index("image_id")
        for quality in (10, 50):
            after = table[(table.train_variant == variant) & (table.quality == quality)].set_index("image_id")
            row = summary.loc[(variant, "jpeg", quality)]
            assert row.accuracy_change == pytest.approx(after.correct.mean() - before.correct.mean())
            assert row.accuracy_change_ci_low <= row.accuracy_change <= row.accuracy_change_ci_high
            # The paired interval of the difference, from the images' own changes: narrower than the two
            # points' intervals put together (the same images are drawn for both).
            own = after.correct.astype(float) - before.correct.loc[after.index].astype(float)
            rng = np.random.default_rng(0)
            means = [own.to_numpy()[rng.integers(0, len(own), len(own))].mean() for _ in range(2000)]
            low, high = np.percentile(means, [2.5, 97.5])
            assert row.accuracy_change_ci_low == pytest.approx(low, abs=0.05)
            assert row.accuracy_change_ci_high == pytest.approx(high, abs=0.05)
            unpaired = (row.accuracy_ci_high - row.accuracy_ci_low) + (
                summary.loc[(variant, "uncompressed", 0)].accuracy_ci_high
                - summary.loc[(variant, "uncompressed", 0)].accuracy_ci_low
            )
            assert row.accuracy_change_ci_high - row.accuracy_change_ci_low < unpaired
            assert row.accuracy_change == pytest.approx(row.improved - row.worsened)  # accuracy: net flips
        assert np.isnan(summary.loc[(variant, "uncompressed", 0)].accuracy_change)


def test_per_class_and_confusion_tables():
    table = evaluation_table()
    per_class = per_class_scores(table, Classification)
    point = table[(table.train_variant == "original") & (table.codec == "jpeg") & (table.quality == 10)]
    cats = per_class[
        (per_class.train_variant == "original") & (per_class.quality == 10) & (per_class["class"] == "cat")
    ]
    assert cats.value.iloc[0] == pytest.approx(point[point.label == "cat"].correct.mean())
    assert (cats.score == "accuracy").all()
    cats_uncompressed = per_class[
        (per_class.train_variant == "original") & (per_class.codec == "uncompressed") & (per_class["class"] == "cat")
    ]
    reference = table[(table.train_variant == "original") & (table.codec == "uncompressed") & (table.label == "cat")]
    assert cats.change.iloc[0] == pytest.approx(cats.value.iloc[0] - reference.correct.mean())
    assert cats_uncompressed.change.iloc[0] == 0
    counts = confusion_counts(table)
    mine = counts[(counts.train_variant == "original") & (counts.codec == "jpeg") & (counts.quality == 10)]
    expected = confusion_matrix(point.label, point.predicted, labels=["cat", "dog"])
    got = mine.pivot(index="true_class", columns="predicted_class", values="count").reindex(
        index=["cat", "dog"], columns=["cat", "dog"]
    )
    assert np.array_equal(got.fillna(0).to_numpy(int), expected)


def test_training_set_sizes_count_stored_bytes():
    table = evaluation_table()
    summary = summarise(table, Classification, STATISTICS)
    manifest = pd.DataFrame({"split": ["train"] * 3 + ["test"], "width": [10, 20, 10, 99], "height": [10, 10, 5, 99]})
    rates = {"jpeg-10": pd.DataFrame({"bytes": [30, 40, 50], "width": [10, 20, 10], "height": [10, 10, 5]})}
    infos = {"original": {"images_per_s": 100.0, "device": "cpu"}}
    sizes = training_sets(summary, ["original", "jpeg-10"], manifest, infos, rates)
    original, compressed = sizes.iloc[0], sizes.iloc[1]
    assert original.train_bytes == 3 * (100 + 200 + 50) and original.train_bpp == pytest.approx(24)
    assert compressed.train_bytes == 120 and compressed.train_bpp == pytest.approx(8 * 120 / 350)
    assert (compressed.codec, compressed.quality) == ("jpeg", 10)
    assert original.n_train == 3 and original.images_per_s == 100.0
    own = summary[(summary.train_variant == "jpeg-10") & (summary.codec == "jpeg") & (summary.quality == 10)]
    assert compressed.accuracy_matched == pytest.approx(own.accuracy.iloc[0])
    plain = summary[(summary.train_variant == "original") & (summary.codec == "uncompressed")]
    assert original.accuracy_uncompressed == pytest.approx(plain.accuracy.iloc[0])


def test_bd_on_the_task_quality_compares_codecs_on_the_same_images():
    table = evaluation_table()
    better = table[table.codec == "jpeg"].assign(codec="webp", bpp=lambda t: t.bpp / 2)  # same accuracy, half the bits
    bd = bd_on_task(pd.concat([table, better]), Classification, "jpeg", {"method": "pchip"}, STATISTICS)
    row = bd[(bd.train_variant == "original") & (bd.codec == "webp")].iloc[0]
    assert row.available and row.bd_rate_pct == pytest.approx(-50, abs=1e-6)
    assert list(bd.train_variant) == ["original", "jpeg-10"]
    assert bd_on_task(table, Classification, "avif", {"method": "pchip"}, STATISTICS).empty  # no anchor: header only


def test_metric_agreement_joins_each_image_of_each_point_to_its_metrics():
    from scipy.stats import spearmanr

    from codecbench.stages.task_tables import metric_agreement

    rng = np.random.default_rng(3)
    images = [f"im{i}" for i in range(12)]
    points = [("jpeg", 10), ("jpeg", 50), ("webp", 20)]
    quality = pd.DataFrame(
        [(c, q, i, rng.random() * q, 20 + rng.random() * q, rng.random()) for c, q in points for i in images],
        columns=["codec", "quality", "image_id", "bpp", "psnr_rgb", "mse"],
    )
    quality["vmaf"] = np.nan  # not measured on images: left out, not ranked
    evaluations = pd.DataFrame(
        [("original", c, q, i, bool(rng.random() < q / 60)) for c, q in points for i in images]
        + [("original", "uncompressed", 0, i, True) for i in images],
        columns=["train_variant", "codec", "quality", "image_id", "correct"],
    )
    evaluations["quality"] = evaluations.quality.astype(float)  # as read back from CSV: 10.0 names point 10
    table = metric_agreement("classification", evaluations, quality, ["psnr_rgb", "mse", "vmaf"], STATISTICS)
    assert set(table.metric) == {"bpp", "psnr_rgb", "mse"}
    assert (table.n_pairs == 36).all() and (table.n_images == 12).all()
    joined = evaluations[evaluations.codec != "uncompressed"].reset_index(drop=True)
    for metric, sign in (("psnr_rgb", 1), ("mse", -1)):  # mse: lower is better, by the metric registry
        expected = sign * spearmanr(quality[metric], joined.correct.astype(float)).statistic
        assert table.set_index("metric").spearman[metric] == pytest.approx(expected)
