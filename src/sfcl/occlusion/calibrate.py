"""Cross-modal calibration of a visible occluder for an infrared target image.

Paper ("Semantic Occlusion Dataset Construction"): visible occluders are
calibrated to the near-infrared style by grayscale conversion, intensity
normalisation, histogram alignment and Gaussian smoothing. Here, for an
occluder (h, w, 3) with alpha (h, w) and an infrared target (H, W):

1. ``gray``: ITU-R 601 luma (OpenCV ``COLOR_RGB2GRAY``).
2. ``normalise``: stretch the mask's 1st..99th percentile to 0..255.
3. ``match``: exact histogram specification over the mask pixels. Pixels are
   ranked by their grey level blurred (mask-normalised) by ``RANK_SIGMA`` px,
   so sensor grain does not decide the order and equal keys share one value;
   the pixel of rank r among n takes the target's r/n quantile. (A classic
   256-entry LUT stretches the grain of a flat object over the whole target
   range: speckle.)
4. ``smooth``: Gaussian blur of standard deviation ``sigma`` px, normalised by
   the blurred mask so the transparent surround does not darken the edges.

All steps are whole-array OpenCV / numpy operations; the loop twin lives in
``tests/occlusion/ref_occlusion.py``. Normalisation does not change ranks except that it clips the 1 % tails into
ties; it is kept as the paper's step and its bounds are recorded.
"""

from __future__ import annotations

import cv2
import numpy as np

METHOD = "gray-norm-hist-blur"
MASK_THRESHOLD = 0.5
RANK_SIGMA = 1.0


def grayscale(rgb: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 3) RGB -> uint8 (h, w) luma."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def mask_of(alpha: np.ndarray) -> np.ndarray:
    """Boolean (h, w) mask of the occluder's pixels (alpha >= 0.5, else any alpha > 0)."""
    mask = alpha >= MASK_THRESHOLD
    return mask if mask.any() else alpha > 0


def normalise_intensity(gray: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Stretch the masked 1st..99th percentile of uint8 ``gray`` to 0..255; returns (uint8, lo, hi)."""
    values = gray[mask]
    if values.size == 0:
        return gray.copy(), 0.0, 255.0
    lo, hi = (float(v) for v in np.percentile(values, [1.0, 99.0]))
    if hi - lo < 1.0:
        return np.full_like(gray, 128), lo, hi
    lut = np.clip((np.arange(256, dtype=np.float64) - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(gray, lut), lo, hi


def match_histogram(key: np.ndarray, mask: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Exact histogram specification of the masked pixels of ``key`` onto uint8 ``target``; float32 (h, w).

    ``key`` (float (h, w)) orders the pixels; a masked pixel of mid-rank r among
    n (ties share their group's mid-rank, so a flat region stays flat) gets the
    target quantile ``sort(target)[floor(r / n * m)]``. Pixels outside the mask
    are interpolated monotonically on the same key.
    """
    values = key[mask]
    if values.size == 0:
        return key.astype(np.float32)
    uniq, counts = np.unique(values, return_counts=True)
    mid = np.cumsum(counts) - counts / 2.0
    cum = np.cumsum(np.bincount(target.ravel(), minlength=256))  # sorted target = levels repeated by count
    index = np.minimum((mid * (cum[-1] / values.size)).astype(np.int64), cum[-1] - 1)
    level = np.searchsorted(cum, index, side="right").astype(np.float64)
    return np.interp(key, uniq, level).astype(np.float32)


def smooth(gray: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Mask-normalised Gaussian blur: float32 (h, w) = G*(gray alpha) / G*alpha (gray where G*alpha ~ 0)."""
    gray = gray.astype(np.float32)
    if sigma <= 0:
        return gray
    weight = alpha.astype(np.float32)
    num = cv2.GaussianBlur(gray * weight, (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)
    return np.where(den > 1e-4, num / np.maximum(den, 1e-4), gray).astype(np.float32)


def calibrate_infrared(rgb: np.ndarray, alpha: np.ndarray, target_gray: np.ndarray,
                       sigma: float) -> tuple[np.ndarray, dict]:
    """Calibrate occluder ``rgb`` (uint8 (h, w, 3)) with ``alpha`` (float (h, w) in [0, 1]) for an infrared target.

    ``target_gray`` is the target image's uint8 intensity (H, W). Returns the
    occluder's infrared intensity, float32 (h, w) in [0, 255], and the
    parameters recorded in the manifest.
    """
    mask = mask_of(alpha)
    gray = grayscale(rgb)
    norm, lo, hi = normalise_intensity(gray, mask)
    matched = match_histogram(smooth(norm, alpha, RANK_SIGMA), mask, target_gray)
    out = smooth(matched, alpha, sigma)
    params = {"method": METHOD, "sigma": float(sigma), "rank_sigma": RANK_SIGMA, "norm": [round(lo, 3), round(hi, 3)],
              "target_mean": round(float(target_gray.mean()), 3),
              "occluder_mean": round(float(out[mask].mean()) if mask.any() else 0.0, 3)}
    return out, params
