"""Rule compress_merge: a sharded point's usual outputs from its shards: the rate table with the rows in the order
an unsharded job writes them, and the bitstream and decoded folders holding every shard's files (hard links)."""

from codecbench.config.plan import dataset_view
from codecbench.datasets import read_split
from codecbench.io import write_csv_atomic
from codecbench.stages.shards import coding_order, merge_folders, merge_shard_tables, read_shard_table
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        split = dataset_view(smk.wildcards.dataset)[1]
        order = coding_order(smk.input.manifest, read_split(smk.input.manifest, split), smk.params.sequence_codec)
        rates = merge_shard_tables([read_shard_table(path) for path in smk.input.rates], order)
        write_csv_atomic(rates, smk.output.rate)
        for kind in ("bitstreams", "decoded"):
            count = merge_folders(smk.input[kind], smk.output[kind])
            log.info("%s: %d files from %d shards", kind, count, len(smk.input[kind]))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
