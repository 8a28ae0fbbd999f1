"""A picture grid of visible/infrared pairs before and after occlusion (README figure, sanity check).

``render_grid(src, out, png)`` reads an occluded dataset's manifest, picks
identities that have both a visible and an infrared occluded image, and lays
out, per identity, four tiles: visible before | after | infrared before | after.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sfcl.errors import SfclError
from sfcl.imageio import decode_image
from sfcl.occlusion.io import save_png
from sfcl.occlusion.manifest import NAME as MANIFEST
from sfcl.occlusion.manifest import read_manifest

LABELS = ("visible", "occluded", "infrared", "occluded")


def _tile(path: Path, height: int, width: int) -> np.ndarray:
    pixels, _ = decode_image(path.read_bytes(), path)
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    shrink = rgb.shape[0] >= height
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def pick_pairs(records: list[dict], count: int) -> list[tuple[dict, dict]]:
    """Up to ``count`` (visible, infrared) record pairs of distinct identities, identities in sorted order."""
    by_pid: dict[int, dict[str, dict]] = {}
    for rec in sorted(records, key=lambda r: r["path"]):
        by_pid.setdefault(rec.get("pid", -1), {}).setdefault(rec["modality"], rec)
    pairs = [(m["vis"], m["nir"]) for _, m in sorted(by_pid.items()) if "vis" in m and "nir" in m]
    return pairs[:count]


def _label_bar(labels: tuple[str, ...], width: int, per_row: int) -> np.ndarray:
    bar = np.full((22, width * len(labels) * per_row + 8 * (per_row - 1), 3), 255, np.uint8)
    for k in range(per_row):
        for i, text in enumerate(labels):
            x = k * (width * len(labels) + 8) + i * width + 4
            cv2.putText(bar, text, (x, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    return bar


def render_grid(src: str | Path, out: str | Path, png: str | Path, rows: int = 3, per_row: int = 2,
                height: int = 192, width: int = 96) -> Path:
    """Write the before/after grid of ``rows * per_row`` identities to ``png``; returns its path."""
    src, out = Path(src), Path(out)
    _, records = read_manifest(out / MANIFEST)
    pairs = pick_pairs(records, rows * per_row)
    if not pairs:
        raise SfclError(f"no identity of {out} has both a visible and an infrared occluded image: expected a "
                        "build whose splits cover both modalities")
    groups = []
    for vis, nir in pairs:
        tiles = [_tile(root / rec["path"], height, width) for rec in (vis, nir) for root in (src, out)]
        groups.append(np.concatenate(tiles, axis=1))
    gap = np.full((height, 8, 3), 255, np.uint8)
    blank = np.full_like(groups[0], 255)
    lines = []
    for r in range(0, len(groups), per_row):
        row = groups[r:r + per_row] + [blank] * (per_row - len(groups[r:r + per_row]))
        parts = [x for g in row for x in (g, gap)][:-1]
        lines.append(np.concatenate(parts, axis=1))
        lines.append(np.full((6, lines[-1].shape[1], 3), 255, np.uint8))
    image = np.concatenate([_label_bar(LABELS, width, per_row)] + lines[:-1], axis=0)
    png = Path(png)
    save_png(png, image)
    return png
