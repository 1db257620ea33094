"""Rules evaluate_task and evaluate_task_shard: one task model on the test split (or one shard of it), uncompressed
and at every point of the task's codecs."""

from codecbench.task_stage import evaluate_task_model
from codecbench.workflow import job_shard, script_job


def main(smk):
    with script_job(smk):
        import cv2
        import torch

        torch.set_num_threads(smk.threads)
        cv2.setNumThreads(smk.threads)  # edge detection and YOLO's pre-processing: the job's cores, not every core
        # The input function lists each compressed point's decoded folder, then its rate table, in params order.
        files = iter(smk.input.points)
        points = [
            (codec, quality, *((None, None) if codec == smk.params.uncompressed else (next(files), next(files))))
            for codec, quality in smk.params.points
        ]
        keys = {"task": smk.wildcards.task, "train_variant": smk.wildcards.train_variant}
        checkpoint = smk.input.checkpoint or None  # none for a pretrained variant: the settings name the model
        evaluate_task_model(
            smk.params.settings, smk.input.manifest, checkpoint, points, keys, smk.output[0], shard=job_shard(smk)
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
