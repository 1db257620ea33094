"""Benchmark: our JPEG sweep against a lean in-memory loop (the physical limit) and against CompressAI's
``python -m compressai.utils.bench jpeg``, on one image folder.

All three run Pillow JPEG at qualities 5, 10, ..., 95 with PSNR-RGB and MS-SSIM (``pytorch_msssim.ms_ssim``,
data_range 255) on the same images with the same number of parallel jobs, one after the other in one invocation
(ours, the lean loop, CompressAI), and each ends with the same CompressAI-style per-quality means:

* **codecbench**: the pipeline's codec_json target under Snakemake. It prepares the dataset (every image
  normalised to an RGB PNG), codes and measures every point in one job (one image per thread on its cores,
  bitstreams stored, nothing decoded to disk), keeps the per-image tables and builds the JSON from them; the
  report's statistics (CIs), figures and BD-rates are not part of the comparison.
* **lean loop**: one worker task per image (all qualities), torch at one thread per worker: read the source image
  converted to RGB, then per quality encode to bytes and decode in memory with our jpeg codec's own save arguments
  (default options), bpp = bytes * 8 / pixels, PSNR-RGB with numpy and MS-SSIM as codecbench.metrics computes it.
  It writes nothing, keeps no per-image tables and no CIs, and checks nothing: the cost of coding and scoring
  alone, which no pipeline can beat. Its time counts the worker pool's start and each worker's torch import.
* **compressai.utils.bench jpeg**: one pool task per image and quality, in memory too; it reads each image twice
  per task, leaves torch's threads at their default and prints the means only.

The script prints the three wall times and the ratios (targets: ours at most 1.5x the lean loop and at most 0.2x
CompressAI), then our means against CompressAI's, the lean loop's against ours (the same encoder and metrics: the
differences should be ~0) and, on Kodak, ours against CompressAI's published table. ``--max-images N`` runs all
three on the folder's first N images (sorted by path, as the pipeline lists them) for a quick smoke run.

    python benchmarks/jpeg_vs_compressai.py ../shared/data/kodak --jobs 2 [--max-images 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from common import run_pipeline
from PIL import Image

from codecbench.codecs import make_codec
from codecbench.datasets import image_files, image_id_for

QUALITIES = list(range(5, 100, 5))
COLUMNS = ["bpp", "psnr_rgb", "ms_ssim"]
# CompressAI's published Pillow JPEG on the 24 Kodak images (results/image/kodak/jpeg.json): quality -> (bpp, PSNR).
KODAK_PUBLISHED = {
    5: (0.2212, 23.78), 25: (0.5879, 29.78), 50: (0.9060, 32.06), 75: (1.3688, 34.39), 95: (3.4013, 40.56),
}  # fmt: skip


def compressai_means(results: dict, qualities: list[int]) -> pd.DataFrame:
    """The bpp, PSNR-RGB and MS-SSIM means of a CompressAI-style ``results`` dict, one row per quality."""
    columns = {"bpp": results["bpp"], "psnr_rgb": results["psnr-rgb"], "ms_ssim": results["ms-ssim-rgb"]}
    return pd.DataFrame(columns, index=pd.Index(qualities, name="quality"))


def run_ours(images: Path, max_images: int | None, jobs: int, workdir: Path) -> tuple[float, pd.DataFrame]:
    dataset = {"source": "local", "path": str(images.resolve())}
    if max_images is not None:
        dataset["max_images"] = max_images
    config = {"datasets": {"bench": dataset}, "codecs": {"jpeg": {"qualities": QUALITIES}}, "metrics": COLUMNS[1:]}
    wall = run_pipeline(config, "results/tables/bench/jpeg.json", jobs, workdir)
    results = json.loads((workdir / "results/tables/bench/jpeg.json").read_text())["results"]
    return wall, compressai_means(results, results["quality"]).sort_index()


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _lean_image(path: Path, save_kwargs: dict[int, dict]) -> list[tuple[float, float, float]]:
    """(bpp, PSNR-RGB, MS-SSIM) of one image at each quality, all in memory."""
    import torch
    from pytorch_msssim import ms_ssim

    def tensor(array: np.ndarray) -> torch.Tensor:  # as codecbench.metrics: float32 in [0, 255], 1x3xHxW
        return torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)

    with Image.open(path) as im:
        image = im.convert("RGB")
    reference = np.asarray(image)
    reference_tensor = tensor(reference)
    rows = []
    for quality in QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", **save_kwargs[quality])
        with Image.open(io.BytesIO(buffer.getvalue())) as im:
            decoded = np.asarray(im.convert("RGB"))
        mse = np.mean((reference.astype(np.float64) - decoded) ** 2)
        msssim = float(ms_ssim(reference_tensor, tensor(decoded), data_range=255.0, size_average=True))
        rows.append((buffer.tell() * 8 / reference[..., 0].size, 10 * np.log10(255**2 / mse), msssim))
    return rows


def run_lean(files: list[Path], jobs: int) -> tuple[float, pd.DataFrame]:
    save_kwargs = {quality: make_codec("jpeg", quality).save_kwargs() for quality in QUALITIES}
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, initializer=_one_thread) as pool:
        per_image = list(pool.map(_lean_image, files, [save_kwargs] * len(files)))
    wall = time.perf_counter() - start
    means = np.mean(np.array(per_image), axis=0)  # images x qualities x metrics -> qualities x metrics
    return wall, pd.DataFrame(means, columns=COLUMNS, index=pd.Index(QUALITIES, name="quality"))


def run_compressai(images: Path, jobs: int, workdir: Path) -> tuple[float, pd.DataFrame]:
    command = [
        sys.executable, "-m", "compressai.utils.bench", "jpeg", str(images.resolve()),
        "-q", ",".join(map(str, QUALITIES)), "-j", str(jobs),
    ]  # fmt: skip
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / ".cache"), "TORCH_HOME": str(workdir / ".cache")}
    start = time.perf_counter()
    out = subprocess.run(command, check=True, env=env, cwd=workdir, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    return wall, compressai_means(json.loads(out)["results"], QUALITIES)


def link_subset(images: Path, files: list[Path], folder: Path) -> Path:
    """A folder in ``folder`` holding links to ``files`` (below ``images``), for a tool that takes a folder."""
    subset = folder / "images"
    subset.mkdir()
    for path in files:
        (subset / (image_id_for(path.relative_to(images)) + path.suffix.lower())).symlink_to(path.resolve())
    return subset


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}  (target <= {target:.2f}: {'ok' if ratio <= target else 'MISS'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, help="folder of images (e.g. ../shared/data/kodak)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="parallel jobs for all (default: all cores)")
    parser.add_argument("--max-images", type=int, help="only the first N images, for all three (default: all)")
    args = parser.parse_args()
    files = image_files(args.images)[: args.max_images]
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as ours_dir, tempfile.TemporaryDirectory() as theirs_dir:
        ours_s, ours = run_ours(args.images, args.max_images, args.jobs, Path(ours_dir))
        lean_s, lean = run_lean(files, args.jobs)
        theirs_folder = args.images if args.max_images is None else link_subset(args.images, files, Path(theirs_dir))
        theirs_s, theirs = run_compressai(theirs_folder, args.jobs, Path(theirs_dir))
    sweep = f"{len(QUALITIES)} qualities, PSNR-RGB + MS-SSIM, {args.jobs} jobs"
    print(f"JPEG sweep, {sweep}, {len(files)} images of {args.images}")
    print(f"  codecbench (snakemake, files written): {ours_s:7.1f} s")
    print(f"  lean loop (in memory, means only):     {lean_s:7.1f} s")
    print(f"  compressai.utils.bench jpeg:           {theirs_s:7.1f} s")
    print(f"  ratio ours/lean loop:  {verdict(ours_s / lean_s, 1.5)}")
    print(f"  ratio ours/compressai: {verdict(ours_s / theirs_s, 0.2)}")

    both = ours.join(theirs, rsuffix="_compressai")
    both["bpp_rel_diff_%"] = 100 * (both.bpp / both.bpp_compressai - 1)
    both["psnr_diff_dB"] = both.psnr_rgb - both.psnr_rgb_compressai
    print("\nOur means against compressai.utils.bench on the same images:")
    print(both.round(4).to_string())

    agree = lean.join(ours, lsuffix="_lean")
    agree["bpp_rel_diff_%"] = 100 * (agree.bpp_lean / agree.bpp - 1)
    agree["psnr_diff_dB"] = agree.psnr_rgb_lean - agree.psnr_rgb
    agree["ms_ssim_diff"] = agree.ms_ssim_lean - agree.ms_ssim
    print("\nThe lean loop's means against ours (the same encoder and metrics: differences ~0):")
    exact = {column: "{:.1e}".format for column in agree.columns[-3:]}  # unrounded: a reader sees how small
    print(agree.to_string(float_format="{:.4f}".format, formatters=exact))

    if args.images.name == "kodak" and args.max_images is None:
        print("\nAgainst CompressAI's published Kodak table (targets: bpp within 0.5%, PSNR-RGB within 0.2 dB):")
        for quality, (bpp, psnr) in KODAK_PUBLISHED.items():
            row = ours.loc[quality]
            rel = 100 * (row.bpp / bpp - 1)
            diff = row.psnr_rgb - psnr
            ok = "ok" if abs(rel) <= 0.5 and abs(diff) <= 0.2 else "MISS"
            print(
                f"  q={quality:2d}: bpp {row.bpp:.4f} vs {bpp:.4f} ({rel:+.2f}%), "
                f"PSNR {row.psnr_rgb:.2f} vs {psnr:.2f} ({diff:+.2f} dB) {ok}"
            )
    elif args.images.name == "kodak":
        print("\n(CompressAI's published Kodak table is for all 24 images: not compared with --max-images)")


if __name__ == "__main__":
    main()
