"""Rule task_figures: a task's scores against rate, train x test map of its headline score, improved/worsened
shares, per-class change, a gallery of improved and worsened examples and training-set sizes."""

from pathlib import Path

import pandas as pd

from codecbench.datasets import read_manifest
from codecbench.report.task_figures import (
    plot_changes,
    plot_gallery,
    plot_per_class_change,
    plot_scores,
    plot_train_test_accuracy,
    plot_training_sets,
)
from codecbench.stages.points import ladder_images, read_rates
from codecbench.stages.task_tables import read_evaluations
from codecbench.tasks import get_task_class
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
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
        task_class = get_task_class(smk.params.task)
        predictions = read_evaluations([smk.input.predictions], task_class)
        manifest = read_manifest(smk.input.manifest)
        images = {row.image_id: Path(smk.input.manifest).parent / row.file for row in manifest.itertuples()}
        title = f"{task}: examples"
        rates = {codec: read_rates(path) for codec, path in zip(smk.params.readings, smk.input.rates, strict=True)}
        dataset = smk.params.dataset

        def decoded_image(codec, quality, image_id):
            point = ladder_images(smk.params.readings[codec], dataset, codec, quality, rates[codec], dataset)
            return point[point.image_index(image_id)]

        plot_gallery(predictions, task_class, images, decoded_image, title, smk.output.gallery)
        sizes = pd.read_csv(smk.input.training_sets)
        plot_training_sets(sizes, f"{task}: training-set size", smk.output.training_sets, svgs["training_sets"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
