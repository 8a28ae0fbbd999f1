"""Scene-aware placement: rules per category, scale range, category rotation, feathered blending."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest

from sfcl.errors import SfclError
from sfcl.occlusion.library import Occluder, OccluderInfo, make_library
from sfcl.occlusion.placement import (
    SCALE_RANGE,
    Layer,
    Placement,
    apply_placement,
    assign_categories,
    composite,
    feather,
    render_layer,
    resize_occluder,
    rule_of,
    sample_placement,
)
from sfcl.occlusion.procedural import builtin_library

from .ref_occlusion import reference_composite

EXPECTED_RULES = {"pole": "full", "traffic_sign": "full", "pedestrian": "side", "umbrella": "top", "branch": "top",
                  "car": "bottom", "bicycle": "bottom", "bag": "bottom", "foliage": "bottom", "barrier": "bottom",
                  "bench": "bottom", "trash_bin": "bottom"}


@pytest.fixture(scope="module")
def lib():
    return builtin_library()


def test_categories_map_to_the_scene_rules(lib):
    for occ in lib.occluders:
        assert rule_of(occ.info.body_part) == EXPECTED_RULES[occ.info.category], occ.info.id


@pytest.mark.parametrize("height, width", [(288, 144), (64, 32), (80, 80)])
def test_positions_and_scales_follow_the_rules(lib, height, width):
    rng = np.random.default_rng(height)
    scales = []
    for occ in lib.occluders:
        for _ in range(6):
            p = sample_placement(rng, occ, height, width, infrared=False)
            x0, y0, x1, y1 = p.box
            bw, bh = x1 - x0, y1 - y0
            scales.append(p.scale)
            assert SCALE_RANGE[0] <= p.scale <= SCALE_RANGE[1]
            assert abs(bw * bh - p.scale * height * width) <= bw + bh + 1, (occ.info.id, p)
            assert x0 < width and x1 > 0 and y0 < height and y1 > 0, "the box overlaps the image"
            if p.rule == "full":
                assert (y0, y1) == (0, height) and 0 <= x0 and x1 <= width
            elif p.rule == "bottom":
                assert height <= y1 <= height + 0.1 * bh + 1 and -1 <= (x0 + x1) / 2 <= width + 1
            elif p.rule == "top":
                assert -0.1 * bh - 1 <= y0 <= 0 and -1 <= (x0 + x1) / 2 <= width + 1
            else:
                assert x0 <= 0 or x1 >= width, "pedestrians enter from a side"
                assert min(x1, width) - max(x0, 0) >= bw / 2 - 1, "at least half of it is inside"
                assert y1 >= 0.95 * height - 1, "standing on the ground"
            if p.rule != "full" and bh < height:
                assert abs(bw / bh - occ.rgba.shape[1] / occ.rgba.shape[0]) < 0.05 + 2 / min(bw, bh)
    assert min(scales) < 0.15 and max(scales) > 0.65, "eps spans U(0.1, 0.7)"


def test_visible_placements_have_no_calibration_blur(lib):
    occ = lib.occluders[0]
    assert sample_placement(np.random.default_rng(0), occ, 64, 32, infrared=False).smooth is None
    assert sample_placement(np.random.default_rng(0), occ, 64, 32, infrared=True).smooth > 0


def test_category_rotation_cycles_and_respects_scenes(lib):
    scenes = ["indoor"] * 21 + ["outdoor"] * 30 + ["indoor", "outdoor"] * 5
    cats = assign_categories(scenes, lib, seed=0)
    indoor = [c for c, s in zip(cats, scenes) if s == "indoor"]
    outdoor = [c for c, s in zip(cats, scenes) if s == "outdoor"]
    allowed_in = {c for c in lib.categories() if lib.for_scene(c, "indoor")}
    assert set(indoor) == allowed_in and "car" not in allowed_in
    assert set(outdoor) == set(lib.categories())
    n_in = len(allowed_in)
    for seq, n in ((indoor, n_in), (outdoor, len(lib.categories()))):
        assert all(len(set(seq[i:i + n])) == n for i in range(0, len(seq) - n + 1)), "a full cycle before repeats"
        counts = Counter(seq).values()
        assert max(counts) - min(counts) <= 1
    assert assign_categories(scenes, lib, seed=0) == cats
    assert assign_categories(scenes, lib, seed=1) != cats


def test_rotation_refuses_a_library_without_occluders_for_a_scene():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 3] = 255
    lib = make_library("cars", [Occluder(OccluderInfo("c", "car", "outdoor", "lower", "large"), rgba)])
    with pytest.raises(SfclError, match="no occluder for indoor scenes"):
        assign_categories(["indoor"], lib, 0)


def border_band(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` next to a pixel outside it, and outside pixels next to it."""
    kernel = np.ones((3, 3), np.uint8)
    m = mask.astype(np.uint8)
    return (cv2.dilate(m, kernel) - cv2.erode(m, kernel)).astype(bool)


@pytest.mark.parametrize("sigma", [0.6, 1.0, 1.5])
def test_feathered_alpha_is_strictly_soft_on_the_border(sigma):
    hard = np.zeros((40, 30), np.float32)
    hard[5:35, 4:26] = 1.0
    color = np.full((40, 30, 3), 200.0, np.float32)
    out_color, soft, pad = feather(color, hard, sigma)
    band = border_band(np.pad(hard, pad) > 0.5)
    assert ((soft[band] > 0) & (soft[band] < 1)).all()
    reach = 2 * int(np.ceil(3.5 * sigma)) + 1
    inner = cv2.erode(np.pad(hard, pad), np.ones((reach, reach), np.uint8)) > 0.5
    assert soft[inner].min() > 0.999 and soft[0, 0] == 0.0
    assert np.allclose(out_color[soft > 1e-3], 200.0, atol=1e-2), "colours extended into the halo"


def test_placed_procedural_occluders_have_feathered_edges(lib):
    for occ_id in ("pole_000", "car_003", "pedestrian_001", "bicycle_002"):
        occ = lib.by_id()[occ_id]
        p = Placement(occ_id, occ.info.category, "bottom", 0.4, (3, 10, 53, 70), False, 0.8, None)
        layer = render_layer(occ, p, None)
        _, alpha = resize_occluder(occ.rgba, 50, 60, False)
        pad = (layer.alpha.shape[0] - 60) // 2
        band = border_band(np.pad(alpha, pad) >= 0.5)
        assert ((layer.alpha[band] > 0) & (layer.alpha[band] < 1)).all(), occ_id


def test_composite_equals_loop_twin():
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (20, 14, 3)).astype(np.uint8)
    for origin, channels in (((-4, 3), 3), ((6, -5), 1), ((10, 15), 3)):
        alpha = rng.uniform(0, 1, (12, 9)).astype(np.float32)
        color = rng.uniform(0, 255, (12, 9, channels)).astype(np.float32)
        fast, coverage = composite(pixels, Layer(color, alpha, origin, None))
        assert np.array_equal(fast, reference_composite(pixels, color, alpha, origin))
        ys, xs = slice(max(origin[1], 0), min(origin[1] + 12, 20)), slice(max(origin[0], 0), min(origin[0] + 9, 14))
        outside = np.ones((20, 14), bool)
        outside[ys, xs] = False
        assert np.array_equal(fast[outside], pixels[outside])


def test_apply_changes_only_the_footprint(lib):
    pixels = np.full((64, 32, 3), 90, np.uint8)
    occ = lib.by_id()["bench_002"]
    p = sample_placement(np.random.default_rng(5), occ, 64, 32, infrared=False)
    out, info = apply_placement(pixels, False, occ, p)
    changed = (out != pixels).any(2)
    x0, y0, x1, y1 = p.box
    pad = int(np.ceil(3 * p.feather)) + 1
    assert changed.any() and 0 < info["coverage"] < 1 and info["calibration"] is None
    ys, xs = np.nonzero(changed)
    assert ys.min() >= y0 - pad and ys.max() < y1 + pad and xs.min() >= x0 - pad and xs.max() < x1 + pad
