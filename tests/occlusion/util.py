"""Helpers for the occlusion tests: tree digests and small RegDB / LLCM layouts drawn with SynthVI."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image

from sfcl.data.synthvi import render_image

SMALL = dict(num_ids=6, images_per_cam=2, height=64, width=32)


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _save(path: Path, pid: int, cam: int, idx: int, fmt: str | None = None, grey: bool = False) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = render_image(7, pid, cam, idx, 64, 32)
    image = Image.fromarray(pixels[..., 0] if grey else pixels)
    image.save(path, format=fmt)
    return path.name


def make_regdb(root: Path, trials: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] | None = None,
               per_id: int = 2) -> Path:
    """RegDB layout (BMP, thermal stored as one-channel 'L'); ``trials``: trial -> (train ids, test ids)."""
    trials = trials or {1: ((1, 2), (3, 4)), 2: ((3, 4), (1, 2))}
    ids = sorted({p for tr, te in trials.values() for p in tr + te})
    for pid in ids:
        for j in range(per_id):
            _save(root / "Visible" / str(pid) / f"v_{pid}_{j}.bmp", pid, 1, j + 1, "BMP")
            _save(root / "Thermal" / str(pid) / f"t_{pid}_{j}.bmp", pid, 3, j + 1, "BMP", grey=True)
    (root / "idx").mkdir(parents=True, exist_ok=True)
    for t, (train, test) in trials.items():
        for split, pids in (("train", train), ("test", test)):
            for folder, key, prefix in (("Visible", "visible", "v"), ("Thermal", "thermal", "t")):
                lines = [f"{folder}/{p}/{prefix}_{p}_{j}.bmp {p}" for p in pids for j in range(per_id)]
                (root / "idx" / f"{split}_{key}_{t}.txt").write_text("\n".join(lines) + "\n")
    return root


def make_llcm(root: Path, train=(1, 2), test=(3, 4), per_cam: int = 2) -> Path:
    """LLCM layout (DEEN release) with SynthVI-drawn images."""
    (root / "idx").mkdir(parents=True, exist_ok=True)
    for mod, cam in (("vis", 1), ("nir", 3)):
        lines = []
        for pid in train:
            for j in range(per_cam):
                rel = f"{mod}/{pid:04d}/{pid:04d}_c0{j + 1}_s1_f{j}_{mod}.jpg"
                _save(root / rel, pid, cam, j + 1)
                lines.append(f"{rel} {pid}")
        (root / "idx" / f"train_{mod}.txt").write_text("\n".join(lines) + "\n")
    for mod, cam in (("vis", 2), ("nir", 6)):
        for pid in test:
            for j in range(per_cam):
                _save(root / f"test_{mod}" / f"cam{cam}" / f"{pid:04d}" / f"{j + 1:03d}.jpg", pid, cam, j + 1)
    return root
