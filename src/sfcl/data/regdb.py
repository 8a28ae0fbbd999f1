"""RegDB loader, reading the folder exactly as its authors ship it.

Layout::

    root/Visible/..., root/Thermal/...
    root/idx/train_visible_{t}.txt, train_thermal_{t}.txt,
             test_visible_{t}.txt,  test_thermal_{t}.txt      t = trial 1..10

Each list line is ``relative/path label`` (path relative to ``root``, e.g.
``Visible/Female/...bmp``); the pid is the integer label. Visible images get
cam 1, thermal cam 2. Training labels are the contiguous index over the sorted
training pids. ``test`` order: visible test images in list order, then thermal
test images in list order (the order the AGW code reads them).
"""

from __future__ import annotations

from pathlib import Path

from sfcl.data.base import ReIDDataset, Sample, require_dir, require_file
from sfcl.errors import SfclError

PROTOCOLS: tuple[str, ...] = ("regdb-v2t", "regdb-t2v")
VIS_CAM, NIR_CAM = 1, 2


def read_list(root: Path, list_path: Path) -> list[tuple[Path, int]]:
    """Parse a ``path label`` list file; every listed image must exist under ``root``."""
    require_file(list_path, "image list with lines 'relative/path label'")
    out: list[tuple[Path, int]] = []
    for lineno, line in enumerate(list_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError
            rel, pid = parts[0], int(parts[1])
        except ValueError:
            raise SfclError(
                f"unparsable line {lineno} of {list_path}: expected 'relative/path label', got {line.strip()!r}"
            ) from None
        path = root / rel
        if not path.is_file():
            raise SfclError(f"missing image {path} (listed in {list_path} line {lineno}): expected an image file")
        out.append((path, pid))
    return out


def load_regdb(root: str | Path, trial: int = 1) -> ReIDDataset:
    """Load RegDB (or Occ-RegDB) trial ``trial`` (1..10) from ``root``."""
    if not 1 <= int(trial) <= 10:
        raise SfclError(f"RegDB trial={trial}: expected an integer 1..10")
    root = Path(root).resolve()
    require_dir(root, "RegDB dataset root")
    require_dir(root / "Visible", "RegDB Visible/ folder")
    require_dir(root / "Thermal", "RegDB Thermal/ folder")
    idx = require_dir(root / "idx", "RegDB idx/ folder with list files")
    train_v = read_list(root, idx / f"train_visible_{trial}.txt")
    train_t = read_list(root, idx / f"train_thermal_{trial}.txt")
    test_v = read_list(root, idx / f"test_visible_{trial}.txt")
    test_t = read_list(root, idx / f"test_thermal_{trial}.txt")
    if not train_v or not train_t:
        raise SfclError(f"no training images in {idx}/train_*_{trial}.txt: expected 'path label' lines")
    if not test_v or not test_t:
        raise SfclError(f"no test images in {idx}/test_*_{trial}.txt: expected 'path label' lines")
    pids = sorted({pid for _, pid in train_v + train_t})
    labels = {pid: i for i, pid in enumerate(pids)}
    train = [Sample(str(p), pid, VIS_CAM, "vis", labels[pid]) for p, pid in train_v]
    train += [Sample(str(p), pid, NIR_CAM, "nir", labels[pid]) for p, pid in train_t]
    test = [Sample(str(p), pid, VIS_CAM, "vis") for p, pid in test_v]
    test += [Sample(str(p), pid, NIR_CAM, "nir") for p, pid in test_t]
    return ReIDDataset("regdb", str(root), train, test, len(pids), PROTOCOLS, {"trial": int(trial)})
