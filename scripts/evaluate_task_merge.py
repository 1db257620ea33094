"""Rule evaluate_task_merge: a sharded task model's predictions as the one table an unsharded evaluate_task job
writes (points in their order, each point's rows in the test split's manifest order)."""

from codecbench.datasets import read_split
from codecbench.io import write_csv_atomic
from codecbench.stages.shards import merge_shard_tables, read_shard_table
from codecbench.workflow import script_job


def main(smk):
    with script_job(smk) as log:
        order = list(read_split(smk.input.manifest, "test").image_id)
        tables = [read_shard_table(path) for path in smk.input.shards]
        merged = merge_shard_tables(tables, order, group_columns=["codec", "quality"])
        write_csv_atomic(merged, smk.output[0])
        log.info("%d rows from %d shards", len(merged), len(tables))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake)
