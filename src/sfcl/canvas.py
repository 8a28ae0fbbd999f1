"""The drawing canvas shared by SynthVI's people and the built-in occluders.

Both draw anti-aliased shapes with OpenCV at sub-pixel precision (:data:`SHIFT`
fixed-point bits) as soft float32 masks in [0, 1], then composite a colour (or an
infrared heat value) over a canvas through each mask. :class:`MaskPen` makes the
masks, :func:`composite` does the compositing; each caller keeps only its own
geometry (SynthVI's person-local frame, an occluder's pixel frame).

Drawing is deterministic: the same calls give the same pixels in every process.
"""

from __future__ import annotations

import cv2
import numpy as np

SHIFT = 4  # fixed-point bits for sub-pixel anti-aliased drawing
_ONE = 1 << SHIFT


def to_fixed(points, offset: float = 0.0) -> np.ndarray:
    """Pixel coordinates ((N, 2) or (2,), x then y) as OpenCV fixed-point int32 (N, 2).

    ``offset`` is added after scaling (``-0.5`` moves from pixel-centre to pixel-corner coordinates).
    """
    return np.round(np.asarray(points, np.float64).reshape(-1, 2) * _ONE + offset).astype(np.int32)


class MaskPen:
    """Anti-aliased float32 (h, w) masks in [0, 1] of filled and stroked shapes.

    Every method takes fixed-point points (:func:`to_fixed`) except ``ellipse`` and the
    thicknesses, which are in pixels.
    """

    def __init__(self, h: int, w: int):
        self.h, self.w = int(h), int(w)

    def _blank(self) -> np.ndarray:
        return np.zeros((self.h, self.w), np.uint8)

    @staticmethod
    def _soft(mask: np.ndarray) -> np.ndarray:
        return mask.astype(np.float32) / 255.0

    def poly(self, *polygons: np.ndarray) -> np.ndarray:
        """The union of filled polygons (one fill each: fillPoly's even-odd rule would cut overlaps out)."""
        mask = self._blank()
        for polygon in polygons:
            cv2.fillPoly(mask, [polygon], 255, cv2.LINE_AA, SHIFT)
        return self._soft(mask)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0,
                start: float = 0.0, end: float = 360.0) -> np.ndarray:
        """A filled ellipse (or sector from ``start`` to ``end`` degrees), centre and radii in pixels."""
        mask = self._blank()
        centre = tuple(int(v) for v in to_fixed([cx, cy])[0])
        axes = (max(int(rx * _ONE), 1), max(int(ry * _ONE), 1))
        cv2.ellipse(mask, centre, axes, angle, start, end, 255, -1, cv2.LINE_AA, SHIFT)
        return self._soft(mask)

    def line(self, a: np.ndarray, b: np.ndarray, thickness: float) -> np.ndarray:
        """A straight stroke between two fixed-point points."""
        mask = self._blank()
        cv2.line(mask, tuple(int(v) for v in a.reshape(2)), tuple(int(v) for v in b.reshape(2)), 255,
                 max(int(round(thickness)), 1), cv2.LINE_AA, SHIFT)
        return self._soft(mask)

    def polyline(self, points: np.ndarray, thickness: float) -> np.ndarray:
        """An open stroke through fixed-point points."""
        mask = self._blank()
        cv2.polylines(mask, [points], False, 255, max(int(round(thickness)), 1), cv2.LINE_AA, SHIFT)
        return self._soft(mask)


def composite(canvas: np.ndarray, mask: np.ndarray, value, alpha: np.ndarray | None = None,
              accent=None, select: np.ndarray | None = None) -> None:
    """``canvas += (value - canvas) * mask`` in place, over the mask's bounding box only.

    ``canvas`` is (h, w) (infrared heat) or (h, w, 3) (colour), float32; ``mask`` (h, w) in [0, 1];
    ``value`` a scalar, a (3,) colour or an array of the canvas's shape. With ``accent`` and
    ``select`` ((h, w) in [0, 1]) the value is blended towards ``accent`` by ``select`` (a two-tone
    texture). With ``alpha`` (h, w) the coverage is accumulated too (``alpha += (1 - alpha) * mask``),
    for a premultiplied RGBA canvas.
    """
    rows, cols = np.flatnonzero(mask.max(1) > 0), np.flatnonzero(mask.max(0) > 0)
    if rows.size == 0:
        return
    win = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    value, weight = _window(value, canvas, win), np.clip(mask[win], 0.0, 1.0)
    if accent is not None and select is not None:
        accent, blend = _window(accent, canvas, win), select[win]
        value = value + (accent - value) * (blend if canvas.ndim == 2 else blend[..., None])
    canvas[win] += (value - canvas[win]) * (weight if canvas.ndim == 2 else weight[..., None])
    if alpha is not None:
        alpha[win] += (1.0 - alpha[win]) * weight


def _window(value, canvas: np.ndarray, win: tuple[slice, slice]) -> np.ndarray:
    """``value`` as float32, cut to ``win`` when it is a whole-canvas array."""
    value = np.asarray(value, np.float32)
    return np.broadcast_to(value, canvas.shape)[win] if value.ndim == canvas.ndim else value
