"""Infrared calibration: grey -> normalise -> exact histogram alignment -> mask-normalised blur."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sfcl.data.synthvi import render_image
from sfcl.occlusion.calibrate import (
    calibrate_infrared,
    grayscale,
    mask_of,
    match_histogram,
    normalise_intensity,
    smooth,
)
from sfcl.occlusion.placement import Placement, apply_placement, resize_occluder
from sfcl.occlusion.procedural import builtin_library

from .ref_occlusion import reference_match, reference_smooth


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest gap between the empirical CDFs of two samples (Kolmogorov-Smirnov statistic)."""
    grid = np.arange(257, dtype=np.float64) - 0.5
    fa = np.searchsorted(np.sort(a.ravel()), grid, side="right") / a.size
    fb = np.searchsorted(np.sort(b.ravel()), grid, side="right") / b.size
    return float(np.abs(fa - fb).max())


def infrared_target(pid: int = 2) -> np.ndarray:
    return render_image(1, pid, 3, 1, 96, 48)[..., 0]


def textured_occluder(seed: int = 0, h: int = 40, w: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A colourful, smoothly textured blob with a soft-edged elliptical mask."""
    rng = np.random.default_rng(seed)
    rgb = cv2.resize(rng.uniform(0, 255, (6, 4, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 255, -1, cv2.LINE_AA)
    return rgb, mask.astype(np.float32) / 255.0


def test_match_equals_loop_twin_with_ties():
    rng = np.random.default_rng(0)
    key = rng.integers(0, 12, (9, 7)).astype(np.float32)  # many ties
    mask = rng.uniform(size=key.shape) < 0.7
    target = rng.integers(0, 256, (13, 11)).astype(np.uint8)
    fast = match_histogram(key, mask, target)
    assert np.array_equal(fast[mask], reference_match(key, mask, target)[mask])
    for v in np.unique(key[~mask]):  # outside the mask: the value of an equal key inside it (monotone in key)
        if (key[mask] == v).any():
            assert np.all(fast[~mask & (key == v)] == fast[mask & (key == v)][0])
    order = np.argsort(key.ravel(), kind="stable")
    assert np.all(np.diff(fast.ravel()[order]) >= 0)
    key = rng.normal(size=(8, 6)).astype(np.float32)
    assert np.array_equal(match_histogram(key, np.ones_like(mask[:8, :6]), target),
                          reference_match(key, np.ones((8, 6), bool), target))


def test_smooth_equals_loop_twin_and_keeps_flat_occluders_flat():
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (11, 9)).astype(np.uint8)
    alpha = (rng.uniform(size=gray.shape) < 0.6).astype(np.float32)
    assert np.allclose(smooth(gray, alpha, 0.9), reference_smooth(gray, alpha, 0.9), atol=1e-3)
    flat = np.full((20, 20), 180, np.uint8)
    disc = np.zeros((20, 20), np.float32)
    cv2.circle(disc, (10, 10), 7, 1.0, -1)
    out = smooth(flat, disc, 1.2)
    assert np.allclose(out[disc > 0], 180, atol=1e-3), "the transparent surround does not darken the edge"
    plain = cv2.GaussianBlur(flat.astype(np.float32) * disc, (0, 0), 1.2)
    assert plain[disc > 0].min() < 120, "(a plain blur would)"


def test_normalise_stretches_masked_percentiles():
    gray = np.tile(np.arange(100, 150, dtype=np.uint8), (4, 1))
    mask = np.ones(gray.shape, bool)
    out, lo, hi = normalise_intensity(gray, mask)
    assert 100 <= lo < 101 and 148 < hi <= 149
    assert out.min() == 0 and out.max() == 255
    const, _, _ = normalise_intensity(np.full((4, 4), 77, np.uint8), np.ones((4, 4), bool))
    assert (const == 128).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibrated_histogram_matches_the_target(seed):
    rgb, alpha = textured_occluder(seed)
    target = infrared_target(seed + 2)
    mask = mask_of(alpha)
    before = grayscale(rgb)[mask]
    assert ks_distance(before, target) > 0.2, "the raw occluder's intensities are far from the target's"
    matched, params = calibrate_infrared(rgb, alpha, target, sigma=0.0)
    assert ks_distance(np.round(matched[mask]), target) < 0.02
    smoothed, params = calibrate_infrared(rgb, alpha, target, sigma=1.0)
    assert ks_distance(np.round(smoothed[mask]), target) < 0.1
    assert params["method"] == "gray-norm-hist-blur" and params["sigma"] == 1.0
    assert abs(params["occluder_mean"] - target.mean()) < 12


def test_procedural_occluders_follow_the_target_histogram():
    lib = builtin_library()
    target = infrared_target(4)
    for occ_id in ("car_001", "pedestrian_002", "traffic_sign_003", "foliage_000"):
        rgb, alpha = resize_occluder(lib.by_id()[occ_id].rgba, 40, 60, False)
        rgb8 = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
        out, _ = calibrate_infrared(rgb8, alpha, target, sigma=0.0)
        mask = mask_of(alpha)
        raw = ks_distance(grayscale(rgb8)[mask], target)
        assert ks_distance(np.round(out[mask]), target) < min(0.15, raw), occ_id


def test_infrared_occlusion_is_single_channel_consistent():
    lib = builtin_library()
    image = render_image(1, 3, 6, 2, 96, 48)
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    occ = lib.by_id()["umbrella_001"]
    placement = Placement(occ.info.id, "umbrella", "top", 0.5, (-5, -3, 40, 40), False, 1.0, 0.8)
    out, info = apply_placement(image, True, occ, placement)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert (out != image).any() and info["calibration"]["sigma"] == 0.8
    grey, _ = apply_placement(image[..., 0], True, occ, placement)
    assert grey.ndim == 2 and np.array_equal(grey, out[..., 0]), "one-channel ('L') images give the same pixels"
