"""Evaluate one codec on a folder of images in one process, without a config or Snakemake: the same stage
functions as the pipeline (prepare, compress, measure, CompressAI JSON), for a quick look at a checkpoint.

    python -m codecbench.evaluate IMAGES --codec bmshj2018-factorized --quality 1 \\
        --option checkpoint=model.pth.tar --out eval/

Writes ``<out>/dataset`` (normalised images), ``<out>/compressed/<quality>/`` (bitstreams and rates; decoded
images for a codec that keeps them), ``<out>/rates.csv``, ``<out>/quality.csv`` and ``<out>/<codec>.json``, and
prints the JSON. For comparisons,
figures, statistics and reruns of only what changed, use the pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml


def evaluate_folder(
    images: str | Path,
    codec: str,
    qualities: list[Any],
    options: dict[str, Any],
    metrics: list[str],
    out_dir: str | Path,
) -> dict:
    """Prepare ``images``, code them with ``codec`` at each quality, measure ``metrics``; return the JSON dict."""
    from .codecs import get_codec_class
    from .datasets import prepare_dataset
    from .stages.aggregate import write_codec_json
    from .stages.compress import compress_ladder
    from .stages.points import Point, keeps_decoded

    out_dir = Path(out_dir)
    prepare_dataset("folder", {"source": "local", "path": str(images)}, out_dir / "dataset", out_dir / "downloads")
    manifest = out_dir / "dataset" / "manifest.csv"
    options = {**get_codec_class(codec).default_options, **options}
    settings = {"codec": codec, "options": options}
    points = [
        Point(quality, out_dir / "compressed" / str(quality), settings, keeps_decoded(codec)) for quality in qualities
    ]
    keys = {"dataset": Path(images).name, "codec": codec}
    table = out_dir / "quality.csv"
    compress_ladder(manifest, points, metrics, keys, out_dir / "rates.csv", table)
    return write_codec_json([table], out_dir / f"{codec}.json")


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"options are key=value, got {text!r}")
    return key, yaml.safe_load(value)  # numbers, booleans and null as YAML reads them


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, help="folder of images (searched recursively)")
    parser.add_argument("--codec", required=True)
    parser.add_argument("--quality", nargs="+", required=True, type=yaml.safe_load, help="one or more qualities")
    parser.add_argument("--option", action="append", type=_option, default=[], help="codec option key=value")
    parser.add_argument("--metrics", nargs="+", default=["psnr_rgb", "ms_ssim"])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = evaluate_folder(args.images, args.codec, args.quality, dict(args.option), args.metrics, args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
