"""Rate-distortion figures drawn from CompressAI-shaped JSON documents (one function serves every codec)."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable
from pathlib import Path

from .codecs import CODECS
from .io import atomic_path

MARKERS = "osD^v<>pPhX*"
# Axis label for each CompressAI result key we plot.
METRIC_LABELS = {
    "psnr-rgb": "PSNR-RGB (dB)",
    "psnr-y": "PSNR-Y (dB)",
    "ms-ssim-rgb": "MS-SSIM (RGB)",
    "ssim-rgb": "SSIM (RGB)",
    "vif": "VIFp",
}


def codec_style(name: str) -> dict:
    """The same colour and marker for a codec in every figure (fixed by its place in the registry)."""
    import matplotlib

    names = sorted(CODECS)
    index = names.index(name) if name in names else len(names) + zlib.crc32(name.encode()) % 32
    palette = [*matplotlib.colormaps["tab10"].colors, *matplotlib.colormaps["Dark2"].colors]
    return {"color": palette[index % len(palette)], "marker": MARKERS[index % len(MARKERS)]}


def load_documents(paths: Iterable[str | Path]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def plot_rate_distortion(documents: list[dict], key: str, title: str, png_path: str | Path) -> list[str]:
    """Plot ``key`` against bpp for every document; return the names of the codecs drawn as curves.

    Codecs whose values are all missing (a lossless codec's infinite PSNR) are listed under the axes with their
    rate instead of being drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    drawn, lossless = [], []
    for doc in sorted(documents, key=lambda d: d["name"]):
        results = doc["results"]
        points = [
            (bpp, value)
            for bpp, value in zip(results["bpp"], results.get(key, []), strict=True)
            if value is not None and math.isfinite(value)
        ]
        if not points:
            lossless.append(f"{doc['name']} ({min(results['bpp']):.2f} bpp)")
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, label=doc["name"], linewidth=1.5, markersize=5, **codec_style(doc["name"]))
        drawn.append(doc["name"])
    ax.set_xlabel("rate (bits per pixel)")
    ax.set_ylabel(METRIC_LABELS.get(key, key))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(loc="lower right", fontsize="small")
    if lossless:
        fig.text(0.01, 0.01, "lossless, not drawn: " + ", ".join(lossless), fontsize="x-small")
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return drawn
