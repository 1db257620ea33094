"""Rules compress and compress_target: encode and decode a dataset with one codec at one quality (or target bpp)."""

from codecbench.codecs import get_codec_class
from codecbench.compress import compress_dataset
from codecbench.workflow import job_log


def main(smk):
    with job_log(smk.log[0]):
        codec = smk.wildcards.codec
        target = float(smk.wildcards.bpp) if "bpp" in smk.wildcards.keys() else None
        compress_dataset(
            smk.input.manifest,
            codec,
            None if target is not None else get_codec_class(codec).quality_type(smk.wildcards.quality),
            smk.params.settings["options"],
            bitstream_dir=smk.output.bitstreams,
            decoded_dir=smk.output.decoded,
            rate_csv=smk.output.rate,
            target_bpp=target,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
