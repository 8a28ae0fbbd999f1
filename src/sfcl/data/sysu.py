"""SYSU-MM01 loader, reading the folder exactly as its authors ship it.

Layout::

    root/cam1..cam6/<id:04d>/<img>.jpg     visible cams 1, 2, 4, 5; infrared cams 3, 6
    root/exp/train_id.txt                  one line of comma-separated ids
    root/exp/val_id.txt
    root/exp/test_id.txt

Training uses train ∪ val ids in both modalities (as the AGW baseline does); a
camera folder missing for an identity is normal and skipped. ``label`` is the
index of the pid in the sorted list of training pids, identical in both
modalities. ``test`` holds every image of the test ids: pid sorted, then
cam1..cam6, then file names sorted. ``meta["rand_perm_cam"]`` is the path of
``exp/rand_perm_cam.mat`` or ``data_split/rand_perm_cam.mat`` when present
(official multi-shot gallery permutation).
"""

from __future__ import annotations

from pathlib import Path

from sfcl.data.base import ReIDDataset, Sample, require_dir, require_file
from sfcl.errors import SfclError

VIS_CAMS: tuple[int, ...] = (1, 2, 4, 5)
NIR_CAMS: tuple[int, ...] = (3, 6)
ALL_CAMS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
PROTOCOLS: tuple[str, ...] = ("sysu-all-single", "sysu-indoor-single", "sysu-all-multi", "sysu-indoor-multi")


def cam_modality(cam: int) -> str:
    """``"vis"`` for cams 1, 2, 4, 5; ``"nir"`` for cams 3, 6."""
    return "nir" if cam in NIR_CAMS else "vis"


def read_id_file(path: Path) -> list[int]:
    """Parse a SYSU id file: comma-separated ints (whitespace and newlines tolerated)."""
    require_file(path, "SYSU-MM01 id list (one line of comma-separated ints)")
    text = path.read_text().replace("\n", ",").strip().strip(",")
    try:
        ids = [int(tok) for tok in text.split(",") if tok.strip()]
    except ValueError:
        raise SfclError(f"unparsable id file {path}: expected comma-separated integers") from None
    return ids


def _images_of(root: Path, pid: int, cam: int) -> list[Path]:
    """Sorted image files of one id/camera; empty when the folder is absent."""
    folder = root / f"cam{cam}" / f"{pid:04d}"
    if not folder.is_dir():
        return []
    return [folder / name for name in sorted(p.name for p in folder.iterdir() if p.is_file())]


def _samples(root: Path, pids: list[int], labels: dict[int, int] | None) -> list[Sample]:
    out: list[Sample] = []
    for pid in pids:
        for cam in ALL_CAMS:
            label = labels[pid] if labels is not None else -1
            out.extend(Sample(str(p), pid, cam, cam_modality(cam), label) for p in _images_of(root, pid, cam))
    return out


def load_sysu(root: str | Path, eval_split: str = "test") -> ReIDDataset:
    """Load SYSU-MM01 (or Occ-SYSU-MM01 / SynthVI, same layout) from ``root``.

    ``eval_split="val"``: train on exp/train_id.txt only, test on exp/val_id.txt (choosing settings)."""
    root = Path(root).resolve()
    require_dir(root, "SYSU-MM01 dataset root")
    for cam in ALL_CAMS:
        require_dir(root / f"cam{cam}", f"SYSU-MM01 camera folder cam{cam}")
    exp = require_dir(root / "exp", "SYSU-MM01 exp/ folder with id lists")
    if eval_split == "val":
        train_pids = sorted(set(read_id_file(exp / "train_id.txt")))
        test_pids = sorted(set(read_id_file(exp / "val_id.txt")))
    else:
        train_pids = sorted(set(read_id_file(exp / "train_id.txt")) | set(read_id_file(exp / "val_id.txt")))
        test_pids = sorted(set(read_id_file(exp / "test_id.txt")))
    labels = {pid: i for i, pid in enumerate(train_pids)}
    train = _samples(root, train_pids, labels)
    if not train:
        raise SfclError(f"no training images under {root}: expected cam<k>/<id:04d>/ folders for exp/train_id.txt ids")
    if not test_pids:
        raise SfclError(f"no test ids in {exp / 'test_id.txt'}: expected comma-separated integers")
    test = _samples(root, test_pids, None)
    if not test:
        raise SfclError(f"no test images under {root}: expected cam<k>/<id:04d>/ folders for exp/test_id.txt ids")
    meta: dict = {}
    for cand in (exp / "rand_perm_cam.mat", root / "data_split" / "rand_perm_cam.mat"):
        if cand.is_file():
            meta["rand_perm_cam"] = str(cand)
            break
    return ReIDDataset("sysu", str(root), train, test, len(train_pids), PROTOCOLS, meta)
