"""LLCM loader (layout of the DEEN code release).

Layout::

    root/idx/train_vis.txt, root/idx/train_nir.txt    lines 'relative/path label'
    root/test_vis/cam<k>/<id:04d>/<img>.jpg           visible test images
    root/test_nir/cam<k>/<id:04d>/<img>.jpg           near-infrared test images

Training pids are the list labels; ``label`` is their contiguous index over the
sorted training pids, identical in both modalities. The test ids are the id
folders present under ``test_*/cam<k>/``; the cam number is ``k``. This loader
requires that ``cam<k>/<id>`` sub-structure for the test folders (a release
that stores ids directly with the camera encoded otherwise is not supported).
``test`` order: pid sorted, then cam number, then modality (vis before nir, as
LLCM cameras hold both), then file name; modality follows the folder
(``test_vis`` → vis, ``test_nir`` → nir). Training cams come from a ``_c<k>_``
token in the file name (LLCM naming), else 0.

Protocols (DEEN): ``llcm-v2i`` queries every visible test image against a gallery
of one random infrared image per identity/camera per trial (``random.Random(t)``,
identities sorted, cameras in order); ``llcm-i2v`` swaps the modalities' roles.
Scoring rule ``drop-same-camera``: gallery items of the query's identity and
camera are dropped; the CMC counts distinct identities.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from sfcl.data.base import ReIDDataset, Sample, image_files, require_dir
from sfcl.data.regdb import read_list
from sfcl.data.spec import DatasetSpec, Protocol, Trial, by_modality, groups, seeded_gallery
from sfcl.errors import SfclError
from sfcl.modality import NIR, VIS, other

_CAM_RE = re.compile(r"^cam(\d+)$")
_FILE_CAM_RE = re.compile(r"_c(\d+)_")


def _file_cam(path: Path) -> int:
    m = _FILE_CAM_RE.search(path.name)
    return int(m.group(1)) if m else 0


def _scan_test(folder: Path, modality: str) -> list[Sample]:
    """Every image under ``folder/cam<k>/<id>/`` as unsorted test samples."""
    require_dir(folder, f"LLCM test folder with cam<k>/<id:04d>/ sub-folders ({modality})")
    out: list[Sample] = []
    cams = [d for d in folder.iterdir() if d.is_dir() and _CAM_RE.match(d.name)]
    if not cams:
        raise SfclError(f"no cam<k> folders in {folder}: expected cam<k>/<id:04d>/<img> layout")
    for cam_dir in cams:
        cam = int(_CAM_RE.match(cam_dir.name).group(1))
        for id_dir in cam_dir.iterdir():
            if not id_dir.is_dir() or id_dir.name.startswith("."):
                continue
            try:
                pid = int(id_dir.name)
            except ValueError:
                raise SfclError(f"unexpected folder {id_dir}: expected an integer identity folder name") from None
            out.extend(Sample(str(p), pid, cam, modality) for p in image_files(id_dir))
    return out


def load_llcm(root: str | Path) -> ReIDDataset:
    """Load LLCM from ``root``."""
    root = Path(root).resolve()
    require_dir(root, "LLCM dataset root")
    idx = require_dir(root / "idx", "LLCM idx/ folder with train_vis.txt and train_nir.txt")
    train_v = read_list(root, idx / "train_vis.txt")
    train_n = read_list(root, idx / "train_nir.txt")
    if not train_v or not train_n:
        raise SfclError(f"no training images in {idx}/train_{{vis,nir}}.txt: expected 'path label' lines")
    pids = sorted({pid for _, pid in train_v + train_n})
    labels = {pid: i for i, pid in enumerate(pids)}
    train = [Sample(str(p), pid, _file_cam(p), VIS, labels[pid]) for p, pid in train_v]
    train += [Sample(str(p), pid, _file_cam(p), NIR, labels[pid]) for p, pid in train_n]
    test = _scan_test(root / "test_vis", VIS) + _scan_test(root / "test_nir", NIR)
    if not test:
        raise SfclError(f"no test ids under {root}/test_vis and test_nir: expected cam<k>/<id:04d>/<img> files")
    test.sort(key=lambda s: (s.pid, s.cam, s.modality != VIS, Path(s.path).name))
    return ReIDDataset("llcm", str(root), train, test, len(pids))


def _trials(test: list[Sample], num_trials: int, meta: dict, query: str) -> tuple[list[Trial], str]:
    """Every ``query``-modality test image against one seeded image per identity/camera of the other."""
    groups_of = groups(test, modality=other(query))
    pids = sorted({pid for pid, _ in groups_of})
    cams = sorted({cam for _, cam in groups_of})
    queries = by_modality(test, query)
    return [Trial(queries, seeded_gallery(groups_of, pids, cams, t)) for t in range(num_trials)], "seeded"


SPEC = DatasetSpec(
    name="llcm",
    title="LLCM",
    load=load_llcm,
    options=(),
    protocols=(
        Protocol("llcm-v2i", "LLCM visible to infrared", partial(_trials, query=VIS), "drop-same-camera"),
        Protocol("llcm-i2v", "LLCM infrared to visible", partial(_trials, query=NIR), "drop-same-camera"),
    ),
    query_modality=VIS,
    infrared_query_protocol="llcm-i2v",
)
PROTOCOLS: tuple[str, ...] = SPEC.protocol_names
