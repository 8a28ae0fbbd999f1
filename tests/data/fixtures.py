"""Tiny on-disk dataset layouts (8x4 images) for the loader tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def write_image(path: Path, value: int = 128, fmt: str | None = None) -> Path:
    """Write an 8x4 (H x W) RGB image at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 8), (value % 256, (value * 7) % 256, (value * 13) % 256)).save(path, format=fmt)
    return path


def make_sysu(root: Path, train=(1, 2), val=(3,), test=(4, 5), per_cam: int = 2, skip=((2, 5),)) -> Path:
    """SYSU-MM01 layout; ``skip`` lists (pid, cam) folders left out (normal in SYSU)."""
    for cam in range(1, 7):
        (root / f"cam{cam}").mkdir(parents=True, exist_ok=True)
        for pid in (*train, *val, *test):
            if (pid, cam) in skip:
                continue
            for j in range(per_cam, 0, -1):  # written in reverse to check sorting
                write_image(root / f"cam{cam}" / f"{pid:04d}" / f"{j:04d}.jpg", pid * 10 + cam)
    (root / "exp").mkdir(exist_ok=True)
    for name, ids in (("train", train), ("val", val), ("test", test)):
        (root / "exp" / f"{name}_id.txt").write_text(",".join(str(i) for i in ids))
    return root


def make_regdb(root: Path, trial: int = 1, train=(3, 1), test=(7, 5), per_id: int = 2) -> Path:
    """RegDB layout with one trial's four list files."""
    (root / "idx").mkdir(parents=True, exist_ok=True)
    for split, pids in (("train", train), ("test", test)):
        for folder, key in (("Visible", "visible"), ("Thermal", "thermal")):
            lines = []
            for pid in pids:
                for j in range(per_id):
                    rel = f"{folder}/Male/{pid}/{key}_{pid}_{j}.bmp"
                    write_image(root / rel, pid, fmt="BMP")
                    lines.append(f"{rel} {pid}")
            (root / "idx" / f"{split}_{key}_{trial}.txt").write_text("\n".join(lines) + "\n")
    return root


def make_llcm(root: Path, train=(2, 1), test=(9, 8), cams_vis=(1, 2), cams_nir=(1, 4), per_cam: int = 2,
              test_id_file: bool = True) -> Path:
    """LLCM layout (DEEN release): idx/train_{vis,nir}.txt, idx/test_id.txt, test_{vis,nir}/cam<k>/<id>/."""
    (root / "idx").mkdir(parents=True, exist_ok=True)
    for mod in ("vis", "nir"):
        lines = []
        for pid in train:
            for j in range(per_cam):
                rel = f"{mod}/{pid:04d}/{pid:04d}_c0{j + 1}_s1_f{j}_{mod}.jpg"
                write_image(root / rel, pid)
                lines.append(f"{rel} {pid}")
        (root / "idx" / f"train_{mod}.txt").write_text("\n".join(lines) + "\n")
    for mod, cams in (("vis", cams_vis), ("nir", cams_nir)):
        for cam in cams:
            for pid in test:
                for j in range(per_cam, 0, -1):
                    write_image(root / f"test_{mod}" / f"cam{cam}" / f"{pid:04d}" / f"{j:03d}.jpg", pid)
    if test_id_file:
        (root / "idx" / "test_id.txt").write_text(",".join(str(pid) for pid in sorted(test)) + "\n")
    return root
