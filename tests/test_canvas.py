"""sfcl.canvas, the canvas SynthVI and the built-in occluders share: masks against geometry,
compositing against a per-pixel loop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sfcl.canvas import SHIFT, MaskPen, composite, to_fixed


def _signed_distance(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """Distance of every pixel centre (OpenCV: integer coordinates) to the polygon, > 0 inside."""
    contour = points.astype(np.float32).reshape(-1, 1, 2)
    return np.array([[cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x in range(w)]
                     for y in range(h)])


def test_to_fixed_scales_and_offsets():
    pts = np.array([[1.25, 2.0], [0.0, 3.5]])
    np.testing.assert_array_equal(to_fixed(pts), np.round(pts * 2 ** SHIFT).astype(np.int32))
    np.testing.assert_array_equal(to_fixed([1.0, 1.0], offset=-0.5), [[16, 16]])  # round half to even
    assert to_fixed(pts).dtype == np.int32 and to_fixed([3.0, 4.0]).shape == (1, 2)


@pytest.mark.parametrize("seed", range(4))
def test_polygon_mask_follows_the_geometry(seed):
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
    radius = rng.uniform(8, 14, 7)
    pts = np.stack([32 + radius * np.cos(angles), 32 + radius * np.sin(angles)], 1)  # star-shaped, inside 64x64
    mask = MaskPen(64, 64).poly(to_fixed(pts))
    assert mask.dtype == np.float32 and mask.shape == (64, 64)
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    dist = _signed_distance(pts, 64, 64)
    assert (mask[dist > 1.0] == 1.0).all()  # inside: covered
    assert (mask[dist < -2.0] == 0.0).all()  # outside: untouched (OpenCV's LINE_AA fill bleeds up to ~1.75 px)
    edge = (dist < 0) & (dist > -1.0)
    assert ((mask > 0) & (mask < 1))[edge].mean() > 0.5  # a soft, anti-aliased edge


def test_union_of_overlapping_polygons_keeps_the_overlap():
    pen = MaskPen(40, 40)
    a = to_fixed([[5, 5], [25, 5], [25, 25], [5, 25]])
    b = to_fixed([[15, 15], [35, 15], [35, 35], [15, 35]])
    union = pen.poly(a, b)
    assert union[20, 20] == 1.0  # in both: not cut out by an even-odd fill
    assert union[10, 10] == union[30, 30] == 1.0 and union[10, 30] == union[30, 10] == 0.0


def test_ellipse_line_and_polyline_masks():
    pen = MaskPen(60, 60)
    oval = pen.ellipse(30, 30, 10, 6)
    assert oval[30, 21] == oval[25, 30] == 1.0 and oval[30, 43] == oval[38, 30] == 0.0
    half = pen.ellipse(30, 30, 10, 10, start=0, end=180)  # OpenCV's angles run clockwise on screen: y down
    assert half[36, 30] == 1.0 and half[24, 30] == 0.0
    line = pen.line(to_fixed([10, 30]), to_fixed([50, 30]), thickness=3)
    assert line[30, 30] == 1.0 and line[26, 30] == 0.0 and line[30, 5] == 0.0
    bent = pen.polyline(to_fixed([[10, 10], [30, 10], [30, 40]]), thickness=1)
    assert bent[10, 20] > 0 and bent[25, 30] > 0 and bent[40, 10] == 0 and bent[25, 20] == 0


@pytest.mark.parametrize("channels,with_accent", [(0, False), (3, False), (0, True), (3, True)])
def test_composite_against_a_pixel_loop(channels, with_accent):
    rng = np.random.default_rng(channels + 2 * with_accent)
    shape = (9, 11) if channels == 0 else (9, 11, 3)
    canvas = rng.uniform(0, 1, shape).astype(np.float32)
    mask = np.zeros((9, 11), np.float32)
    mask[2:6, 3:9] = rng.uniform(0, 1, (4, 6))
    value = np.float32(0.7) if channels == 0 else rng.uniform(0, 1, 3).astype(np.float32)
    accent = rng.uniform(0, 1, shape).astype(np.float32) if with_accent else None
    select = rng.uniform(0, 1, (9, 11)).astype(np.float32) if with_accent else None
    alpha = rng.uniform(0, 1, (9, 11)).astype(np.float32)
    expect, expect_alpha = canvas.astype(np.float64), alpha.astype(np.float64)
    for y in range(9):
        for x in range(11):
            v = np.asarray(value, np.float64)
            if with_accent:
                v = v + (accent[y, x] - v) * select[y, x]
            expect[y, x] = expect[y, x] + (v - expect[y, x]) * mask[y, x]
            expect_alpha[y, x] += (1 - expect_alpha[y, x]) * mask[y, x]
    composite(canvas, mask, value, alpha, accent=accent, select=select)
    np.testing.assert_allclose(canvas, expect, atol=1e-6)
    np.testing.assert_allclose(alpha, expect_alpha, atol=1e-6)


def test_composite_with_an_empty_mask_changes_nothing():
    canvas = np.ones((4, 4, 3), np.float32)
    composite(canvas, np.zeros((4, 4), np.float32), (0.0, 0.0, 0.0))
    assert (canvas == 1).all()
