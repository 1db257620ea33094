# Stage 1b: region-of-interest masks, between prepare and compress. One job per (dataset, mask id) that some ROI
# variant reads: per test image a PNG mask and its coverage (codecbench.masks), made once and read by every ROI
# codec of the dataset. A mask drawn by a task's model (a detector's boxes) takes that model as input.


rule make_masks:
    input:
        unpack(get_mask_inputs),
    output:
        masks=layout.masks_table(),
    log:
        layout.log("make_masks", "{dataset}/{mask}"),
    benchmark:
        layout.benchmark("make_masks", "{dataset}/{mask}")
    conda:
        "../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=lambda wildcards: config["masks"][wildcards.mask],
        task_settings=get_mask_task_settings,
    script:
        "../scripts/make_masks.py"
