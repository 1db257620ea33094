# Stage 2b: learned codecs trained inside the pipeline, one model per (codec, lambda). GPU-tagged: the job uses
# CUDA when present, the CPU otherwise, and records which. A checkpoint's folder name carries the hash of its
# training settings, so changing one model's settings trains a new model beside the old one (never overwritten)
# and retrains only that model. A codec fine-tuned from another (init_from) takes the base model of the same lambda
# as input, and one trained for a task (task_loss) the frozen task model: replacing either retrains it.


rule train_codec:
    input:
        unpack(get_train_codec_inputs),
    output:
        checkpoint=protected(f"{layout.codec_model_dir()}/checkpoint.pth.tar"),
        curve=f"{layout.codec_model_dir()}/train.csv",
    log:
        layout.log("train_codec", "{codec}/{model}-{settings_hash}"),
    benchmark:
        layout.benchmark("train_codec", "{codec}/{model}-{settings_hash}")
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
