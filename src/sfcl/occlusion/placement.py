"""Scene-aware placement and feathered blending of one occluder on one person image.

Paper ("Semantic Occlusion Dataset Construction"):
``X_o = m_{eps,p} * X + (1 - m_{eps,p}) * o_{eps,p}`` with scale eps ~ U(0.1, 0.7),
scene-aware positions, category rotation across images and feathered blending.

Decisions (``docs/OCCLUSION.md``):

- The person box is the whole re-ID crop (H, W). ``eps`` is the occluder box's
  area as a fraction of it: ``bw * bh = eps * H * W`` (to the pixel). The box keeps
  the occluder's aspect ratio, except ``full`` (height H, width ``eps * W``) and a
  box taller than H (height clamped to H, widened to keep the area). A box may
  extend past the frame: a car entering from the side, a sign post cut by the crop.
- Position rule from the occluder's ``body_part`` attribute (:data:`RULES`):
  ``bottom`` (ground objects) bottom edge at or below the image's bottom (sunk by
  up to 10 % of its height), centre anywhere across; ``full`` (poles, signs)
  top 0, bottom H, inside the frame horizontally; ``side`` (other pedestrians)
  entering from the left or right edge (50-100 % of its width inside), feet near
  the bottom; ``top`` (umbrellas, branches) top edge at or above the image's top.
- Feathering: the resized mask is blurred with a Gaussian of ``feather`` px, so
  the alpha ramps strictly between 0 and 1 across the border band; colours are
  extended into the halo by mask-normalised blur. ``m = 1 - feathered alpha``.
- Infrared targets get the occluder calibrated (``calibrate.py``) against the
  target's own intensities; every channel receives the same grey, so an infrared
  image with equal channels keeps equal channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from sfcl.errors import SfclError
from sfcl.occlusion.calibrate import calibrate_infrared, grayscale
from sfcl.occlusion.library import SCENES, Occluder, OcclusionLibrary

RULES: dict[str, str] = {"lower": "bottom", "full": "full", "side": "side", "upper": "top"}
SCALE_RANGE: tuple[float, float] = (0.1, 0.7)
FEATHER_RANGE: tuple[float, float] = (0.6, 1.5)
SMOOTH_RANGE: tuple[float, float] = (0.5, 1.2)
SINK = 0.1  # bottom/top rules: how far past the edge the box may reach (fraction of its height)
_TAG_ROTATION = 11


@dataclass(frozen=True)
class Placement:
    """Where and how one occluder lands on one image (everything the renderer needs).

    ``box`` = (x0, y0, x1, y1) in image pixels, x1/y1 exclusive, possibly past the frame.
    ``smooth`` is the infrared calibration blur (px); ``None`` for visible targets.
    """

    occluder: str
    category: str
    rule: str
    scale: float
    box: tuple[int, int, int, int]
    flip: bool
    feather: float
    smooth: float | None


@dataclass(frozen=True)
class Layer:
    """A rendered occluder: colour (h, w, C) float32 0..255, feathered alpha (h, w), top-left (x, y) in the image."""

    color: np.ndarray
    alpha: np.ndarray
    origin: tuple[int, int]
    calibration: dict | None


def rule_of(body_part: str) -> str:
    return RULES[body_part]


def box_size(rule: str, scale: float, aspect: float, height: int, width: int) -> tuple[int, int]:
    """Box (width, height) in px with area ``scale * height * width``; ``aspect`` = occluder w / h."""
    area = scale * height * width
    if rule == "full":
        bh, bw = float(height), area / height
    else:
        bh = math.sqrt(area / aspect)
        bw = aspect * bh
        if bh > height:
            bh, bw = float(height), area / height
    return max(1, round(bw)), max(1, round(bh))


def box_position(rng: np.random.Generator, rule: str, bw: int, bh: int, height: int, width: int) -> tuple[int, int]:
    """Top-left (x0, y0) of a ``bw`` x ``bh`` box following ``rule``."""
    if rule == "full":
        return round(rng.uniform(min(0, width - bw), max(0, width - bw))), 0
    if rule == "bottom":
        y1 = height + round(rng.uniform(0.0, SINK) * bh)
        return round(rng.uniform(0, width) - bw / 2), y1 - bh
    if rule == "top":
        return round(rng.uniform(0, width) - bw / 2), -round(rng.uniform(0.0, SINK) * bh)
    if rule == "side":
        inside = max(1, round(rng.uniform(0.5, 1.0) * bw))
        x0 = inside - bw if rng.uniform() < 0.5 else width - inside
        y1 = height + round(rng.uniform(-0.05 * height, SINK * bh))
        return x0, y1 - bh
    raise SfclError(f"placement rule {rule!r}: expected one of {', '.join(RULES.values())}")


def sample_placement(rng: np.random.Generator, occluder: Occluder, height: int, width: int,
                     infrared: bool) -> Placement:
    """Draw scale, flip, position, feather and (infrared) smoothing for ``occluder`` on an H x W image."""
    rule = rule_of(occluder.info.body_part)
    scale = round(float(rng.uniform(*SCALE_RANGE)), 4)
    flip = bool(rng.uniform() < 0.5)
    h, w = occluder.rgba.shape[:2]
    bw, bh = box_size(rule, scale, w / h, height, width)
    x0, y0 = box_position(rng, rule, bw, bh, height, width)
    feather = round(float(rng.uniform(*FEATHER_RANGE)), 3)
    smooth = round(float(rng.uniform(*SMOOTH_RANGE)), 3)
    return Placement(occluder.info.id, occluder.info.category, rule, scale, (x0, y0, x0 + bw, y0 + bh), flip,
                     feather, smooth if infrared else None)


def assign_categories(scenes: list[str], library: OcclusionLibrary, seed: int) -> list[str]:
    """Category rotation: image k of scene s gets ``order_s[k mod n_s]``.

    ``order_s`` is a seeded permutation of the categories that have an occluder
    usable in scene s; ``scenes`` is given in the build's image order.
    """
    orders: dict[str, list[str]] = {}
    for scene in sorted(set(scenes)):
        allowed = [c for c in library.categories() if library.for_scene(c, scene)]
        if not allowed:
            raise SfclError(f"occlusion library {library.name} has no occluder for {scene} scenes: expected "
                            f"at least one with scene {scene!r} or 'any'")
        perm = np.random.default_rng([seed, _TAG_ROTATION, SCENES.index(scene)]).permutation(len(allowed))
        orders[scene] = [allowed[i] for i in perm]
    counters = dict.fromkeys(orders, 0)
    out = []
    for scene in scenes:
        out.append(orders[scene][counters[scene] % len(orders[scene])])
        counters[scene] += 1
    return out


def choose_occluder(rng: np.random.Generator, library: OcclusionLibrary, category: str, scene: str) -> Occluder:
    candidates = library.for_scene(category, scene)
    return candidates[int(rng.integers(len(candidates)))]


def resize_occluder(rgba: np.ndarray, bw: int, bh: int, flip: bool) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied resize of uint8 RGBA to (bh, bw): straight colour float32 (bh, bw, 3), alpha (bh, bw) in [0, 1]."""
    src = rgba[:, ::-1] if flip else rgba
    f = src.astype(np.float32)
    alpha = f[..., 3:] / 255.0
    pm = np.concatenate([f[..., :3] * alpha, alpha], axis=2)
    shrink = bw <= src.shape[1] and bh <= src.shape[0]
    out = cv2.resize(pm, (bw, bh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    out = out.reshape(bh, bw, 4)
    a = np.clip(out[..., 3], 0.0, 1.0)
    rgb = np.clip(out[..., :3] / np.maximum(a, 1e-4)[..., None], 0.0, 255.0)
    return rgb.astype(np.float32), a.astype(np.float32)


def feather(color: np.ndarray, alpha: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Pad by ~3 sigma, blur the alpha, extend colours into the halo; returns (colour, alpha, pad).

    ``color`` is (h, w, C) float32; outputs are (h + 2 pad, w + 2 pad[, C]).
    """
    pad = int(math.ceil(3.0 * sigma)) + 1
    a = cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0.0)
    c = np.pad(color, ((pad, pad), (pad, pad), (0, 0)))
    soft = cv2.GaussianBlur(a, (0, 0), sigma)
    spread = cv2.GaussianBlur(c * a[..., None], (0, 0), sigma).reshape(c.shape)
    halo = spread / np.maximum(soft, 1e-4)[..., None]
    color_out = np.where((a >= 0.5)[..., None], c, halo)
    return color_out.astype(np.float32), np.clip(soft, 0.0, 1.0).astype(np.float32), pad


def render_layer(occluder: Occluder, placement: Placement, target_gray: np.ndarray | None) -> Layer:
    """Resize, flip, (infrared) calibrate against ``target_gray`` and feather the occluder."""
    x0, y0, x1, y1 = placement.box
    rgb, alpha = resize_occluder(occluder.rgba, x1 - x0, y1 - y0, placement.flip)
    calibration = None
    if target_gray is not None:
        rgb8 = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
        if placement.smooth is None:
            color = grayscale(rgb8).astype(np.float32)[..., None]
        else:
            gray, calibration = calibrate_infrared(rgb8, alpha, target_gray, placement.smooth)
            color = gray[..., None]
    else:
        color = rgb
    color, soft, pad = feather(color, alpha, placement.feather)
    return Layer(color, soft, (x0 - pad, y0 - pad), calibration)


def composite(pixels: np.ndarray, layer: Layer) -> tuple[np.ndarray, float]:
    """``X_o = m X + (1 - m) o`` with ``m = 1 - alpha`` over the layer's footprint; returns (uint8, coverage).

    ``pixels`` is uint8 (H, W, 3) or (H, W); a one-channel layer colour is
    broadcast to every channel. ``coverage``: fraction of the image with alpha >= 0.5.
    """
    height, width = pixels.shape[:2]
    ox, oy = layer.origin
    lh, lw = layer.alpha.shape
    ys, ye, xs, xe = max(oy, 0), min(oy + lh, height), max(ox, 0), min(ox + lw, width)
    out = pixels.copy()
    if ys >= ye or xs >= xe:
        return out, 0.0
    a = layer.alpha[ys - oy:ye - oy, xs - ox:xe - ox][..., None]
    o = layer.color[ys - oy:ye - oy, xs - ox:xe - ox]
    x = pixels[ys:ye, xs:xe].astype(np.float32)
    x3 = x[..., None] if x.ndim == 2 else x
    if x3.shape[2] == 1 and o.shape[2] == 3:
        o = grayscale(np.clip(o + 0.5, 0, 255).astype(np.uint8)).astype(np.float32)[..., None]
    blended = (1.0 - a) * x3 + a * o
    out[ys:ye, xs:xe] = np.clip(np.floor(blended + 0.5), 0, 255).astype(np.uint8).reshape(x.shape)
    return out, round(float((a >= 0.5).sum()) / (height * width), 4)


def apply_placement(pixels: np.ndarray, infrared: bool, occluder: Occluder,
                    placement: Placement) -> tuple[np.ndarray, dict]:
    """Occlude uint8 ``pixels`` (H, W, 3) or (H, W) with ``occluder`` at ``placement``.

    Returns the occluded pixels (same shape and dtype) and ``{"coverage", "calibration"}``.
    """
    target = None
    if infrared:
        target = pixels if pixels.ndim == 2 else grayscale(pixels)
    layer = render_layer(occluder, placement, target)
    out, coverage = composite(pixels, layer)
    return out, {"coverage": coverage, "calibration": layer.calibration}
