"""The jobs ``snakemake -n`` plans, with nothing run: the full-scale Kodak configs plan the zoo and the trainings,
and a user's model files are inputs of the jobs that read them."""

from __future__ import annotations

import re

from snakemake_project import make_project_copy, run_snakemake, write_config


def test_full_scale_kodak_configs_plan_the_zoo_and_the_trainings(tmp_path, photo):
    workdir = make_project_copy(tmp_path, photo)
    (workdir / "data" / "train").mkdir(parents=True)  # kodak-train.yaml's training folder
    out = run_snakemake(
        workdir, "-n", "--quiet", "rules", "--configfile", "configs/kodak-zoo.yaml", "configs/kodak-train.yaml"
    ).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    zoo_codecs = 4 + 2  # bmshj2018-*, mbt2018-* (qualities 1-8), cheng2020-* (1-6)
    classical_codecs = 9
    assert counts["prepare_dataset"] == "2"  # kodak and the training folder
    assert counts["train_codec"] == "8"  # two architectures at four lambdas
    # One compression job per codec on Kodak (each codes its whole ladder), the two trained codecs included.
    assert counts["compress_ladder"] == str(zoo_codecs + classical_codecs + 2)
    assert not (workdir / "results").exists()  # a dry run downloads and writes nothing


def test_a_users_model_files_are_inputs_of_the_jobs_that_read_them(tmp_path, photo):
    """Replacing a learned codec's or ssf2020's checkpoint, a task's checkpoint or a ready detector's weights file
    reruns their jobs (Snakemake's mtime and checksum triggers), because each is an input of those jobs."""
    workdir = make_project_copy(tmp_path, photo)
    for name in ("codec.pth.tar", "video.pth.tar", "detector.pt"):
        (workdir / name).write_bytes(b"weights")
    cfg = {
        "datasets": {"tiny": {"source": "local", "path": "input"}, "shapes": {"source": "builtin", "max_images": 4}},
        "codecs": {
            "bmshj2018-factorized": {"qualities": [1], "options": {"checkpoint": "codec.pth.tar"}},
            "jpeg": {"qualities": [50]},
        },
        "tasks": {"boxes": {"task": "detection", "dataset": "shapes", "model": "detector.pt", "codecs": ["jpeg"]}},
        "metrics": ["psnr_rgb"],
        "statistics": {"n_boot": 100},
    }
    out = run_snakemake(workdir, "-n", "--configfile", write_config(workdir, cfg)).stdout
    # Each job's block of the dry run: its rule line and the indented lines under it (the jobs' order is not fixed).
    blocks = re.findall(r"^(?:local)?rule \w+:\n(?:    .*\n)+", out, re.M)
    compress = [
        b for b in blocks if b.startswith("rule compress_ladder:") and "dataset=tiny, codec=bmshj2018-factorized" in b
    ]
    assert len(compress) == 1 and re.search(r"input: .*codec\.pth\.tar", compress[0])
    evaluate = [b for b in blocks if b.startswith("rule evaluate_task:")]
    assert len(evaluate) == 1 and re.search(r"input: .*detector\.pt", evaluate[0])


def test_a_task_trained_codec_takes_its_base_model_and_the_frozen_task_model_as_inputs(tmp_path, photo):
    """The default config's digits_task: each model's job reads digits_mse's model of the same lambda and the
    digits classifier trained on the original train split, so retraining either retrains it; its control reads
    the base model only; the masks of the ROI variants are inputs of their compression jobs only."""
    workdir = make_project_copy(tmp_path, photo)
    out = run_snakemake(workdir, "-n").stdout
    blocks = re.findall(r"^(?:local)?rule \w+:\n(?:    .*\n)+", out, re.M)
    trainings = [b for b in blocks if b.startswith("rule train_codec:")]
    task = [b for b in trainings if "codec=digits_task, model=2" in b]
    assert len(task) == 1
    assert re.search(r"input: .*models/codecs/digits_mse/2-[0-9a-f]{12}/checkpoint\.pth\.tar", task[0])
    assert re.search(r"input: .*models/tasks/digits_cnn/original/checkpoint\.pt", task[0])
    control = [b for b in trainings if "codec=digits_mse_control, model=2" in b]
    assert len(control) == 1 and "models/tasks/" not in control[0] and "digits_mse/2-" in control[0]
    compress = [b for b in blocks if b.startswith("rule compress_ladder:")]
    with_masks = sorted(re.search(r"codec=(\w+)", b).group(1) for b in compress if "results/masks/" in b)
    assert with_masks == ["jpeg_roi", "jpeg_roi_yolo", "jpeg_salient", "webp_blur"]
    masks = [b for b in blocks if b.startswith("rule make_masks:") and "mask=yolo_boxes" in b]
    assert len(masks) == 1 and re.search(r"input: .*models/tasks/shapes_yolo/original/checkpoint\.pt", masks[0])
