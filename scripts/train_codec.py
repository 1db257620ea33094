"""Rule train_codec: train one learned codec at one lambda on a dataset's images (CUDA when present)."""

from pathlib import Path

from codecbench.datasets import read_manifest
from codecbench.io import read_rgb
from codecbench.workflow import job_log


def main(smk):
    with job_log(smk.log[0]) as log:
        import torch

        from codecbench.learned.train import train_codec

        torch.set_num_threads(smk.threads)
        settings = dict(smk.params.settings)
        root = Path(smk.input.manifest).parent
        images = [read_rgb(root / file) for file in read_manifest(smk.input.manifest).file]
        log.info("training %s on %d images of %s: %s", smk.wildcards.codec, len(images), settings["dataset"], settings)
        training = train_codec(
            images, settings["architecture"], settings["quality"], settings["lambda"], smk.output.checkpoint,
            smk.output.curve, metric=settings["metric"], steps=settings["steps"], batch_size=settings["batch_size"],
            crop_px=settings["crop_px"], learning_rate=settings["learning_rate"], seed=settings["seed"], device="auto",
        )  # fmt: skip
        log.info("trained on %s: %s", training.get("device"), training.get("final"))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
