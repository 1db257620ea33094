"""Rules evaluate_task and evaluate_task_shard: one task model on the test split (or one shard of it), uncompressed
and at every point of the task's codecs."""

from codecbench.stages.points import ladder_images, read_rates
from codecbench.stages.tasks import evaluate_task_model
from codecbench.workflow import job_shard, script_job


def main(smk):
    with script_job(smk):
        import cv2
        import torch

        torch.set_num_threads(smk.threads)
        cv2.setNumThreads(smk.threads)  # edge detection and YOLO's pre-processing: the job's cores, not every core
        # The uncompressed point first, then each compressed point with its stored images.
        (uncompressed, *compressed) = smk.params.points
        assert uncompressed[0] == smk.params.uncompressed
        readings, dataset = smk.params.readings, smk.params.dataset
        rates = {codec: read_rates(path) for codec, path in zip(readings, smk.input.rates, strict=True)}
        points = [(*uncompressed, None)] + [
            (codec, quality, ladder_images(readings[codec], dataset, codec, quality, rates[codec], repr(dataset)))
            for codec, quality in compressed
        ]
        keys = {"task": smk.wildcards.task, "train_variant": smk.wildcards.train_variant}
        checkpoint = smk.input.checkpoint or None  # none for a pretrained variant: the settings name the model
        evaluate_task_model(
            smk.params.settings, smk.input.manifest, checkpoint, points, keys, smk.output[0], shard=job_shard(smk)
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
