"""SYSU-MM01 loader, reading the folder exactly as its authors ship it.

Layout::

    root/cam1..cam6/<id:04d>/<img>.jpg     visible cams 1, 2, 4, 5; infrared cams 3, 6
    root/exp/train_id.txt                  one line of comma-separated ids
    root/exp/val_id.txt
    root/exp/test_id.txt

Training uses train ∪ val ids in both modalities (as the AGW baseline does); a
camera folder missing for an identity is normal and skipped. ``label`` is the
index of the pid in the sorted list of training pids, identical in both
modalities. Before anything is returned the split is checked: every sub-folder of
``cam<k>/`` is a 4-digit id (hidden names ignored; files other than images, e.g. the
``Thumbs.db`` SYSU-MM01 ships, are skipped), every listed id has images, and the test
list shares no id with the training lists; each failure is one line naming the file and
the ids (the count and the first few). ``test`` holds every image of the test ids: pid sorted, then
cam1..cam6, then file names sorted. ``meta["rand_perm_cam"]`` is the path of
``exp/rand_perm_cam.mat`` or ``data_split/rand_perm_cam.mat`` when present
(official multi-shot gallery permutation).

Protocols (AGW's ``process_query_sysu`` / ``process_gallery_sysu``):
  query   every infrared image (cameras 3 and 6) of the test identities, in both
          all- and indoor-search;
  gallery per trial ``t`` in 0..9: ``random.seed(t)``, then for each test
          identity (sorted) and each gallery camera in order (all: 1, 2, 4, 5;
          indoor: 1, 2) one ``random.choice`` among that identity/camera's images
          sorted by file name. We replay exactly that call sequence with a
          private ``random.Random(t)`` (same generator, same draws).
  multi-shot: 10 images per identity/camera. With the official
          ``rand_perm_cam.mat`` (``meta["rand_perm_cam"]``) the first 10 image
          numbers of ``rand_perm_cam[cam-1][0][pid-1][t]`` are taken, as the
          official evaluation does; without it ``random.Random(t).sample`` of
          min(10, n) in the same loop order ("seeded"). The results say which.
  scoring: rule ``drop-cam3-cam2`` (queries of camera 3 lose the gallery items of
          camera 2, which films the same room) with an identity-de-duplicated CMC.

Scene of each camera (scene-aware occluders): cams 1, 2, 3 indoor, 4, 5, 6 outdoor.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from sfcl.data.base import ReIDDataset, Sample, few, image_files, require_dir, require_file
from sfcl.data.spec import DatasetSpec, Protocol, Trial, groups, indices, seeded_gallery
from sfcl.errors import SfclError
from sfcl.fileio import read_text_file
from sfcl.modality import NIR, VIS

VIS_CAMS: tuple[int, ...] = (1, 2, 4, 5)
NIR_CAMS: tuple[int, ...] = (3, 6)
ALL_CAMS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
GALLERY_CAMS: dict[str, tuple[int, ...]] = {"all": VIS_CAMS, "indoor": (1, 2)}
INDOOR_CAMS: tuple[int, ...] = (1, 2, 3)
MULTI_SHOT = 10


def cam_modality(cam: int) -> str:
    """``"vis"`` for cams 1, 2, 4, 5; ``"nir"`` for cams 3, 6."""
    return NIR if cam in NIR_CAMS else VIS


def scene_of(cam: int) -> str:
    return "indoor" if cam in INDOOR_CAMS else "outdoor" if cam in ALL_CAMS else "any"


def read_id_file(path: Path) -> list[int]:
    """Parse a SYSU id file: comma-separated ints (whitespace and newlines tolerated)."""
    require_file(path, "SYSU-MM01 id list (one line of comma-separated ints)")
    text = read_text_file(path, "a SYSU-MM01 id list (comma-separated ints)").replace("\n", ",").strip().strip(",")
    try:
        ids = [int(tok) for tok in text.split(",") if tok.strip()]
    except ValueError:
        raise SfclError(f"unparsable id file {path}: expected comma-separated integers") from None
    return ids


def _images_of(root: Path, pid: int, cam: int) -> list[Path]:
    """Sorted image files of one id/camera (hidden files and ``Thumbs.db`` skipped); empty when absent."""
    return image_files(root / f"cam{cam}" / f"{pid:04d}")


def _check_id_folders(root: Path) -> None:
    """Every visible sub-folder of ``cam<k>/`` must be a 4-digit zero-padded id: a folder ``12`` would
    otherwise be silently skipped and its id trained as a class with no images."""
    bad = sorted(f"cam{cam}/{d.name}" for cam in ALL_CAMS for d in (root / f"cam{cam}").iterdir()
                 if d.is_dir() and not d.name.startswith(".") and not (len(d.name) == 4 and d.name.isdigit()))
    if bad:
        raise SfclError(f"SYSU-MM01 at {root}: {few(bad)} folders are not 4-digit zero-padded identities: "
                        "expected cam<k>/<id:04d>/ (e.g. cam1/0012)")


def _check_listed(root: Path, pids: list[int], samples: list[Sample], files: str) -> None:
    """Ids listed in ``files`` must have at least one image (``samples``) in some camera."""
    found = {s.pid for s in samples}
    missing = [pid for pid in pids if pid not in found]
    if missing:
        raise SfclError(f"{files} lists {few(missing)} ids with no image under {root}/cam1..cam6/<id:04d>/: "
                        "expected images for every listed identity")


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
    _check_id_folders(root)
    train_files, test_file = (("train_id.txt",), "val_id.txt") if eval_split == "val" else (
        ("train_id.txt", "val_id.txt"), "test_id.txt")
    train_pids = sorted(set().union(*(read_id_file(exp / name) for name in train_files)))
    test_pids = sorted(set(read_id_file(exp / test_file)))
    shared = sorted(set(train_pids) & set(test_pids))
    if shared:
        raise SfclError(f"{exp / test_file} shares {few(shared)} ids with {' and '.join(train_files)}: "
                        "expected disjoint identity lists (a test identity must never be trained on)")
    labels = {pid: i for i, pid in enumerate(train_pids)}
    train = _samples(root, train_pids, labels)
    test = _samples(root, test_pids, None)
    _check_listed(root, train_pids, train, " / ".join(str(exp / name) for name in train_files))
    _check_listed(root, test_pids, test, str(exp / test_file))
    if not train:
        raise SfclError(f"no training images under {root}: expected cam<k>/<id:04d>/ folders for exp/train_id.txt ids")
    if not test_pids:
        raise SfclError(f"no test ids in {exp / 'test_id.txt'}: expected comma-separated integers")
    if not test:
        raise SfclError(f"no test images under {root}: expected cam<k>/<id:04d>/ folders for exp/test_id.txt ids")
    meta: dict = {}
    for cand in (exp / "rand_perm_cam.mat", root / "data_split" / "rand_perm_cam.mat"):
        if cand.is_file():
            meta["rand_perm_cam"] = str(cand)
            break
    return ReIDDataset("sysu", str(root), train, test, len(train_pids), meta=meta)


def _perm_gallery(test: list[Sample], groups_of, pids, cams, trial: int, perm_path: str) -> list[int]:
    """Multi-shot gallery from the official ``rand_perm_cam.mat`` (image numbers, 1-based)."""
    from scipy.io import loadmat

    perm = loadmat(perm_path)["rand_perm_cam"]
    gallery: list[int] = []
    for pid in pids:
        for cam in cams:
            by_number = {int(Path(test[i].path).stem): i for i in groups_of.get((pid, cam), [])}
            if not by_number:
                continue
            numbers = np.asarray(perm[cam - 1][0].squeeze()[pid - 1][trial]).ravel()[:MULTI_SHOT]
            gallery.extend(by_number[int(n)] for n in numbers if int(n) in by_number)
    return gallery


def build_trials(test: list[Sample], num_trials: int, meta: dict, mode: str, shots: int) -> tuple[list[Trial], str]:
    """Infrared queries against a sampled visible gallery (``mode`` all / indoor, ``shots`` 1 / 10)."""
    query = indices(test, lambda s: s.cam in NIR_CAMS)
    cams = GALLERY_CAMS[mode]
    groups_of = groups(test, cams=cams)
    pids = sorted({s.pid for s in test})
    perm_path = meta.get("rand_perm_cam")
    use_perm = shots > 1 and perm_path is not None and Path(perm_path).is_file()
    trials = []
    for t in range(num_trials):
        gallery = (np.array(_perm_gallery(test, groups_of, pids, cams, t, perm_path), dtype=np.int64) if use_perm
                   else seeded_gallery(groups_of, pids, cams, t, shots))
        trials.append(Trial(query, gallery))
    return trials, "rand_perm_cam" if use_perm else "seeded"


def _protocol(mode: str, shots: int, description: str) -> Protocol:
    name = f"sysu-{mode}-{'single' if shots == 1 else 'multi'}"
    return Protocol(name, description, partial(build_trials, mode=mode, shots=shots), "drop-cam3-cam2")


SPEC = DatasetSpec(
    name="sysu",
    title="SYSU-MM01",
    load=load_sysu,
    options=("eval_split",),
    protocols=(
        _protocol("all", 1, "SYSU-MM01 all-search, single-shot"),
        _protocol("indoor", 1, "SYSU-MM01 indoor-search, single-shot"),
        _protocol("all", MULTI_SHOT, "SYSU-MM01 all-search, multi-shot (10)"),
        _protocol("indoor", MULTI_SHOT, "SYSU-MM01 indoor-search, multi-shot (10)"),
    ),
    query_modality=NIR,
    infrared_query_protocol="sysu-all-single",
    scene=scene_of,
)
PROTOCOLS: tuple[str, ...] = SPEC.protocol_names
