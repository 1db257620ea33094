"""Rule roi_quality: per image of every point of a dataset's ROI variants and their plain codecs, PSNR inside and
outside the mask beside the whole-image metrics."""

from pathlib import Path

from codecbench.stages.roi import write_roi_quality
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk):
        variants = dict(smk.params.variants)
        masks = {Path(path).parent.name: path for path in smk.input.masks}
        codecs = list(smk.params.codecs)
        write_roi_quality(
            smk.output[0],
            dataset=smk.wildcards.dataset,
            manifest_csv=smk.input.manifest,
            variants=variants,
            masks=masks,
            readings=dict(smk.params.readings),
            rates=dict(zip(codecs, smk.input.rates, strict=True)),
            quality=dict(zip(codecs, smk.input.quality, strict=True)),
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
