"""Rule quality_merge: a sharded dataset's ladder metrics as the one table an unsharded quality_ladder job writes
(points in ladder order, each point's rows in its rate table's order), and the codec's CompressAI JSON."""

import pandas as pd

from codecbench.io import write_csv_atomic
from codecbench.stages.aggregate import write_codec_json
from codecbench.stages.shards import merge_shard_tables, read_shard_table
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        # Every point of a codec codes the images in one order: the first point's rate table gives it.
        order = pd.read_csv(smk.input.rates[0], dtype={"image_id": str}, usecols=["image_id"]).image_id
        tables = [read_shard_table(path) for path in smk.input.shards]
        merged = merge_shard_tables(tables, list(order), group_columns=["quality"])
        write_csv_atomic(merged, smk.output.table)
        write_codec_json([smk.output.table], smk.output.compressai)
        log.info("%d rows from %d shards", len(merged), len(tables))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
