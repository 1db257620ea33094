"""Benchmark: our JPEG sweep against CompressAI's ``python -m compressai.utils.bench jpeg`` on one image folder.

Both run JPEG at qualities 5, 10, ..., 95 with PSNR-RGB and MS-SSIM on the same images with the same number of
parallel jobs, side by side in one invocation, and both end with the same CompressAI-style JSON (ours is built
by the pipeline's codec_json target: bitstreams and decoded images written, per-image tables kept; the report's
statistics and figures are not part of the comparison). The script prints both wall times and their ratio
(target: ours at most 0.5x theirs), then our means against CompressAI's and, on Kodak, against CompressAI's
published table.

    python benchmarks/jpeg_vs_compressai.py ../shared/data/kodak --jobs 2
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

import pandas as pd
from common import run_pipeline

QUALITIES = list(range(5, 100, 5))
# CompressAI's published Pillow JPEG on the 24 Kodak images (results/image/kodak/jpeg.json): quality -> (bpp, PSNR).
KODAK_PUBLISHED = {
    5: (0.2212, 23.78), 25: (0.5879, 29.78), 50: (0.9060, 32.06), 75: (1.3688, 34.39), 95: (3.4013, 40.56),
}  # fmt: skip


def run_ours(images: Path, jobs: int, workdir: Path) -> tuple[float, pd.DataFrame]:
    config = {
        "datasets": {"bench": {"source": "local", "path": str(images.resolve())}},
        "codecs": {"jpeg": {"qualities": QUALITIES}},
        "metrics": ["psnr_rgb", "ms_ssim"],
    }
    wall = run_pipeline(config, "results/tables/bench/jpeg.json", jobs, workdir)
    results = json.loads((workdir / "results/tables/bench/jpeg.json").read_text())["results"]
    frame = pd.DataFrame({"bpp": results["bpp"], "psnr_rgb": results["psnr-rgb"], "ms_ssim": results["ms-ssim-rgb"]})
    return wall, frame.set_axis(results["quality"]).sort_index()


def run_compressai(images: Path, jobs: int, workdir: Path) -> tuple[float, pd.DataFrame]:
    command = [
        sys.executable, "-m", "compressai.utils.bench", "jpeg", str(images.resolve()),
        "-q", ",".join(map(str, QUALITIES)), "-j", str(jobs),
    ]  # fmt: skip
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / ".cache"), "TORCH_HOME": str(workdir / ".cache")}
    start = time.perf_counter()
    out = subprocess.run(command, check=True, env=env, cwd=workdir, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    results = json.loads(out)["results"]
    frame = pd.DataFrame({"bpp": results["bpp"], "psnr_rgb": results["psnr-rgb"], "ms_ssim": results["ms-ssim-rgb"]})
    return wall, frame.set_axis(QUALITIES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, help="folder of images (e.g. ../shared/data/kodak)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="parallel jobs for both (default: all cores)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as ours_dir, tempfile.TemporaryDirectory() as theirs_dir:
        ours_s, ours = run_ours(args.images, args.jobs, Path(ours_dir))
        theirs_s, theirs = run_compressai(args.images, args.jobs, Path(theirs_dir))
    print(f"JPEG sweep, {len(QUALITIES)} qualities, PSNR-RGB + MS-SSIM, {args.jobs} jobs, images: {args.images}")
    print(f"  codecbench (snakemake, files written): {ours_s:7.1f} s")
    print(f"  compressai.utils.bench jpeg:           {theirs_s:7.1f} s")
    print(f"  ratio ours/theirs: {ours_s / theirs_s:.2f}  (target <= 0.50)")
    both = ours.join(theirs, rsuffix="_compressai")
    both["bpp_rel_diff_%"] = 100 * (both.bpp / both.bpp_compressai - 1)
    both["psnr_diff_dB"] = both.psnr_rgb - both.psnr_rgb_compressai
    print("\nOur means against compressai.utils.bench on the same images:")
    print(both.round(4).to_string())
    if args.images.name == "kodak":
        print("\nAgainst CompressAI's published Kodak table (targets: bpp within 0.5%, PSNR-RGB within 0.2 dB):")
        for quality, (bpp, psnr) in KODAK_PUBLISHED.items():
            row = ours.loc[quality]
            rel = 100 * (row.bpp / bpp - 1)
            diff = row.psnr_rgb - psnr
            verdict = "ok" if abs(rel) <= 0.5 and abs(diff) <= 0.2 else "MISS"
            print(
                f"  q={quality:2d}: bpp {row.bpp:.4f} vs {bpp:.4f} ({rel:+.2f}%), "
                f"PSNR {row.psnr_rgb:.2f} vs {psnr:.2f} ({diff:+.2f} dB) {verdict}"
            )


if __name__ == "__main__":
    main()
