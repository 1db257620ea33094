"""ROI strategy qp_offset: the encoder's own quantiser offsets, through ffmpeg's ``addroi`` side data.

The mask's parts become rectangles (:func:`codecbench.masks.regions`) with quantiser offset ``qoffset`` (negative:
finer), and the whole frame behind them gets ``background_qoffset`` (positive: coarser). libx264 and libx265 apply
the first region that covers a block (the rectangles come first), with adaptive quantisation on, as it is by
default; libvpx-vp9 only in realtime mode with its adaptive quantisation off, and never on a lone key frame;
libaom and SVT-AV1 ignore the side data, which the config check refuses to run as a variant. The offsets are
ffmpeg's -1..1 scale (x264: times 25 QP steps). A video's regions are the union of its frames' masks: one set of
rectangles for the clip (``addroi`` has no per-frame timeline).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import RoiStrategy, register_strategy


def addroi_chain(mask: np.ndarray, qoffset: float, background_qoffset: float, max_regions: int) -> str:
    """The ffmpeg filter chain (ending in a comma) that attaches the mask's rectangles, then the background's."""
    from ..masks import regions

    height, width = mask.shape
    parts = [f"addroi=x={x}:y={y}:w={w}:h={h}:qoffset={qoffset:g}" for x, y, w, h in regions(mask, max_regions)]
    if background_qoffset:
        parts.append(f"addroi=x=0:y=0:w={width}:h={height}:qoffset={background_qoffset:g}")
    return "".join(f"{part}," for part in parts)


def _padded(mask: np.ndarray) -> np.ndarray:
    """The mask at the encoder's frame size: the codecs pad odd sides by one row or column."""
    height, width = mask.shape
    return np.pad(mask, ((0, height % 2), (0, width % 2)), mode="edge")


@register_strategy
class QpOffset(RoiStrategy):
    name = "qp_offset"
    description = "encoder quantiser offsets inside / outside the mask (ffmpeg addroi: x264, x265, libvpx-vp9 video)"
    setting_schemas = {
        "qoffset": {
            "type": "number",
            "minimum": -1,
            "maximum": 1,
            "default": -0.2,
            "description": "quantiser offset inside the mask, -1..1 (negative: finer; x264 and x265: x 25 QP steps)",
        },
        "background_qoffset": {
            "type": "number",
            "minimum": -1,
            "maximum": 1,
            "default": 0.3,
            "description": "quantiser offset of the rest of the frame (positive: coarser, fewer bits)",
        },
        "max_regions": {
            "type": "integer",
            "minimum": 1,
            "maximum": 64,
            "default": 16,
            "description": "rectangles per image at most (the smallest parts of the mask then share one)",
        },
    }

    @classmethod
    def problem(cls, codec_class: type, options: dict[str, Any]) -> str | None:
        check = getattr(codec_class, "roi_problem", None)
        if check is None:
            return f"{codec_class.name} takes no ROI side data (only ffmpeg's x264, x265 and VP9 video encoders do)"
        return check(options)

    def _chain(self, mask: np.ndarray) -> str:
        s = self.settings
        return addroi_chain(_padded(mask), s["qoffset"], s["background_qoffset"], s["max_regions"])

    def encode(self, codec: Any, image: np.ndarray, mask: np.ndarray) -> bytes:
        codec.roi_filter = self._chain(mask)
        try:
            return codec.encode(image)
        finally:
            codec.roi_filter = ""

    def encode_sequence(self, codec: Any, frames: list[np.ndarray], masks: list[np.ndarray], fps: float):
        codec.roi_filter = self._chain(np.logical_or.reduce(masks))
        try:
            return codec.encode_sequence(frames, fps)
        finally:
            codec.roi_filter = ""
