"""Rule task_figures: a task's scores against rate, train x test accuracy map, flips and training-set sizes."""

import pandas as pd

from codecbench.task_figures import plot_flips, plot_scores, plot_train_test_accuracy, plot_training_sets
from codecbench.workflow import job_log


def main(smk):
    with job_log(smk.log[0]):
        task = smk.wildcards.task
        summary = pd.read_csv(smk.input.summary)
        svgs = dict(zip(("scores", "heatmap", "flips", "training_sets"), smk.output.svgs, strict=True))
        plot_scores(summary, f"{task}: scores against rate", smk.output.scores, svgs["scores"])
        plot_train_test_accuracy(summary, f"{task}: accuracy, train x test", smk.output.heatmap, svgs["heatmap"])
        plot_flips(summary, f"{task}: prediction flips", smk.output.flips, svgs["flips"])
        sizes = pd.read_csv(smk.input.training_sets)
        plot_training_sets(sizes, f"{task}: training-set size", smk.output.training_sets, svgs["training_sets"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
