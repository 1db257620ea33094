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
