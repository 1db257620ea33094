"""Rule task_figures: a task's scores against rate, train x test map of its headline score, improved/worsened
shares, per-class change and training-set sizes."""

import pandas as pd

from codecbench.task_figures import (
    plot_changes,
    plot_per_class_change,
    plot_scores,
    plot_train_test_accuracy,
    plot_training_sets,
)
from codecbench.tasks import get_task_class
from codecbench.workflow import job_log


def main(smk):
    with job_log(smk.log[0]):
        task = smk.wildcards.task
        scores = get_task_class(smk.params.task).scores
        summary = pd.read_csv(smk.input.summary)
        svgs = dict(zip(("scores", "heatmap", "flips", "per_class", "training_sets"), smk.output.svgs, strict=True))
        plot_scores(summary, f"{task}: scores against rate", smk.output.scores, svgs["scores"], scores)
        plot_train_test_accuracy(
            summary, f"{task}: {scores[0]}, train x test", smk.output.heatmap, svgs["heatmap"], scores[0]
        )
        plot_changes(summary, f"{task}: images improved / worsened", smk.output.flips, svgs["flips"])
        per_class = pd.read_csv(smk.input.per_class, dtype={"class": str})
        plot_per_class_change(per_class, f"{task}: per-class change", smk.output.per_class, svgs["per_class"])
        sizes = pd.read_csv(smk.input.training_sets)
        plot_training_sets(sizes, f"{task}: training-set size", smk.output.training_sets, svgs["training_sets"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
