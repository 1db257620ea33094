# codecbench: what image compression does to bits, image quality and vision tasks.
# The experiment is the config: config.yaml by default, or only the files given with --configfile.

from snakemake.utils import min_version

min_version("9.0")


report: "report/workflow.rst"


# ---- configuration ------------------------------------------------------------------------------------------
# Without --configfile the default experiment runs; with it, only what those files declare (config.yaml is not
# merged underneath, so its default datasets and codecs never leak into a user's experiment).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"


# Wildcards only ever match what the config declares.
wildcard_constraints:
    dataset=alternatives(list(config["datasets"]) + TRAIN_VIEWS),
    codec=alternatives(config["codecs"]),
    quality=LADDER_QUALITY,
    bpp=TARGET_BPP,
    task=alternatives(config.get("tasks", {})),
    mask=never_if_empty(alternatives(config.get("masks", {}))),
    train_variant=alternatives(
        {v for task in config.get("tasks", {}) for v in train_variants(config, task)}
    ),


# ---- stages, in DAG order -----------------------------------------------------------------------------------
include: "rules/datasets.smk"
include: "rules/masks.smk"
include: "rules/compress.smk"
include: "rules/learned.smk"
include: "rules/aggregate.smk"
include: "rules/figures.smk"
include: "rules/tasks.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
