"""SynthVI: a procedural visible-infrared pedestrian dataset in the SYSU-MM01 layout.

``synthesize(out)`` draws pedestrians whose identity lives in *shape and clothing
structure* (body proportions, hair, sleeve/trouser/skirt layout, garment texture:
stripes, checks, logo, two-tone split; backpack, shoulder bag, hat) and writes
them as ``cam1..cam6/<id:04d>/<img:04d>.jpg`` (visible cams 1, 2, 4, 5; infrared
cams 3, 6) plus ``exp/{train,val,test}_id.txt``, so ``load_sysu(out)`` reads it.

Visible images colour each garment; infrared images ignore colour: a garment's
intensity comes from its material ``heat`` (drawn independently of its colour),
skin is warm, the background cool, then a per-camera gain/offset/gamma. Texture
structure modulates heat too, so it is visible in both modalities and a network
can learn cross-modal matching; raw pixels cannot (see ``docs/DESIGN.md``).

Randomness: identity ``rng([seed, 1, pid])``, camera scene ``rng([seed, 2, cam])``,
tracklet viewpoint ``rng([seed, 3, pid, cam])``, image ``rng([seed, 4, pid, cam, idx])``,
split ``rng([seed, 5])``. Every image is a pure function of its key, so any number
of worker processes writes the same bytes.
"""

from __future__ import annotations

import colorsys
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from sfcl.canvas import SHIFT, MaskPen, composite, to_fixed
from sfcl.data.sysu import ALL_CAMS as CAMS
from sfcl.data.sysu import NIR_CAMS
from sfcl.errors import SfclError
from sfcl.fileio import LOCK_NAME, OutputLock, atomic_write, remove_stale_temporaries
from sfcl.imageio import SYNTHVI_JPEG_QUALITY as JPEG_QUALITY
from sfcl.imageio import encode_image
from sfcl.workers import process_pool

MARKER = "synthvi.json"
FORMAT_VERSION = 1
_TAG_ID, _TAG_CAM, _TAG_TRACK, _TAG_IMG, _TAG_SPLIT = 1, 2, 3, 4, 5
TEXTURES = ("solid", "hstripes", "vstripes", "checks", "logo", "split_h", "split_v", "band", "diag")


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines the bytes written (``workers``/``progress`` do not)."""

    num_ids: int = 120
    seed: int = 0
    images_per_cam: int = 6
    height: int = 128
    width: int = 64
    test_fraction: float = 0.3
    val_fraction: float = 0.1

    def validate(self) -> None:
        if self.num_ids < 3:
            raise SfclError(f"num_ids={self.num_ids}: expected at least 3 identities")
        if self.images_per_cam < 1:
            raise SfclError(f"images_per_cam={self.images_per_cam}: expected >= 1")
        if self.height < 32 or self.width < 16:
            raise SfclError(f"image size {self.height}x{self.width}: expected at least 32x16")
        fr = (self.test_fraction, self.val_fraction)
        if not (0 < fr[0] < 1 and 0 <= fr[1] < 1 and sum(fr) < 1):
            raise SfclError(f"test_fraction={fr[0]}, val_fraction={fr[1]}: expected 0 < test, "
                            "0 <= val and test + val < 1")


@dataclass(frozen=True)
class Material:
    """A surface: visible ``color`` (RGB in [0, 1]) and infrared ``heat`` in [0, 1]."""

    color: tuple[float, float, float]
    heat: float


@dataclass(frozen=True)
class Garment:
    """Texture structure of one garment; ``accent`` fills the pattern's second tone."""

    texture: str
    freq: float
    phase: float
    spot: tuple[float, float, float]  # logo centre u, v and radius (garment units)
    split: float
    base: Material
    accent: Material


@dataclass(frozen=True)
class Identity:
    """Everything that makes a person recognisable, drawn once per identity."""

    head_h: float
    head_w: float
    shoulder_w: float
    hip_w: float
    torso_len: float
    arm_w: float
    leg_w: float
    stature: float
    skin: Material
    hair: Material
    hair_style: str
    top: Garment
    sleeve_len: float  # fraction of the arm covered, 0 = sleeveless
    top_ext: float  # how far the top reaches below the hips
    jacket_open: bool
    inner: Material
    bottom: Garment
    bottom_kind: str
    bottom_len: float  # fraction of the leg covered
    shoes: Material
    belt: Material | None
    scarf: Material | None
    backpack: Material | None
    bag: Material | None
    bag_side: int
    hat: Material | None


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


def _material(rng: np.random.Generator, heat: tuple[float, float], val: tuple[float, float]
              = (0.12, 0.95)) -> Material:
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.05, 0.9), rng.uniform(*val))
    return Material(tuple(float(c) for c in rgb), float(rng.uniform(*heat)))


def _garment(rng: np.random.Generator, textures: tuple[str, ...]) -> Garment:
    base = _material(rng, (0.3, 0.72))
    lum = float(np.mean(base.color))
    val = (0.05, max(0.1, lum - 0.3)) if lum > 0.5 else (min(0.9, lum + 0.3), 1.0)
    color = _material(rng, (0, 1), val).color
    # structure, not colour, carries over: the accent is hotter iff it is lighter
    delta = rng.uniform(0.2, 0.35) * np.sign(np.mean(color) - lum)
    accent = Material(color, float(np.clip(base.heat + delta, 0.08, 0.92)))
    spot = (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.25, 0.6)), float(rng.uniform(0.14, 0.24)))
    return Garment(str(rng.choice(textures)), float(rng.uniform(1.5, 4.5)), float(rng.uniform()),
                   spot, float(rng.uniform(0.35, 0.65)), base, accent)


@lru_cache(maxsize=1024)
def make_identity(seed: int, pid: int) -> Identity:
    """The attributes of identity ``pid``, a pure function of ``(seed, pid)``."""
    rng = _rng(seed, _TAG_ID, pid)
    tone = rng.uniform(0.25, 0.95)
    skin = Material((tone, tone * rng.uniform(0.72, 0.85), tone * rng.uniform(0.55, 0.72)),
                    float(rng.uniform(0.85, 0.97)))
    g = rng.uniform(0.0, 1.0)
    hair = Material(tuple(float(c) for c in colorsys.hsv_to_rgb(0.07, 0.6 * (1 - g), 0.08 + 0.7 * g ** 2)),
                    float(rng.uniform(0.3, 0.5)))
    acc = lambda p: _material(rng, (0.08, 0.35)) if rng.uniform() < p else None  # noqa: E731
    head_h = rng.uniform(0.11, 0.145)
    return Identity(
        head_h=head_h, head_w=head_h * rng.uniform(0.68, 0.85), shoulder_w=rng.uniform(0.2, 0.32),
        hip_w=rng.uniform(0.15, 0.22), torso_len=rng.uniform(0.26, 0.34),
        arm_w=rng.uniform(0.045, 0.075), leg_w=rng.uniform(0.06, 0.095), stature=rng.uniform(0.85, 1.0),
        skin=skin, hair=hair, hair_style=str(rng.choice(["short", "long", "ponytail", "bun", "buzz", "bald"])),
        top=_garment(rng, TEXTURES), sleeve_len=float(rng.choice([0.0, 0.3, 0.55, 1.0, 1.0])),
        top_ext=float(rng.uniform(-0.02, 0.12)), jacket_open=bool(rng.uniform() < 0.3),
        inner=_material(rng, (0.55, 0.8)),
        bottom=_garment(rng, ("solid", "hstripes", "vstripes", "checks", "split_v", "band")),
        bottom_kind=(kind := str(rng.choice(["trousers", "trousers", "shorts", "skirt"]))),
        bottom_len=float(rng.uniform(*{"trousers": (0.8, 1.0), "shorts": (0.3, 0.5), "skirt": (0.4, 0.85)}[kind])),
        shoes=_material(rng, (0.15, 0.35), (0.05, 0.9)), belt=acc(0.35), scarf=acc(0.25),
        backpack=acc(0.35), bag=acc(0.3), bag_side=int(rng.choice([-1, 1])), hat=acc(0.2))


@dataclass(frozen=True)
class _Scene:
    """A camera's fixed background: gradient, floor, boxes (rgb + heat each) and style."""

    top: np.ndarray
    bottom: np.ndarray
    horizon: float
    boxes: tuple[tuple[float, float, float, float, np.ndarray, float], ...]
    light: np.ndarray  # white-balance x brightness (3,)
    ir: tuple[float, float, float]  # gain, offset, gamma
    fixed_pattern: np.ndarray  # per-column infrared sensor offset (W,)


@lru_cache(maxsize=32)
def _scene(seed: int, cam: int, width: int) -> _Scene:
    rng = _rng(seed, _TAG_CAM, cam)
    outdoor = cam in (4, 5, 6)
    wall = rng.uniform(0.2, 0.8, 3)
    boxes = tuple((float(rng.uniform(-0.2, 1.0)), float(rng.uniform(-0.1, 0.8)), float(rng.uniform(0.1, 0.6)),
                   float(rng.uniform(0.04, 0.5)), np.clip(wall + rng.uniform(-0.3, 0.3, 3), 0, 1),
                   float(rng.uniform(0.0, 0.45)
                   if rng.uniform() > 0.15 else rng.uniform(0.6, 0.9))) for _ in range(int(rng.integers(5, 10))))
    wb = rng.uniform(0.82, 1.18, 3) * (np.array([0.92, 1.0, 1.1]) if outdoor else np.array([1.1, 1.0, 0.88]))
    return _Scene(wall, np.clip(wall + rng.uniform(-0.4, 0.2, 3), 0, 1), float(rng.uniform(0.5, 0.8)), boxes,
                  wb * rng.uniform(0.7, 1.15),
                  (float(rng.uniform(0.75, 1.15)), float(rng.uniform(0.0, 0.15)), float(rng.uniform(0.7, 1.4))),
                  rng.normal(0.0, 0.015, width))


class _Layers:
    """Anti-aliased masks in image space for a figure given in person-local units.

    Local frame: y from 0 (top of head) to 1 (soles), x centred on the body axis.
    ``ox, oy`` is the image position of local (0, 0), ``scale`` px per unit,
    ``mirror`` = +-1, ``shear`` leans the figure (x shifts with height above the feet).
    """

    def __init__(self, h: int, w: int, ox: float, oy: float, scale: float, mirror: float, shear: float):
        self.h, self.w, self.ox, self.oy, self.s, self.m, self.k = h, w, ox, oy, scale, mirror, shear
        self.pen = MaskPen(h, w)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
        self.ly = (ys - oy) / scale
        self.lx = ((xs - ox) / scale + shear * (1.0 - self.ly)) * mirror

    def _img(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        x = self.ox + self.s * (pts[:, 0] * self.m - self.k * (1.0 - pts[:, 1]))
        y = self.oy + self.s * pts[:, 1]
        return to_fixed(np.stack([x, y], 1), offset=-0.5)  # pixel centres to OpenCV's corners

    def poly(self, *polys: np.ndarray) -> np.ndarray:
        return self.pen.poly(*(self._img(p) for p in polys))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        t = np.linspace(0, 2 * np.pi, 28, endpoint=False)
        return self.poly(np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1))

    def limb(self, a: tuple[float, float], b: tuple[float, float], wa: float, wb: float) -> np.ndarray:
        """A tapered segment with round ends as one polygon (local units)."""
        (ax, ay), (bx, by) = a, b
        ang = np.arctan2(by - ay, bx - ax)
        t1 = np.linspace(ang + np.pi / 2, ang + 3 * np.pi / 2, 7)
        t2 = np.linspace(ang - np.pi / 2, ang + np.pi / 2, 7)
        return np.concatenate([np.stack([ax + wa / 2 * np.cos(t1), ay + wa / 2 * np.sin(t1)], 1),
                               np.stack([bx + wb / 2 * np.cos(t2), by + wb / 2 * np.sin(t2)], 1)])

    def below(self, y: float) -> np.ndarray:
        return np.clip((self.ly - y) * self.s + 0.5, 0.0, 1.0)


def _pattern(g: Garment, u: np.ndarray, v: np.ndarray, px: float) -> np.ndarray:
    """Accent selector in [0, 1] over garment coordinates ``u, v`` (0..1); ``px`` = px per unit."""
    edge = lambda d: np.clip(d * px + 0.5, 0.0, 1.0)  # noqa: E731  soft step, d in garment units
    wave = lambda c: np.sin(2 * np.pi * (g.freq * c + g.phase))  # noqa: E731
    if g.texture == "hstripes":
        return edge(wave(v) / (2 * np.pi * g.freq))
    if g.texture == "vstripes":
        return edge(wave(u) / (2 * np.pi * g.freq))
    if g.texture == "checks":
        return edge(wave(u) * wave(v) / (2 * np.pi * g.freq))
    if g.texture == "logo":
        return edge(g.spot[2] - np.hypot((u - g.spot[0]) * 0.6, v - g.spot[1]))
    if g.texture == "band":
        return edge(g.spot[2] * 0.8 - np.abs(v - g.split))
    if g.texture == "diag":
        return edge(wave(0.7 * (u + v)) / (2 * np.pi * g.freq))
    if g.texture == "split_h":
        return edge(v - g.split)
    if g.texture == "split_v":
        return edge(u - g.split)
    return np.zeros_like(u)


class _Painter:
    """Composites materials over a canvas: colour for visible, heat for infrared."""

    def __init__(self, canvas: np.ndarray, infrared: bool):
        self.canvas, self.ir = canvas, infrared

    def value(self, mat: Material) -> np.ndarray:
        return np.float32(mat.heat) if self.ir else np.asarray(mat.color, np.float32)

    def paint(self, mask: np.ndarray, mat: Material, accent: Material | None = None,
              select: np.ndarray | None = None) -> None:
        """``mat`` over the canvas through ``mask``; with ``accent``, blended towards it by ``select``."""
        composite(self.canvas, mask, self.value(mat), accent=None if accent is None else self.value(accent),
                  select=select)


def _background(scene: _Scene, rng: np.random.Generator, h: int, w: int, infrared: bool) -> np.ndarray:
    """The camera's scene shifted a little, plus a few per-image clutter boxes/lines."""
    dx, dy = rng.uniform(-0.08, 0.08, 2)
    yy = (np.arange(h, dtype=np.float32)[:, None, None] / h - dy)
    if infrared:
        base = 0.1 + 0.15 * scene.top.mean() + 0.1 * yy[..., 0] + np.zeros((h, w), np.float32)
        floor = 0.12 + 0.2 * scene.bottom.mean()
    else:
        base = scene.top + (scene.bottom - scene.top) * 0.5 * yy + np.zeros((h, w, 3), np.float32)
        floor = scene.bottom
    base = base.astype(np.float32)
    base[yy[:, 0, 0] > scene.horizon] = floor
    extra = [(*rng.uniform([-0.2, -0.1, 0.02, 0.02], [1.0, 1.0, 0.4, 0.3]),
              np.clip(scene.top + rng.uniform(-0.3, 0.3, 3), 0, 1),
              float(rng.uniform(0.0, 0.6))) for _ in range(int(rng.integers(1, 5)))]
    for x0, y0, bw, bh, rgb, heat in list(scene.boxes) + extra:
        x1, y1 = int((x0 + dx) * w), int((y0 + dy) * h)
        base[max(y1, 0):max(int(y1 + bh * h), 0), max(x1, 0):max(int(x1 + bw * w), 0)] = heat if infrared else rgb
    for _ in range(int(rng.integers(1, 4))):
        p = (rng.uniform(0, [w, h]) * (1 << SHIFT)).astype(np.int32)
        q = (rng.uniform(0, [w, h]) * (1 << SHIFT)).astype(np.int32)
        val = float(rng.uniform(0.0, 0.5)) if infrared else tuple(float(c) for c in rng.uniform(0, 1, 3))
        cv2.line(base, tuple(p), tuple(q), val, 1, cv2.LINE_AA, SHIFT)
    return base


def _skeleton(ident: Identity, view: str, rng: np.random.Generator) -> dict[str, object]:
    """Joint positions (local units) for one pose; arm/leg swing drawn per image."""
    ys = ident.head_h + 0.025
    yh = ys + ident.torso_len
    yf = 0.97
    side = view == "side"
    sw = ident.shoulder_w * (0.5 if side else 1.0)
    hw = ident.hip_w * (0.65 if side else 1.0)
    swing = rng.uniform(-0.45, 0.45) if side else rng.uniform(-0.12, 0.12)
    arm_len = (yh - ys) * 1.05 + 0.02
    arms, legs = [], []
    for sgn in (-1.0, 1.0):
        sx = 0.0 if side else sgn * (sw / 2 - ident.arm_w * 0.4)
        ang = sgn * swing + (0.0 if side else sgn * rng.uniform(0.03, 0.15))
        elbow = (sx + np.sin(ang) * arm_len / 2, ys + 0.02 + np.cos(ang) * arm_len / 2)
        ang2 = ang + (abs(swing) * 0.6 if side else 0.0)
        arms.append(((sx, ys + 0.02), elbow, (elbow[0] + np.sin(ang2) * arm_len / 2,
                                               elbow[1] + np.cos(ang2) * arm_len / 2)))
        hx = 0.0 if side else sgn * hw / 4
        la = -sgn * swing * 0.8 if side else sgn * rng.uniform(0.0, 0.06)
        leg_len = yf - yh
        legs.append(((hx, yh), (hx + np.sin(la) * leg_len / 2, yh + np.cos(la) * leg_len / 2),
                     (hx + np.sin(la) * leg_len, yh + np.cos(la) * leg_len)))
    return {"ys": ys, "yh": yh, "sw": sw, "hw": hw, "arms": arms, "legs": legs}


def _lerp(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _draw_arm(ident: Identity, joints: tuple, lay: _Layers, pen: _Painter) -> None:
    """Skin arm, then the sleeve over the first ``sleeve_len`` of it, then the hand."""
    sh, el, hand = joints
    w = ident.arm_w
    pen.paint(lay.poly(lay.limb(sh, el, w * 1.1, w), lay.limb(el, hand, w, w * 0.8)), ident.skin)
    f = ident.sleeve_len
    cover = [lay.ellipse(sh[0], sh[1] + w * 0.1, w * 0.65, w * 0.6)]
    if f > 0:
        cover.append(lay.poly(lay.limb(sh, _lerp(sh, el, min(2 * f, 1.0)), w * 1.25, w * 1.15)))
    if f > 0.5:
        cover.append(lay.poly(lay.limb(el, _lerp(el, hand, 2 * f - 1), w * 1.15, w * 1.05)))
    pen.paint(np.maximum.reduce(cover), ident.top.base)
    pen.paint(lay.ellipse(hand[0], hand[1] + 0.01, w * 0.55, w * 0.7), ident.skin)


def _draw_legs(ident: Identity, sk: dict, lay: _Layers, pen: _Painter, side: bool) -> None:
    """Shoes, skin legs, then trousers/shorts (cut at ``bottom_len``) or a skirt."""
    yh, hw, legs = sk["yh"], sk["hw"], sk["legs"]
    leg_len = legs[0][2][1] - yh
    for _, _, foot in legs:
        pen.paint(lay.ellipse(foot[0] + (0.05 if side else 0.0), foot[1] + 0.01,
                              ident.leg_w * (0.9 if side else 0.6), 0.022), ident.shoes)
    leg_mask = np.maximum.reduce([lay.poly(lay.limb(h, k, ident.leg_w * 1.1, ident.leg_w),
                                           lay.limb(k, f, ident.leg_w, ident.leg_w * 0.8)) for h, k, f in legs])
    pen.paint(leg_mask, ident.skin)
    cut = yh + leg_len * ident.bottom_len
    if ident.bottom_kind == "skirt":
        flare = hw * (1.3 if side else 1.5) * (1 + ident.bottom_len * 0.4)
        mask = lay.poly(np.array([[-hw / 2, yh - 0.02], [hw / 2, yh - 0.02], [flare / 2, cut], [-flare / 2, cut]]))
    else:
        mask = np.maximum(leg_mask * (1 - lay.below(cut)), lay.poly(_box(-hw / 2, yh - 0.02, hw, 0.07)))
    u, v = lay.lx / max(hw, 1e-3) + 0.5, (lay.ly - yh) / leg_len
    pen.paint(mask, ident.bottom.base, ident.bottom.accent, _pattern(ident.bottom, u, v, lay.s * leg_len))


def _draw_torso(ident: Identity, sk: dict, lay: _Layers, pen: _Painter, view: str) -> None:
    """Neck, the top garment with its texture, open jacket, belt and scarf."""
    ys, yh, sw, hw = sk["ys"], sk["yh"], sk["sw"], sk["hw"]
    pen.paint(lay.poly(_box(-ident.head_w * 0.22, ident.head_h * 0.8, ident.head_w * 0.44, 0.05)), ident.skin)
    bottom = yh + ident.top_ext
    flare = hw / 2 + 0.01 + max(ident.top_ext, 0.0) * 0.3
    torso = lay.poly(np.array([[-sw / 2, ys], [sw / 2, ys], [flare, bottom], [-flare, bottom]]))
    u, v = lay.lx / max(sw, 1e-3) + 0.5, (lay.ly - ys) / (bottom - ys)
    pen.paint(torso, ident.top.base, ident.top.accent, _pattern(ident.top, u, v, lay.s * (bottom - ys)))
    if ident.jacket_open and view == "front":
        pen.paint(lay.poly(_box(-sw * 0.13, ys + 0.01, sw * 0.26, bottom - ys - 0.01)), ident.inner)
    if ident.belt is not None and ident.top_ext < 0.03:
        pen.paint(lay.poly(_box(-flare, bottom - 0.03, 2 * flare, 0.03)), ident.belt)
    if ident.scarf is not None:
        pen.paint(lay.poly(_box(-sw * 0.3, ys - 0.015, sw * 0.6, 0.045)), ident.scarf)


def _draw_person(ident: Identity, view: str, lay: _Layers, pen: _Painter, rng: np.random.Generator) -> None:
    """The whole figure, back to front, for one ``view`` (front, back or side)."""
    sk = _skeleton(ident, view, rng)
    ys, yh, sw, hw = sk["ys"], sk["yh"], sk["sw"], sk["hw"]
    side = view == "side"
    if side:
        _draw_arm(ident, sk["arms"][0], lay, pen)
        if ident.backpack is not None:
            pen.paint(lay.poly(_box(-sw / 2 - 0.07, ys + 0.03, 0.09, ident.torso_len * 0.7)), ident.backpack)
    _draw_legs(ident, sk, lay, pen, side)
    _draw_torso(ident, sk, lay, pen, view)
    for arm in sk["arms"][1:] if side else sk["arms"]:
        _draw_arm(ident, arm, lay, pen)
    if ident.backpack is not None and not side:
        if view == "front":
            for sgn in (-1, 1):
                pen.paint(lay.poly(_box(sgn * sw * 0.3 - 0.012, ys, 0.024, ident.torso_len * 0.6)), ident.backpack)
        else:
            pen.paint(lay.poly(_box(-sw * 0.38, ys + 0.03, sw * 0.76, ident.torso_len * 0.75)), ident.backpack)
    if ident.bag is not None:
        s = ident.bag_side * (0.4 if side else 1.0)
        pen.paint(lay.poly(lay.limb((-s * sw / 2, ys), (s * (hw / 2 + 0.02), yh), 0.018, 0.018)), ident.bag)
        pen.paint(lay.poly(_box(s * hw / 2 - 0.03 * (s < 0) - 0.02, yh - 0.04, 0.09, 0.09)), ident.bag)
    _draw_head(ident, view, lay, pen)


def _box(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])


def _draw_head(ident: Identity, view: str, lay: _Layers, pen: _Painter) -> None:
    hh, hw = ident.head_h, ident.head_w
    cy = hh / 2
    style = ident.hair_style
    back = lay.poly(_box(-hw * 0.55, cy, hw * 1.1, hh * 1.1)) if style == "long" else None
    if back is not None and view != "back":
        pen.paint(back, ident.hair)
    dx = 0.015 if view == "side" else 0.0
    pen.paint(lay.ellipse(dx, cy, hw / 2, hh / 2), ident.skin)
    if style != "bald":
        cap = lay.ellipse(0, cy - hh * 0.04, hw * 0.54, hh * 0.54)
        if view != "back":
            cap = cap * (1 - lay.below(cy - hh * (0.3 if style == "buzz" else 0.12)))
            if view == "side":
                cap = np.maximum(cap, lay.ellipse(-hw * 0.15, cy, hw * 0.38, hh * 0.45))
        pen.paint(cap, ident.hair)
    if back is not None and view == "back":
        pen.paint(back, ident.hair)
    if style == "ponytail":
        pen.paint(lay.ellipse(-hw * 0.55 if view == "side" else 0, cy + hh * 0.3, hw * 0.2, hh * 0.35), ident.hair)
    if style == "bun":
        pen.paint(lay.ellipse(0, -hh * 0.05, hw * 0.25, hh * 0.2), ident.hair)
    if ident.hat is not None:
        pen.paint(lay.poly(np.array([[-hw * 0.55, cy - hh * 0.1], [hw * 0.55, cy - hh * 0.1], [hw * 0.45, -hh * 0.05],
                                     [-hw * 0.45, -hh * 0.05]]), _box(-hw * 0.75 if view == "side" else -hw * 0.7,
                                                                      cy - hh * 0.16, hw * 1.4, hh * 0.08)), ident.hat)


def render_image(seed: int, pid: int, cam: int, idx: int, height: int = 128, width: int = 64) -> np.ndarray:
    """Image ``idx`` of identity ``pid`` in camera ``cam`` as uint8 (H, W, 3) RGB.

    Infrared cameras (3, 6) return three identical channels. Pure function of its arguments.
    """
    ident, scene = make_identity(seed, pid), _scene(seed, cam, width)
    infrared = cam in NIR_CAMS
    track, rng = _rng(seed, _TAG_TRACK, pid, cam), _rng(seed, _TAG_IMG, pid, cam, idx)
    view = str(track.choice(["front", "back", "side"], p=[0.4, 0.4, 0.2]))
    mirror = float(track.choice([-1.0, 1.0])) * (-1.0 if view == "back" else 1.0)
    scale = height * ident.stature * track.uniform(0.8, 0.97) * rng.uniform(0.95, 1.05)
    if rng.uniform() < 0.12:  # partial crop: the detector box cut the head or the feet
        scale *= rng.uniform(1.1, 1.3)
    ox = width * (track.uniform(0.4, 0.6) + rng.uniform(-0.04, 0.04))
    oy = height * (0.5 + rng.uniform(-0.03, 0.03)) - scale * track.uniform(0.46, 0.54)
    lay = _Layers(height, width, ox, oy, scale, mirror, float(track.uniform(-0.05, 0.05) + rng.uniform(-0.03, 0.03)))
    canvas = _background(scene, rng, height, width, infrared)
    _draw_person(ident, view, lay, _Painter(canvas, infrared), rng)
    return _camera(canvas, scene, rng, infrared)


def _camera(canvas: np.ndarray, scene: _Scene, rng: np.random.Generator, infrared: bool) -> np.ndarray:
    """Illumination / thermal mapping, optics blur and sensor noise; returns uint8 RGB."""
    h, w = canvas.shape[:2]
    shade = np.float32(1.0) + np.linspace(-0.15, 0.15, w, dtype=np.float32) * np.float32(rng.uniform(-1, 1))
    if infrared:
        gain, offset, gamma = scene.ir
        img = offset + rng.uniform(-0.04, 0.04) + gain * rng.uniform(0.9, 1.1) * np.power(canvas, gamma) * shade
        img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.7, 1.3))
        img = img + scene.fixed_pattern[None, :] + rng.normal(0.0, rng.uniform(0.012, 0.025), (h, w))
        grey = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    light = scene.light * rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, 3)
    img = canvas * light.astype(np.float32) * shade[None, :, None]
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.4, 0.9))
    img = img + rng.normal(0.0, rng.uniform(0.008, 0.018), img.shape)
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def split_ids(config: SynthConfig) -> dict[str, list[int]]:
    """Seeded train/val/test partition of ``1..num_ids`` (each list sorted)."""
    n = config.num_ids
    order = _rng(config.seed, _TAG_SPLIT).permutation(np.arange(1, n + 1))
    n_test = min(max(1, round(n * config.test_fraction)), n - 1)
    n_val = min(round(n * config.val_fraction), n - n_test - 1)
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    return {k: sorted(int(i) for i in v) for k, v in parts.items()}


def _encode_jpeg(image: np.ndarray) -> bytes:
    return encode_image(image, "RGB", "JPEG", jpeg_quality=JPEG_QUALITY)


def _write_identity(job: tuple[str, SynthConfig, int]) -> int:
    """Render and write every image of one identity; skips files already present."""
    root, cfg, pid = job
    cv2.setNumThreads(1)
    written = 0
    for cam in CAMS:
        folder = Path(root) / f"cam{cam}" / f"{pid:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        for idx in range(1, cfg.images_per_cam + 1):
            path = folder / f"{idx:04d}.jpg"
            if path.exists():
                continue
            atomic_write(path, _encode_jpeg(render_image(cfg.seed, pid, cam, idx, cfg.height, cfg.width)), durable=False)
            written += 1
    return written


def _marker(cfg: SynthConfig) -> dict:
    return {"generator": "synthvi", "version": FORMAT_VERSION, **asdict(cfg)}


def _check_out(out: Path, cfg: SynthConfig) -> None:
    """Allow an empty/missing folder or a SynthVI folder made with the same parameters."""
    if out.exists() and not out.is_dir():
        raise SfclError(f"{out} is a file: expected a folder for the SynthVI dataset")
    if not out.exists() or not any(p.name != LOCK_NAME for p in out.iterdir()):
        return
    marker = out / MARKER
    try:
        found = json.loads(marker.read_text())
    except (OSError, ValueError):
        raise SfclError(f"{out} is not empty and has no readable {MARKER}: expected an empty folder "
                        "or a previous SynthVI output") from None
    if found != _marker(cfg):
        diff = sorted(k for k in set(found) | set(_marker(cfg)) if found.get(k) != _marker(cfg).get(k))
        raise SfclError(f"{out} holds SynthVI made with other parameters ({', '.join(diff)}): "
                        "expected the same parameters, or use another folder")


def synthesize(out: str | Path, num_ids: int = 120, seed: int = 0, images_per_cam: int = 6,
               height: int = 128, width: int = 64, test_fraction: float = 0.3, val_fraction: float = 0.1,
               workers: int = 1, progress: bool = False) -> Path:
    """Write SynthVI to ``out`` in the SYSU-MM01 layout and return ``out``.

    ``out`` must be missing, empty, or a previous SynthVI output with the same
    parameters (then existing images are kept and missing ones written, so an
    interrupted run resumes). Anything else raises :class:`SfclError`.
    ``workers`` > 1 renders identities in that many processes; bytes do not change.
    """
    cfg = SynthConfig(num_ids, seed, images_per_cam, height, width, test_fraction, val_fraction)
    cfg.validate()
    if workers < 1:
        raise SfclError(f"workers={workers}: expected >= 1")
    out = Path(out)
    _check_out(out, cfg)
    with OutputLock(out, "synth"):  # a second synthesis into this folder is refused
        remove_stale_temporaries(out, recursive=True)  # a killed run's
        return _synthesize(out, cfg, workers, progress)


def _synthesize(out: Path, cfg: SynthConfig, workers: int, progress: bool) -> Path:
    num_ids = cfg.num_ids
    atomic_write(out / MARKER, (json.dumps(_marker(cfg), indent=2) + "\n").encode(), durable=False)
    jobs = [(str(out), cfg, pid) for pid in range(1, num_ids + 1)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="SynthVI identities", unit="id")
    if workers == 1:
        results = map(_write_identity, jobs)
        for _ in results:
            bar is not None and bar.update(1)
    else:
        with process_pool(workers) as pool:
            for _ in pool.map(_write_identity, jobs, chunksize=max(1, len(jobs) // (8 * workers))):
                bar is not None and bar.update(1)
    if bar is not None:
        bar.close()
    (out / "exp").mkdir(exist_ok=True)
    for name, ids in split_ids(cfg).items():
        atomic_write(out / "exp" / f"{name}_id.txt", (",".join(str(i) for i in ids) + "\n").encode(), durable=False)
    return out
