# Stage 2b: learned codecs trained inside the pipeline, one model per (codec, lambda). GPU-tagged: the job uses
# CUDA when present, the CPU otherwise, and records which. A checkpoint's folder name carries the hash of its
# training settings, so changing one model's settings trains a new model beside the old one (never overwritten)
# and retrains only that model.


rule train_codec:
    input:
        manifest=lambda wildcards: f"{RESULTS}/datasets/{config['learned'][wildcards.codec]['dataset']}/manifest.csv",
    output:
        checkpoint=protected(
            f"{RESULTS}/models/codecs/{{codec}}/{{model}}-{{settings_hash}}/checkpoint.pth.tar"
        ),
        curve=f"{RESULTS}/models/codecs/{{codec}}/{{model}}-{{settings_hash}}/train.csv",
    log:
        f"{RESULTS}/logs/train_codec/{{codec}}/{{model}}-{{settings_hash}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_codec/{{codec}}/{{model}}-{{settings_hash}}.tsv"
    wildcard_constraints:
        model=r"[0-9]+",
        settings_hash=r"[0-9a-f]{12}",
    # Training is the longest chain (train, then evaluate or compress, then the tables): start it first, so
    # that the short single-threaded jobs fill the cores around it instead of training running alone at the end.
    priority: 10
    conda:
        "../envs/learned.yaml"
    threads: model_threads(2)
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        settings=lambda wildcards: training_settings(
            config, wildcards.codec, int(wildcards.model)
        ),
        # Whether codecs are measured on the training dataset: a video codec then trains on its train clips only.
        measured=lambda wildcards: config["datasets"][
            config["learned"][wildcards.codec]["dataset"]
        ].get("evaluate", True),
    script:
        "../scripts/train_codec.py"
