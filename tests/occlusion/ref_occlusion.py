"""Slow twins for the occlusion fast paths, written from the definitions with Python loops.

- ``reference_match``: exact histogram specification (``calibrate.match_histogram``):
  a masked pixel whose key has ``less`` smaller and ``equal`` equal keys among n
  has mid-rank ``less + equal / 2`` and takes ``sorted(target)[floor(mid * m / n)]``.
- ``reference_composite``: ``X_o = m X + (1 - m) o`` pixel by pixel, ``m = 1 - alpha``
  (``placement.composite``), rounding half up.
- ``reference_smooth``: mask-normalised blur with an explicit Gaussian kernel
  (OpenCV's size rule for float images, reflect-101 borders), loops over pixels.
"""

from __future__ import annotations

import math

import numpy as np


def reference_match(key: np.ndarray, mask: np.ndarray, target: np.ndarray) -> np.ndarray:
    values = [float(v) for v in key[mask]]
    ordered = sorted(int(t) for t in target.ravel())
    n, m = len(values), len(ordered)
    out = np.zeros(key.shape, np.float64)
    for (y, x), inside in np.ndenumerate(mask):
        if not inside:
            continue
        v = float(key[y, x])
        less = sum(1 for w in values if w < v)
        equal = sum(1 for w in values if w == v)
        out[y, x] = ordered[min(int((less + equal / 2.0) * m / n), m - 1)]
    return out


def reference_composite(pixels: np.ndarray, color: np.ndarray, alpha: np.ndarray,
                        origin: tuple[int, int]) -> np.ndarray:
    out = pixels.copy()
    h, w = pixels.shape[:2]
    ox, oy = origin
    for (ly, lx), a in np.ndenumerate(alpha):
        y, x = oy + ly, ox + lx
        if not (0 <= y < h and 0 <= x < w):
            continue
        keep = 1.0 - float(a)
        for c in range(pixels.shape[2]):
            o = float(color[ly, lx, c if color.shape[2] > 1 else 0])
            out[y, x, c] = min(255, max(0, math.floor(keep * float(pixels[y, x, c]) + (1.0 - keep) * o + 0.5)))
    return out


def _kernel(sigma: float) -> list[float]:
    size = int(round(sigma * 4 * 2 + 1)) | 1  # OpenCV: ksize = round(sigma * 4 * 2 + 1) | 1 for float images
    half = size // 2
    weights = [math.exp(-((i - half) ** 2) / (2 * sigma * sigma)) for i in range(size)]
    total = sum(weights)
    return [w / total for w in weights]


def _reflect101(i: int, n: int) -> int:
    while i < 0 or i >= n:
        i = -i if i < 0 else 2 * (n - 1) - i
    return i


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    k = _kernel(sigma)
    half = len(k) // 2
    h, w = image.shape
    rows = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            rows[y, x] = sum(k[j] * image[y, _reflect101(x + j - half, w)] for j in range(len(k)))
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            out[y, x] = sum(k[j] * rows[_reflect101(y + j - half, h), x] for j in range(len(k)))
    return out


def reference_smooth(gray: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    num = _blur(gray.astype(np.float64) * alpha, sigma)
    den = _blur(alpha.astype(np.float64), sigma)
    return np.where(den > 1e-4, num / np.maximum(den, 1e-4), gray)
