"""Rule train_codec: train one learned codec at one lambda on a dataset's images (CUDA when present)."""

from pathlib import Path

from codecbench.config.plan import LEARNED_VIDEO_CODECS
from codecbench.datasets import read_manifest
from codecbench.io import read_rgb
from codecbench.workflow import script_job


def train_video_codec(smk, settings, log):
    """ssf2020: groups of consecutive frames of the dataset's clips (its train split, else all of it)."""
    from codecbench.learned.train_video import train_ssf
    from codecbench.stages.sequences import split_clips

    manifest = read_manifest(smk.input.manifest)
    rows = manifest[manifest.split == "train"]
    if rows.empty and smk.params.measured:
        raise ValueError(
            f"{smk.input.manifest} has no train clips, and codecs are measured on it: {smk.wildcards.codec} would "
            "train on the clips it is tested on; use a dataset with train clips, or mark it evaluate: false"
        )
    rows = manifest if rows.empty else rows
    root = Path(smk.input.manifest).parent
    clips = [[read_rgb(root / file) for file in clip.rows.file] for clip in split_clips(smk.input.manifest, rows)]
    log.info("training %s on %d clips of %s: %s", smk.wildcards.codec, len(clips), settings["dataset"], settings)
    out_dir = Path(smk.output.checkpoint).parent
    keys = ("lambda", "steps", "batch_size", "learning_rate", "frames_per_sample", "seed", "quality")
    training = train_ssf(clips, {**{k: settings[k] for k in keys}, "patch_size": settings["crop_px"]}, out_dir)
    log.info("trained on %s", training.get("device"))


def main(smk):
    with script_job(smk) as log:
        import torch

        from codecbench.learned.train import train_codec

        torch.set_num_threads(smk.threads)
        settings = dict(smk.params.settings)
        if settings["architecture"] in LEARNED_VIDEO_CODECS:
            return train_video_codec(smk, settings, log)
        root = Path(smk.input.manifest).parent
        manifest = read_manifest(smk.input.manifest)
        # The train split where the dataset has one (the test images are what the codec is measured on), else all.
        rows = manifest[manifest.split == "train"] if (manifest.split == "train").any() else manifest
        images = [read_rgb(root / file) for file in rows.file]
        log.info("training %s on %d images of %s: %s", smk.wildcards.codec, len(images), settings["dataset"], settings)
        task = gamma = labels = None
        if settings.get("task_loss"):
            from codecbench.learned.task_loss import TaskLoss

            task_settings = settings["task_loss"]["task"]["settings"]
            task = TaskLoss.from_classification(smk.input.task_model[0], task_settings)
            gamma, labels = settings["task_loss"]["gamma"], [str(label) for label in rows.label]
        training = train_codec(
            images, settings["architecture"], settings["quality"], settings["lambda"], smk.output.checkpoint,
            smk.output.curve, metric=settings["metric"], steps=settings["steps"], batch_size=settings["batch_size"],
            crop_px=settings["crop_px"], learning_rate=settings["learning_rate"],
            aux_learning_rate=settings.get("aux_learning_rate", 1e-3), seed=settings["seed"], device="auto",
            init_checkpoint=smk.input.init[0] if smk.input.init else None, task=task, gamma=gamma, labels=labels,
        )  # fmt: skip
        log.info("trained on %s: %s", training.get("device"), training.get("final"))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
