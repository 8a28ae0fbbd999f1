"""The built-in SOL: occluders drawn procedurally with OpenCV, so occlusion works offline.

Twelve categories (poles, traffic signs, cars, bicycles, bags, umbrellas, other
pedestrians, foliage, barriers, benches, litter bins, tree branches), each with
:data:`VARIANTS` instances varied in shape, colour and texture (shading,
low-frequency mottling, grain). Instance ``i`` of category ``c`` is a pure
function of ``rng([BUILTIN_SEED, c, i])``, so every process draws the same
pixels; ``builtin_library()`` caches the result per process.

Each instance is drawn on its own canvas, anti-aliased, and cropped to its
mask, so the aspect ratio placement works with is the object's own.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from sfcl.canvas import MaskPen, composite, to_fixed
from sfcl.occlusion.library import BUILTIN, Occluder, OccluderInfo, OcclusionLibrary, load_library_dir, make_library

BUILTIN_SEED = 20260
VARIANTS = 8


class _Canvas:
    """Premultiplied RGB + alpha float32 canvas in pixel coordinates; ``paint`` composites a colour
    over a soft mask (:mod:`sfcl.canvas`)."""

    def __init__(self, h: int, w: int):
        self.h, self.w = int(h), int(w)
        self.rgb = np.zeros((self.h, self.w, 3), np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32)
        self.pen = MaskPen(self.h, self.w)

    def poly(self, pts) -> np.ndarray:
        return self.pen.poly(to_fixed(pts))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0,
                start: float = 0.0, end: float = 360.0) -> np.ndarray:
        return self.pen.ellipse(cx, cy, rx, ry, angle, start, end)

    def line(self, p, q, thickness: float) -> np.ndarray:
        return self.pen.line(to_fixed(p), to_fixed(q), thickness)

    def polyline(self, pts, thickness: float) -> np.ndarray:
        return self.pen.polyline(to_fixed(pts), thickness)

    def paint(self, mask: np.ndarray, color) -> None:
        """Composite ``color`` ((3,) or (h, w, 3) in [0, 1]) over the canvas through ``mask``."""
        composite(self.rgb, mask, color, self.alpha)

    def rgba(self, rng: np.random.Generator, grain: float = 0.012) -> np.ndarray:
        """Un-premultiply, add mottling and grain, crop to the mask and return straight-alpha uint8 (h, w, 4)."""
        rgb = self.rgb / np.maximum(self.alpha, 1e-3)[..., None]
        rgb = rgb * mottle(rng, self.h, self.w, 0.08)[..., None]
        rgb = rgb + rng.normal(0.0, grain, rgb.shape).astype(np.float32)
        out = np.concatenate([rgb, self.alpha[..., None]], axis=2)
        out = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
        out[out[..., 3] == 0, :3] = 0
        rows, cols = np.flatnonzero(out[..., 3].any(1)), np.flatnonzero(out[..., 3].any(0))
        return np.ascontiguousarray(out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])


def mottle(rng: np.random.Generator, h: int, w: int, amp: float, cells: int = 6) -> np.ndarray:
    """Low-frequency multiplicative texture 1 + amp * noise, float32 (h, w)."""
    grid = rng.normal(0.0, 1.0, (cells, cells)).astype(np.float32)
    return 1.0 + amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def cylinder(w: int, x0: float, width: float, light: float) -> np.ndarray:
    """Horizontal shading profile (w,) of a vertical cylinder at [x0, x0 + width]."""
    u = (np.arange(w, dtype=np.float32) + 0.5 - x0) / max(width, 1.0)
    return (0.55 + 0.45 * np.cos(np.clip(u - 0.5 + light, -1.0, 1.0) * np.pi * 0.9)).astype(np.float32)


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.asarray(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32)


def _rect(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])


def _vivid(rng: np.random.Generator) -> np.ndarray:
    return hsv(rng.uniform(), rng.uniform(0.4, 0.9), rng.uniform(0.35, 0.9))


def _dull(rng: np.random.Generator) -> np.ndarray:
    return hsv(rng.uniform(), rng.uniform(0.0, 0.35), rng.uniform(0.12, 0.7))


def draw_pole(rng: np.random.Generator) -> _Canvas:
    h, w = 240, int(rng.integers(10, 30))
    arm = rng.uniform() < 0.4
    cv = _Canvas(h, w + (56 if arm else 4))
    kind = rng.choice(["metal", "concrete", "striped", "painted", "wood"])
    base = {"metal": hsv(0.6, 0.05, rng.uniform(0.5, 0.75)), "concrete": hsv(0.1, 0.1, rng.uniform(0.55, 0.75)),
            "wood": hsv(0.07, 0.5, rng.uniform(0.3, 0.5)), "painted": _vivid(rng),
            "striped": hsv(0.0, 0.85, 0.75)}[kind]
    shade = cylinder(cv.w, 2, w, rng.uniform(-0.3, 0.3))[None, :, None]
    color = np.broadcast_to(base, (h, cv.w, 3)) * shade
    if kind == "striped":
        band = ((np.arange(h) // int(rng.integers(14, 28))) % 2 == 0)[:, None, None]
        color = np.where(band, color, np.float32(0.92) * shade)
    cv.paint(cv.poly(_rect(2, 0, w, h)), color)
    if rng.uniform() < 0.5:
        cv.paint(cv.poly(_rect(0, h - 10, w + 4, 10)), base * 0.6)
    if rng.uniform() < 0.35:
        y = rng.uniform(0.3, 0.6) * h
        cv.paint(cv.poly(_rect(2, y, w, rng.uniform(20, 40))), _vivid(rng))
    if arm:
        y = rng.uniform(4, 20)
        cv.paint(cv.line((2 + w / 2, y + 6), (cv.w - 12, y), 5), base * 0.8)
        cv.paint(cv.ellipse(cv.w - 12, y + 4, 10, 5), hsv(0.12, 0.2, 0.85))
    return cv


def draw_traffic_sign(rng: np.random.Generator) -> _Canvas:
    p = int(rng.integers(56, 90))
    h, post = 240, rng.uniform(6, 10)
    cv = _Canvas(h, p + 4)
    cx, cy, r = cv.w / 2, p / 2 + 2, p / 2
    shade = cylinder(cv.w, cx - post / 2, post, 0.2)[None, :, None]
    cv.paint(cv.poly(_rect(cx - post / 2, cy, post, h - cy)), hsv(0.6, 0.05, 0.6) * shade)
    kind = rng.choice(["prohibit", "mandatory", "warning", "diamond", "stop", "info"])
    red, white, blue, black = hsv(0.0, 0.85, 0.8), hsv(0, 0, 0.93), hsv(0.6, 0.8, 0.65), hsv(0, 0, 0.08)
    yellow = hsv(0.14, 0.85, 0.9)
    t = np.linspace(0, 2 * np.pi, 9)[:-1] + np.pi / 8
    shapes = {
        "prohibit": (lambda k: cv.ellipse(cx, cy, r * k, r * k), red, white),
        "mandatory": (lambda k: cv.ellipse(cx, cy, r * k, r * k), white, blue),
        "warning": (lambda k: cv.poly([[cx, cy - r * k], [cx + r * k, cy + r * k * 0.8],
                                       [cx - r * k, cy + r * k * 0.8]]), red, white),
        "diamond": (lambda k: cv.poly([[cx, cy - r * k], [cx + r * k, cy], [cx, cy + r * k], [cx - r * k, cy]]),
                    black, yellow),
        "stop": (lambda k: cv.poly(np.stack([cx + r * k * np.cos(t), cy + r * k * np.sin(t)], 1)), white, red),
        "info": (lambda k: cv.poly(_rect(cx - r * k, cy - r * k * 0.8, 2 * r * k, 1.6 * r * k)), white, blue),
    }
    shape, rim, fill = shapes[str(kind)]
    cv.paint(shape(1.0), rim)
    cv.paint(shape(0.82), fill)
    glyph = black if kind in ("prohibit", "warning", "diamond") else white
    if rng.uniform() < 0.5:
        cv.paint(cv.poly(_rect(cx - r * 0.45, cy - r * 0.1, r * 0.9, r * 0.22)), glyph)
    else:
        cv.paint(cv.line((cx - r * 0.3, cy + r * 0.3), (cx + r * 0.3, cy - r * 0.3), max(r * 0.15, 2)), glyph)
    if rng.uniform() < 0.3:
        cv.paint(cv.poly(_rect(cx - r * 0.8, cy + r + 8, r * 1.6, r * 0.5)), white)
    return cv


def draw_car(rng: np.random.Generator) -> _Canvas:
    w, h = 220, int(rng.integers(95, 125))
    cv = _Canvas(h, w)
    body = _vivid(rng) if rng.uniform() < 0.6 else hsv(0.6, 0.03, rng.choice([0.1, 0.55, 0.85]))
    grad = np.linspace(1.15, 0.8, h, dtype=np.float32)[:, None, None]
    roof = rng.uniform(0.08, 0.2) * h
    x0, x1 = rng.uniform(0.18, 0.3) * w, rng.uniform(0.68, 0.8) * w
    cabin = [[x0, 0.5 * h], [x0 + rng.uniform(15, 35), roof], [x1 - rng.uniform(5, 25), roof], [x1 + 10, 0.5 * h]]
    cv.paint(cv.poly(cabin), body * grad)
    cv.paint(cv.poly([[4, 0.5 * h], [w - 4, 0.52 * h], [w - 2, 0.82 * h], [2, 0.82 * h]]), body * grad)
    glass = hsv(0.58, 0.3, rng.uniform(0.12, 0.3))
    gx = (x0 + x1) / 2 + rng.uniform(-8, 8)
    for a, b in ((x0 + 8, gx - 3), (gx + 3, x1)):
        cv.paint(cv.poly([[a, 0.48 * h], [max(a, x0 + 30), roof + 6], [min(b, x1 - 20), roof + 6], [b, 0.48 * h]]),
                 glass * np.linspace(1.4, 0.8, w, dtype=np.float32)[None, :, None])
    cv.paint(cv.line((x0 + 30, 0.55 * h), (x0 + 30, 0.8 * h), 1), body * 0.5)
    cv.paint(cv.line((gx, 0.55 * h), (gx, 0.8 * h), 1), body * 0.5)
    cv.paint(cv.ellipse(w - 12, 0.6 * h, 8, 5), hsv(0.13, 0.2, 0.95))
    cv.paint(cv.ellipse(10, 0.6 * h, 6, 5), hsv(0.0, 0.9, 0.7))
    for wx in (0.2 * w, 0.8 * w):
        rad = 0.17 * h
        cv.paint(cv.ellipse(wx, 0.82 * h, rad, rad), hsv(0, 0, 0.06))
        cv.paint(cv.ellipse(wx, 0.82 * h, rad * 0.55, rad * 0.55), hsv(0, 0, rng.uniform(0.45, 0.75)))
    if rng.uniform() < 0.5:
        cv.rgb, cv.alpha = cv.rgb[:, ::-1].copy(), cv.alpha[:, ::-1].copy()
    return cv


def draw_bicycle(rng: np.random.Generator) -> _Canvas:
    w, h = 200, 125
    cv = _Canvas(h, w)
    r = rng.uniform(34, 42)
    y, rear, front = h - r - 4, r + 4, w - r - 4
    frame, tire = _vivid(rng), hsv(0, 0, rng.uniform(0.05, 0.15))
    for cx in (rear, front):
        cv.paint(np.clip(cv.ellipse(cx, y, r, r) - cv.ellipse(cx, y, r - 4, r - 4), 0, 1), tire)
        for k in range(int(rng.integers(8, 14))):
            a = np.pi * k / 6
            cv.paint(cv.line((cx, y), (cx + (r - 4) * np.cos(a), y + (r - 4) * np.sin(a)), 1), hsv(0, 0, 0.6))
    bb = (rear + (front - rear) * rng.uniform(0.38, 0.48), y + 4)
    seat = (rear + (front - rear) * rng.uniform(0.25, 0.35), y - r * rng.uniform(1.3, 1.6))
    head = (front - r * rng.uniform(0.25, 0.4), y - r * rng.uniform(1.25, 1.5))
    for a, b in ((rear, bb), (rear, seat), (bb, seat), (bb, head), (seat, head), (head, front)):
        a = (a, y) if isinstance(a, float) else a
        b = (b, y) if isinstance(b, float) else b
        cv.paint(cv.line(a, b, rng.uniform(3, 5)), frame)
    cv.paint(cv.ellipse(seat[0], seat[1] - 5, 11, 3.5), hsv(0, 0, 0.1))
    cv.paint(cv.line(head, (head[0] - 4, head[1] - 16), 3), hsv(0, 0, 0.3))
    cv.paint(cv.line((head[0] - 12, head[1] - 16), (head[0] + 8, head[1] - 18), 3.5), hsv(0, 0, 0.12))
    return cv


def draw_bag(rng: np.random.Generator) -> _Canvas:
    kind = rng.choice(["suitcase", "backpack", "shopping", "handbag"])
    cv = _Canvas(130, 110)
    color = _vivid(rng) if rng.uniform() < 0.5 else _dull(rng)
    shade = cylinder(cv.w, 10, 90, rng.uniform(-0.2, 0.2))[None, :, None]
    if kind == "suitcase":
        top = rng.uniform(25, 40)
        cv.paint(cv.poly([[18, 10], [40, 10], [40, top], [18, top]]) - cv.poly(_rect(24, 16, 10, top)), hsv(0, 0, 0.15))
        cv.paint(cv.poly(_rect(10, top, 90, 120 - top)), color * shade)
        for x in (30, 55, 80):
            cv.paint(cv.line((x, top + 6), (x, 112), 2), color * 0.7)
        cv.paint(cv.ellipse(20, 124, 5, 5) + cv.ellipse(90, 124, 5, 5), hsv(0, 0, 0.1))
    elif kind == "backpack":
        cv.paint(cv.ellipse(55, 68, 42, 58), color * shade)
        cv.paint(cv.poly(_rect(25, 75, 60, 40)), color * 0.75 * shade)
        cv.paint(cv.line((25, 95), (85, 95), 2), hsv(0, 0, 0.2))
        cv.paint(cv.ellipse(55, 14, 14, 8) - cv.ellipse(55, 14, 9, 4), hsv(0, 0, 0.15))
    else:
        top = 45.0 if kind == "shopping" else 60.0
        cv.paint(cv.ellipse(55, top, 26, 30, 0, 180, 360) - cv.ellipse(55, top, 21, 25, 0, 180, 360), color * 0.6)
        spread = 0 if kind == "shopping" else 12
        cv.paint(cv.poly([[15 + spread, top], [95 - spread, top], [100, 125], [10, 125]]), color * shade)
        if rng.uniform() < 0.6:
            cv.paint(cv.ellipse(55, (top + 125) / 2, 14, 14), _vivid(rng))
    return cv


def draw_umbrella(rng: np.random.Generator) -> _Canvas:
    w, h = 200, 175
    cv = _Canvas(h, w)
    cx, cy, rx, ry = w / 2, 0.45 * h, 0.47 * w, rng.uniform(0.3, 0.4) * h
    ribs = int(rng.integers(6, 10))
    cv.paint(cv.line((cx, 0.1 * h), (cx, h - 22), 3), hsv(0, 0, 0.2))
    cv.paint(cv.ellipse(cx - 9, h - 22, 9, 9, 0, 0, 180) - cv.ellipse(cx - 9, h - 22, 6, 6, 0, 0, 180),
             hsv(0.05, 0.6, 0.3))
    colors = [_vivid(rng), _vivid(rng) if rng.uniform() < 0.5 else hsv(0, 0, rng.uniform(0.05, 0.9))]
    t = np.linspace(0.0, 1.0, 10)[:, None]
    tips = cx - rx + 2 * rx * np.arange(ribs + 1) / ribs

    def rib(x: float) -> np.ndarray:  # from the apex down to the rib tip, following the dome
        return np.concatenate([cx + (x - cx) * np.sin(t * np.pi / 2), cy - ry * np.cos(t * np.pi / 2)], 1)

    sag = rng.uniform(4, 10)
    for k in range(ribs):
        scallop = np.stack([np.linspace(tips[k], tips[k + 1], 6), cy - sag * np.sin(np.linspace(0, np.pi, 6))], 1)
        pts = np.concatenate([rib(tips[k]), scallop, rib(tips[k + 1])[::-1]])
        cv.paint(cv.poly(pts), colors[k % 2] * np.float32(0.8 + 0.35 * abs(k + 0.5 - ribs / 2) / ribs))
    for x in tips:
        cv.paint(cv.polyline(rib(x), 1), hsv(0, 0, 0.15))
    return cv


def draw_pedestrian(rng: np.random.Generator) -> _Canvas:
    w, h = 100, 230
    cv = _Canvas(h, w)
    skin, hair = hsv(0.07, 0.4, rng.uniform(0.3, 0.85)), hsv(0.07, 0.4, rng.uniform(0.05, 0.35))
    top, bottom = _dull(rng) if rng.uniform() < 0.7 else _vivid(rng), _dull(rng)
    cx, sw, hw = w / 2 + rng.uniform(-4, 4), rng.uniform(34, 44), rng.uniform(26, 32)
    stride = rng.uniform(0, 14)
    for sgn in (-1, 1):
        cv.paint(cv.line((cx + sgn * hw / 4, 125), (cx + sgn * (hw / 4 + stride), h - 12), rng.uniform(11, 15)), bottom)
        cv.paint(cv.ellipse(cx + sgn * (hw / 4 + stride) + 4, h - 8, 9, 5), hsv(0, 0, 0.1))
    cv.paint(cv.poly([[cx - sw / 2, 44], [cx + sw / 2, 44], [cx + hw / 2 + 3, 132], [cx - hw / 2 - 3, 132]]), top)
    for sgn in (-1, 1):
        hand = (cx + sgn * (sw / 2 + rng.uniform(2, 10)), rng.uniform(110, 125))
        cv.paint(cv.line((cx + sgn * (sw / 2 - 4), 50), hand, rng.uniform(8, 11)), top * 0.9)
        cv.paint(cv.ellipse(hand[0], hand[1] + 3, 4, 5), skin)
    cv.paint(cv.poly(_rect(cx - 5, 30, 10, 16)), skin)
    cv.paint(cv.ellipse(cx, 22, 11, 14), skin)
    cv.paint(cv.ellipse(cx, 16, 12, 10), hair)
    if rng.uniform() < 0.35:
        cv.paint(cv.poly(_rect(cx + sw / 2 - 2, 95, 18, 26)), _dull(rng))
    return cv


def draw_foliage(rng: np.random.Generator) -> _Canvas:
    potted = rng.uniform() < 0.35
    w, h = (120, 160) if potted else (190, 130)
    cv = _Canvas(h, w)
    hue, n = rng.uniform(0.2, 0.38), int(rng.integers(70, 130))
    bottom = h - 35 if potted else h - 2
    for _ in range(n):
        u, v = rng.uniform(-1, 1), rng.uniform(0, 1) ** 0.7
        x = w / 2 + u * (w / 2 - 12) * (0.35 + 0.65 * v ** 0.5)
        y = bottom - v * (bottom - 12) * (1 - 0.3 * u * u)
        col = hsv(hue + rng.uniform(-0.04, 0.04), rng.uniform(0.4, 0.85), rng.uniform(0.18, 0.6))
        cv.paint(cv.ellipse(x, y, rng.uniform(5, 14), rng.uniform(3, 8), rng.uniform(0, 180)), col)
    if potted:
        cv.paint(cv.poly([[w / 2 - 30, h - 38], [w / 2 + 30, h - 38], [w / 2 + 22, h], [w / 2 - 22, h]]),
                 hsv(0.05, rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.6)))
    return cv


def draw_barrier(rng: np.random.Generator) -> _Canvas:
    kind = rng.choice(["striped", "fence", "jersey", "cone"])
    w, h = (90, 120) if kind == "cone" else (210, int(rng.integers(85, 120)))
    cv = _Canvas(h, w)
    if kind == "striped":
        a, b = (hsv(0, 0.85, 0.8), hsv(0, 0, 0.95)) if rng.uniform() < 0.6 else (hsv(0.13, 0.9, 0.9), hsv(0, 0, 0.1))
        for x in (25, w - 25):
            cv.paint(cv.poly([[x - 3, 20], [x + 3, 20], [x + 16, h], [x - 16, h]]), hsv(0, 0, 0.3))
        xx = np.arange(w, dtype=np.float32)[None, :] + np.arange(h, dtype=np.float32)[:, None]
        stripes = ((xx // rng.uniform(14, 24)) % 2 == 0)[..., None]
        cv.paint(cv.poly(_rect(2, 18, w - 4, rng.uniform(18, 28))), np.where(stripes, a, b))
    elif kind == "fence":
        metal = hsv(0.6, 0.05, rng.uniform(0.45, 0.8))
        frame = cv.poly(_rect(6, 8, w - 12, h - 22)) - cv.poly(_rect(11, 13, w - 22, h - 32))
        cv.paint(np.clip(frame, 0, 1), metal)
        for x in np.arange(20, w - 15, rng.uniform(9, 14)):
            cv.paint(cv.line((x, 13), (x, h - 19), 2), metal)
        for x in (14, w - 14):
            cv.paint(cv.poly(_rect(x - 14, h - 8, 28, 6)), metal * 0.6)
    elif kind == "jersey":
        concrete = hsv(0.1, 0.08, rng.uniform(0.5, 0.8))
        cv.paint(cv.poly([[30, 6], [w - 30, 6], [w - 20, h * 0.55], [w - 2, h], [2, h], [20, h * 0.55]]),
                 concrete * np.linspace(1.1, 0.85, h, dtype=np.float32)[:, None, None])
    else:
        orange = hsv(0.06, 0.9, 0.9)
        cone = cv.poly([[40, 4], [50, 4], [75, h - 12], [15, h - 12]])
        cv.paint(cone, orange * cylinder(w, 15, 60, 0.2)[None, :, None])
        for y in (0.35, 0.6):
            cv.paint(cv.poly(_rect(0, y * h, w, 10)) * cone, hsv(0, 0, 0.95))
        cv.paint(cv.poly(_rect(4, h - 12, w - 8, 10)), orange * 0.6)
    return cv


def draw_bench(rng: np.random.Generator) -> _Canvas:
    w, h = 210, int(rng.integers(90, 115))
    cv = _Canvas(h, w)
    wood = rng.uniform() < 0.6
    color = hsv(0.07, rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.6)) if wood else hsv(
        rng.choice([0.33, 0.6, 0.0]), rng.uniform(0.0, 0.5), rng.uniform(0.15, 0.45))
    legs = hsv(0, 0, 0.18)
    seat = rng.uniform(0.5, 0.6) * h
    for x in (0.12 * w, 0.88 * w):
        cv.paint(cv.poly(_rect(x - 4, 6, 8, h - 6)), legs)
    for k in range(int(rng.integers(2, 4))):
        cv.paint(cv.poly(_rect(4, 8 + k * 16, w - 8, 10)), color * (1.05 - 0.08 * k))
    cv.paint(cv.poly(_rect(0, seat, w, rng.uniform(9, 14))), color * 1.1)
    if rng.uniform() < 0.4:
        for x in (0.12 * w, 0.88 * w):
            cv.paint(cv.line((x, seat - 18), (x + (12 if x > w / 2 else -12), seat - 18), 4), legs)
    return cv


def draw_trash_bin(rng: np.random.Generator) -> _Canvas:
    w, h = 90, int(rng.integers(110, 140))
    cv = _Canvas(h, w)
    color = hsv(rng.choice([0.33, 0.6, 0.08, 0.0]), rng.uniform(0.0, 0.8), rng.uniform(0.25, 0.7))
    shade = cylinder(w, 8, w - 16, rng.uniform(-0.3, 0.3))[None, :, None]
    cv.paint(cv.poly([[8, 16], [w - 8, 16], [w - 14, h], [14, h]]), color * shade)
    cv.paint(cv.ellipse(w / 2, 14, w / 2 - 4, 10), color * 0.8)
    cv.paint(cv.poly(_rect(10, rng.uniform(0.3, 0.5) * h, w - 20, 10)), hsv(0, 0, rng.uniform(0.6, 0.95)) * shade)
    if rng.uniform() < 0.5:
        cv.paint(cv.ellipse(w / 2, 0.7 * h, 12, 12), hsv(0, 0, 0.9))
    return cv


def draw_branch(rng: np.random.Generator) -> _Canvas:
    w, h = 200, 150
    cv = _Canvas(h, w)
    bark, hue = hsv(0.07, 0.5, rng.uniform(0.15, 0.35)), rng.uniform(0.18, 0.38)
    for _ in range(int(rng.integers(2, 5))):
        x, y, pts = rng.uniform(20, w - 20), 0.0, []
        dx = rng.uniform(-3, 3)
        for _ in range(12):
            pts.append([x, y])
            x, y = x + dx + rng.normal(0, 3), y + rng.uniform(6, 12)
        cv.paint(cv.polyline(pts, rng.uniform(3, 6)), bark)
        for px, py in pts[2:]:
            for _ in range(int(rng.integers(2, 5))):
                col = hsv(hue + rng.uniform(-0.04, 0.04), rng.uniform(0.4, 0.85), rng.uniform(0.2, 0.6))
                cv.paint(cv.ellipse(px + rng.normal(0, 10), py + rng.normal(0, 6), rng.uniform(4, 9),
                                    rng.uniform(2.5, 5), rng.uniform(0, 180)), col)
    return cv


# category -> (scene, body_part, size_class, drawer)
CATEGORIES: dict[str, tuple[str, str, str, Callable[[np.random.Generator], _Canvas]]] = {
    "pole": ("any", "full", "large", draw_pole),
    "traffic_sign": ("outdoor", "full", "large", draw_traffic_sign),
    "car": ("outdoor", "lower", "large", draw_car),
    "bicycle": ("outdoor", "lower", "medium", draw_bicycle),
    "bag": ("any", "lower", "small", draw_bag),
    "umbrella": ("any", "upper", "medium", draw_umbrella),
    "pedestrian": ("any", "side", "large", draw_pedestrian),
    "foliage": ("any", "lower", "medium", draw_foliage),
    "barrier": ("outdoor", "lower", "medium", draw_barrier),
    "bench": ("any", "lower", "medium", draw_bench),
    "trash_bin": ("any", "lower", "small", draw_trash_bin),
    "branch": ("outdoor", "upper", "medium", draw_branch),
}


def draw_occluder(category: str, index: int, seed: int = BUILTIN_SEED) -> Occluder:
    """Instance ``index`` of ``category``: a pure function of ``(seed, category, index)``."""
    scene, part, size, draw = CATEGORIES[category]
    rng = np.random.default_rng([seed, list(CATEGORIES).index(category), index])
    rgba = draw(rng).rgba(rng)
    return Occluder(OccluderInfo(f"{category}_{index:03d}", category, scene, part, size, "procedural"), rgba)


@lru_cache(maxsize=2)
def builtin_library(variants: int = VARIANTS, seed: int = BUILTIN_SEED) -> OcclusionLibrary:
    """The procedural library (``len(CATEGORIES) * variants`` occluders), cached per process."""
    occluders = [draw_occluder(c, i, seed) for c in CATEGORIES for i in range(variants)]
    return make_library("builtin", occluders)


def load_library(spec: str | Path | None = None) -> OcclusionLibrary:
    """``None`` or ``"builtin"``: the procedural library of this module; otherwise a SOL folder
    (:func:`sfcl.occlusion.library.load_library_dir`)."""
    if spec is None or str(spec) == BUILTIN:
        return builtin_library()
    return load_library_dir(spec)
