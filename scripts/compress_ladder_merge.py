"""Rules compress_ladder_merge and compress_training_set_merge: a sharded ladder's rate rows (and, measured, its
quality rows and CompressAI JSON) as the tables an unsharded job writes: points in ladder order, each point's rows
in the order an unsharded job codes them."""

from codecbench.config.plan import dataset_view
from codecbench.datasets import read_split
from codecbench.io import write_csv_atomic
from codecbench.stages.aggregate import write_codec_json
from codecbench.stages.shards import coding_order, merge_shard_tables, read_shard_table
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        split = dataset_view(smk.wildcards.dataset)[1]
        order = coding_order(smk.input.manifest, read_split(smk.input.manifest, split), smk.params.sequence_codec)
        kinds = [("rates", "rates")] + ([("tables", "table")] if smk.params.measure else [])
        for inputs, output in kinds:
            tables = [read_shard_table(path) for path in smk.input[inputs]]
            merged = merge_shard_tables(tables, order, group_columns=["quality"])
            write_csv_atomic(merged, smk.output[output])
            log.info("%s: %d rows from %d shards", output, len(merged), len(tables))
        if smk.params.measure:
            write_codec_json([smk.output.table], smk.output.compressai)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
