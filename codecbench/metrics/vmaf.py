"""VMAF per frame, by the libvmaf filter of the ffmpeg that imageio-ffmpeg ships, with the model built into it.

Pixel format: both clips are converted from RGB with the same BT.601 full-range matrix the video codecs use
(:mod:`codecbench.codecs.ffmpeg`) to 8-bit ``yuv444p`` and handed to libvmaf. VMAF's features (VIF, ADM, motion)
read the luma plane only, so the chroma format does not change the score; 4:4:4 just avoids subsampling, which
needs even sides. The model (``vmaf_v0.6.1``, libvmaf's default, trained on 1080p TV viewing) sees full-range
luma: 0..255 rather than the 16..235 of its training clips, the same for every codec compared.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import numpy as np

from ..codecs.base import CodecError
from ..codecs.ffmpeg import TO_YUV, ffmpeg_version, run_ffmpeg
from ..codecs.video import check_frames, frame_rate
from . import VMAF_MIN_SIDE  # every metric's minimum size lives there (libvmaf itself needs 17 px)

VMAF_MODEL = "vmaf_v0.6.1"


def _vmaf_json(reference: list[np.ndarray], distorted: list[np.ndarray], fps: float) -> dict:
    ref_size, dis_size = check_frames(reference), check_frames(distorted)
    if ref_size != dis_size or len(reference) != len(distorted):
        raise ValueError(
            f"VMAF needs clips of equal size and length, got {len(reference)} frames of {ref_size} (reference) "
            f"and {len(distorted)} of {dis_size} (distorted)"
        )
    height, width = ref_size
    if min(height, width) < VMAF_MIN_SIDE:
        raise ValueError(f"VMAF needs frames of at least {VMAF_MIN_SIDE}x{VMAF_MIN_SIDE} pixels, got {width}x{height}")
    rate = frame_rate(fps)
    threads = 1  # a metric job holds one core
    with tempfile.TemporaryDirectory(prefix="codecbench-vmaf-") as tmp:
        inputs = []
        for label, frames in (("distorted", distorted), ("reference", reference)):
            path = Path(tmp) / f"{label}.rgb"
            path.write_bytes(b"".join(np.ascontiguousarray(frame).tobytes() for frame in frames))
            inputs += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", rate]
            inputs += ["-i", str(path)]
        log = Path(tmp) / "vmaf.json"
        # libvmaf's inputs: the distorted clip first ("main"), then the reference.
        graph = (
            f"[0:v]{TO_YUV},format=yuv444p[dis];[1:v]{TO_YUV},format=yuv444p[ref];"
            f"[dis][ref]libvmaf=model=version={VMAF_MODEL}:log_fmt=json:log_path={log}:n_threads={threads}"
            ":shortest=1"
        )
        single = ["-filter_complex_threads", "1"]  # a metric job holds one core
        run_ffmpeg([*inputs, *single, "-filter_complex", graph, "-f", "null", "-"], "VMAF")
        try:
            return json.loads(log.read_text())
        except (OSError, ValueError) as exc:
            raise CodecError(f"VMAF: libvmaf wrote no readable log: {exc}") from exc


def vmaf_per_frame(reference: list[np.ndarray], distorted: list[np.ndarray], fps: float = 25.0) -> np.ndarray:
    """VMAF (0..100, higher is better) of each distorted frame against the reference frame shown at the same time,
    for two equally long clips of uint8 HxWx3 RGB frames, each side at least ``VMAF_MIN_SIDE`` pixels. The model
    clips its score to 0..100; identical clips score 100, except the first frame (and frames of a still clip): it
    has no motion feature, so identical ones score about 97.4. ``fps`` only times both clips alike."""
    report = _vmaf_json(reference, distorted, fps)
    scores = {int(frame["frameNum"]): float(frame["metrics"]["vmaf"]) for frame in report.get("frames", [])}
    if sorted(scores) != list(range(len(reference))):
        raise CodecError(f"VMAF: libvmaf scored frames {sorted(scores)}, expected 0..{len(reference) - 1}")
    return np.array([scores[i] for i in range(len(reference))])


@functools.cache
def vmaf_model_version() -> str:
    """The VMAF model and the libvmaf that computes it, e.g. ``vmaf_v0.6.1 (libvmaf 3.0.0, ffmpeg ...)``."""
    frame = np.zeros((VMAF_MIN_SIDE, VMAF_MIN_SIDE, 3), np.uint8)
    version = _vmaf_json([frame], [frame], 25.0).get("version", "unknown version")
    return f"{VMAF_MODEL} (libvmaf {version}, {ffmpeg_version()})"
