"""Training speed of every learned architecture: steps per second on this machine's CPU (and CUDA if present).

Each architecture trains at its smallest size (quality 1) from random init on random crops of the built-in
photos with the default experiment's batch (8) and crop (64 px, or --crop). The rate is taken between the first
and the last step, so model building and the first step's warm-up are not counted.

    python benchmarks/training_speed.py --steps 12
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from codecbench.datasets import BUILTIN_DATASETS
from codecbench.learned import ARCHITECTURES
from codecbench.learned.train import train_codec


def steps_per_second(images, architecture: str, steps: int, crop: int, batch: int, device: str, folder: Path) -> float:
    stamps: list[float] = []
    train_codec(
        images, architecture, 1, 0.0067, folder / f"{architecture}-{device}.pth.tar", folder / f"{architecture}.csv",
        steps=steps, batch_size=batch, crop_px=crop, device=device, log=lambda line: None,
        on_step=lambda step, row: stamps.append(time.perf_counter()),
    )  # fmt: skip
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--architectures", nargs="*", default=list(ARCHITECTURES))
    args = parser.parse_args()
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    images = [image for _, image, _ in BUILTIN_DATASETS["photos"]()]
    threads = torch.get_num_threads()
    print(f"quality 1, batch {args.batch}, crop {args.crop} px, {args.steps} steps, torch threads {threads}")
    with tempfile.TemporaryDirectory() as folder:
        for architecture in args.architectures:
            rates = [
                steps_per_second(images, architecture, args.steps, args.crop, args.batch, device, Path(folder))
                for device in devices
            ]
            speeds = "  ".join(f"{device}: {rate:6.2f} steps/s" for device, rate in zip(devices, rates, strict=True))
            print(f"  {architecture:22s} {speeds}")


if __name__ == "__main__":
    main()
