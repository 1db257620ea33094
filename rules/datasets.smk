# Stage 1: resolve each dataset (builtin, local folder or verified download) to normalised RGB PNGs + manifest.
# A checkpoint: a dataset sharded by size gets its shard count from the manifest (rules/common.smk, shard_count).
# A local rule: it downloads, and cluster compute nodes often have no internet; on a cluster it runs on the
# submitting machine (one job per dataset, I/O-bound).


checkpoint prepare_dataset:
    output:
        manifest=layout.manifest(),
        images=directory(f"{layout.dataset_dir()}/images"),
    log:
        layout.log("prepare_dataset", "{dataset}"),
    benchmark:
        layout.benchmark("prepare_dataset", "{dataset}")
    # Before the compression jobs: each prepared dataset unlocks its jobs, the long training chains among them
    # (Snakemake's scheduler does not pass a rule's priority on to the jobs it depends on).
    priority: 20
    localrule: True
    conda:
        "../envs/codecs.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=lambda wildcards: dataset_job_settings(config, wildcards.dataset),
        # The user's files (a folder's listing with sizes and mtimes): any change re-prepares this dataset.
        source_files=lambda wildcards: dataset_fingerprint(
            config["datasets"][wildcards.dataset]
        ),
        plugin_code=get_source_plugin_code,
        downloads_dir=layout.DOWNLOADS,
    script:
        "../scripts/prepare_dataset.py"
