"""Benchmark: our evaluation of a learned-codec checkpoint against ``python -m compressai.utils.eval_model checkpoint``.

Both evaluate the same checkpoint file on the same image folder with real entropy coding, PSNR-RGB and MS-SSIM
(our checkpoints keep the weights under ``state_dict``, which eval_model reads). Ours is the pipeline's
codec_json target: it also writes the bitstreams and decoded images, checks every image's decoded latents
against the encoder's and records the likelihoods' rate estimate. ``python -m codecbench.evaluate`` does the same
work in one process, without Snakemake. The script prints the wall times and ratios (target: ours at most 0.7x
theirs) and the mean bpp, PSNR and MS-SSIM.

Without ``--checkpoint`` it first trains one (``--train-steps`` steps on the built-in photos, not timed).
eval_model pads with zeros to multiples of 64 and counts only the entropy-coded strings; we pad by repeating
the edge and count our header too, so on sides that are multiples of 64 (Kodak) the two should agree to a few
bytes per image.

    python benchmarks/learned_vs_eval_model.py ../shared/data/kodak
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import run_pipeline

ARCH = "bmshj2018-factorized"


def train_checkpoint(path: Path, architecture: str, quality: int, steps: int) -> None:
    from codecbench.datasets import BUILTIN_DATASETS
    from codecbench.learned.train import train_codec

    images = [image for _, image, _ in BUILTIN_DATASETS["photos"]()]
    train_codec(
        images, architecture, quality, 0.0067, path, path.with_suffix(".csv"),
        steps=steps, batch_size=8, crop_px=128, learning_rate=1e-4,
    )  # fmt: skip


def run_ours(images: Path, checkpoint: Path, architecture: str, jobs: int, workdir: Path) -> tuple[float, dict]:
    config = {
        "datasets": {"bench": {"source": "local", "path": str(images.resolve())}},
        "codecs": {
            architecture: {"qualities": [1], "options": {"checkpoint": str(checkpoint.resolve()), "device": "cpu"}}
        },
        "metrics": ["psnr_rgb", "ms_ssim"],
    }
    wall = run_pipeline(config, f"results/tables/bench/{architecture}.json", jobs, workdir)
    results = json.loads((workdir / f"results/tables/bench/{architecture}.json").read_text())["results"]
    return wall, {"bpp": results["bpp"][0], "psnr-rgb": results["psnr-rgb"][0], "ms-ssim": results["ms-ssim-rgb"][0]}


def run_ours_in_one_process(images: Path, checkpoint: Path, architecture: str, workdir: Path) -> tuple[float, dict]:
    command = [
        sys.executable, "-m", "codecbench.evaluate", str(images.resolve()), "--codec", architecture, "--quality", "1",
        "--option", f"checkpoint={checkpoint.resolve()}", "--option", "device=cpu", "--out", str(workdir),
    ]  # fmt: skip
    start = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    results = json.loads(out)["results"]
    return wall, {"bpp": results["bpp"][0], "psnr-rgb": results["psnr-rgb"][0], "ms-ssim": results["ms-ssim-rgb"][0]}


def run_eval_model(images: Path, checkpoint: Path, architecture: str, workdir: Path) -> tuple[float, dict]:
    command = [
        sys.executable, "-m", "compressai.utils.eval_model", "checkpoint", str(images.resolve()),
        "-a", architecture, "-p", str(checkpoint.resolve()),
    ]  # fmt: skip
    env = {**os.environ, "TORCH_HOME": str(workdir / ".cache")}
    start = time.perf_counter()
    out = subprocess.run(command, check=True, env=env, cwd=workdir, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    results = json.loads(out[out.index("{") :])["results"]
    return wall, {"bpp": results["bpp"][0], "psnr-rgb": results["psnr-rgb"][0], "ms-ssim": results["ms-ssim-rgb"][0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, help="folder of images (e.g. ../shared/data/kodak)")
    parser.add_argument("--checkpoint", type=Path, help="a codecbench checkpoint (default: train one first)")
    parser.add_argument("--architecture", default=ARCH, help=f"the checkpoint's architecture (default: {ARCH})")
    parser.add_argument("--quality", type=int, default=1, help="model size when training (default: 1)")
    parser.add_argument("--train-steps", type=int, default=150, help="steps when training (default: 150)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="our parallel jobs (default: all cores)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-learned-") as scratch:
        scratch = Path(scratch)
        checkpoint = args.checkpoint
        if checkpoint is None:
            checkpoint = scratch / "checkpoint.pth.tar"
            print(f"training {args.architecture} quality {args.quality} for {args.train_steps} steps ...", flush=True)
            train_checkpoint(checkpoint, args.architecture, args.quality, args.train_steps)
        (scratch / "ours").mkdir()
        (scratch / "theirs").mkdir()
        ours_s, ours = run_ours(args.images, checkpoint, args.architecture, args.jobs, scratch / "ours")
        single_s, single = run_ours_in_one_process(args.images, checkpoint, args.architecture, scratch / "single")
        theirs_s, theirs = run_eval_model(args.images, checkpoint, args.architecture, scratch / "theirs")
    print(f"{args.architecture} checkpoint on {args.images}, real entropy coding, PSNR-RGB + MS-SSIM, CPU")
    print(f"  codecbench (snakemake, {args.jobs} jobs, files written): {ours_s:7.1f} s")
    print(f"  codecbench.evaluate (one process, files written):   {single_s:7.1f} s")
    print(f"  compressai.utils.eval_model checkpoint:              {theirs_s:7.1f} s")
    ratios = f"pipeline {ours_s / theirs_s:.2f}, one process {single_s / theirs_s:.2f}"
    print(f"  ratio ours/theirs: {ratios}  (target <= 0.70)")
    assert single == ours, "the pipeline and codecbench.evaluate disagree"
    for key in ("bpp", "psnr-rgb", "ms-ssim"):
        difference = ours[key] - theirs[key]
        print(f"  {key:9s} ours {ours[key]:.5f}  eval_model {theirs[key]:.5f}  difference {difference:+.5f}")


if __name__ == "__main__":
    main()
