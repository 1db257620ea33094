"""Rules compress, compress_shard and compress_target: encode and decode a dataset (or one shard of it) with one
codec at one quality (or target bpp)."""

from codecbench.codecs import get_codec_class
from codecbench.config.plan import dataset_view
from codecbench.stages.compress import compress_dataset
from codecbench.workflow import job_shard, script_job


def main(smk):
    with script_job(smk):
        if smk.threads > 1:  # learned codecs run torch on the job's cores (classical codecs: one thread, no torch)
            import torch

            torch.set_num_threads(smk.threads)
        settings = smk.params.settings
        codec, options = settings["codec"], dict(settings["options"])
        target = smk.params.target_bpp  # an equal-rate point's target; None for a ladder point
        if "model_quality" in settings:  # a trained codec: the point is one of its models, given as a checkpoint
            options["checkpoint"] = smk.input.checkpoint
            quality = settings["model_quality"]
        else:
            quality = None if target is not None else get_codec_class(codec).quality_type(smk.wildcards.quality)
        compress_dataset(
            smk.input.manifest,
            codec,
            quality,
            options,
            bitstream_dir=smk.output.bitstreams,
            decoded_dir=smk.output.decoded,
            rate_csv=smk.output.rate,
            target_bpp=target,
            extra_columns=dict(smk.params.extra),
            split=dataset_view(smk.wildcards.dataset)[1],
            shard=job_shard(smk),
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
