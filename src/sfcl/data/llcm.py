"""LLCM loader (layout of the DEEN code release).

Layout::

    root/idx/train_vis.txt, root/idx/train_nir.txt    lines 'relative/path label'
    root/idx/test_id.txt                              the test ids, comma-separated
    root/test_vis/cam<k>/<id:04d>/<img>.jpg           visible test images
    root/test_nir/cam<k>/<id:04d>/<img>.jpg           near-infrared test images

Training pids are the list labels; ``label`` is their contiguous index over the
sorted training pids, identical in both modalities. The test set is what the
LLCM authors' test script reads (``data_manager.py`` of ZYK100/LLCM, DEEN): the
ids of ``idx/test_id.txt``, visible cameras 1-9 (:data:`VIS_CAMS`) and infrared
cameras 1, 2, 4-9 (:data:`NIR_CAMS`: their list has no infrared camera 3); the cam
number is ``k``. Folders the lists leave out (another camera, an id not listed)
are skipped with one warning line saying how many images that drops, and a
listed id without any folder is one warning line too. Without ``idx/test_id.txt``
every id folder is a test id (one info line says so). This loader requires the
``cam<k>/<id>`` sub-structure for the test folders (a release that stores ids
directly with the camera encoded otherwise is not supported).
``test`` order: pid sorted, then cam number, then modality (vis before nir, as
LLCM cameras hold both), then file name; modality follows the folder
(``test_vis`` → vis, ``test_nir`` → nir). Training cams come from a ``_c<k>_``
token in the file name (LLCM naming), else 0.

Protocols, as the authors' ``test.py`` scores them (10 trials; trial ``t`` draws
one image per identity and camera with ``random.seed(t)``, identities sorted,
cameras in order): ``llcm-i2v`` (their ``test_mode = [1, 2]``) queries every
infrared test image against the drawn visible images; ``llcm-v2i`` (``[2, 1]``)
extracts every visible image and the drawn infrared ones and then scores with the
roles exchanged: the drawn **infrared** images are the queries and **every
visible image** is the gallery. So both directions have infrared queries; their
validation loop in ``train.py`` scores v2i the other way round (visible queries,
drawn infrared gallery) and we follow the test script (docs/DESIGN.md, "LLCM").
Scoring rule ``drop-same-camera``: gallery items of the query's identity and
camera are dropped; the CMC counts distinct identities.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from sfcl.data.base import ReIDDataset, Sample, image_files, require_dir
from sfcl.data.regdb import read_list
from sfcl.data.spec import DatasetSpec, Protocol, Trial, by_modality, groups, seeded_gallery
from sfcl.errors import SfclError
from sfcl.modality import NIR, VIS

log = logging.getLogger(__name__)

VIS_CAMS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9)  # the authors' test cameras per modality
NIR_CAMS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 8, 9)
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


def _test_set(root: Path, scanned: list[Sample]) -> list[Sample]:
    """The scanned test images the authors' lists keep: idx/test_id.txt ids, VIS_CAMS / NIR_CAMS cameras."""
    from sfcl.data.sysu import read_id_file

    cams = {VIS: set(VIS_CAMS), NIR: set(NIR_CAMS)}
    unlisted_cams = sorted({(s.modality, s.cam) for s in scanned if s.cam not in cams[s.modality]})
    if unlisted_cams:
        dropped = sum(s.cam not in cams[s.modality] for s in scanned)
        names = ", ".join(f"test_{m}/cam{c}" for m, c in unlisted_cams)
        log.warning("LLCM at %s: %s not among the authors' test cameras (visible 1-9, infrared 1, 2, 4-9): "
                    "%d images left out, as their test script does", root, names, dropped)
    kept = [s for s in scanned if s.cam in cams[s.modality]]
    id_file = root / "idx" / "test_id.txt"
    if not id_file.is_file():
        log.info("LLCM at %s: no idx/test_id.txt, every test id folder is a test id", root)
        return kept
    listed = set(read_id_file(id_file))
    found = {s.pid for s in kept}
    if found - listed:
        extra = sorted(found - listed)
        log.warning("LLCM at %s: %d id folders (%s) are not in %s: %d images left out", root, len(extra),
                    ", ".join(map(str, extra[:5])), id_file, sum(s.pid not in listed for s in kept))
    if listed - found:
        missing = sorted(listed - found)
        log.warning("LLCM at %s: %d ids of %s (%s) have no test images", root, len(missing), id_file,
                    ", ".join(map(str, missing[:5])))
    return [s for s in kept if s.pid in listed]


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
    test = _test_set(root, _scan_test(root / "test_vis", VIS) + _scan_test(root / "test_nir", NIR))
    if not test:
        raise SfclError(f"no test ids under {root}/test_vis and test_nir: expected cam<k>/<id:04d>/<img> files")
    test.sort(key=lambda s: (s.pid, s.cam, s.modality != VIS, Path(s.path).name))
    return ReIDDataset("llcm", str(root), train, test, len(pids))


def _drawn(test: list[Sample], modality: str, num_trials: int) -> list:
    """Trial t's one image per identity and camera of ``modality`` (``random.seed(t)``, sorted ids, cameras in order)."""
    groups_of = groups(test, modality=modality)
    pids = sorted({pid for pid, _ in groups_of})
    cams = sorted({cam for _, cam in groups_of})
    return [seeded_gallery(groups_of, pids, cams, t) for t in range(num_trials)]


def _i2v(test: list[Sample], num_trials: int, meta: dict) -> tuple[list[Trial], str]:
    """Every infrared test image against trial t's drawn visible images."""
    queries = by_modality(test, NIR)
    return [Trial(queries, gallery) for gallery in _drawn(test, VIS, num_trials)], "seeded"


def _v2i(test: list[Sample], num_trials: int, meta: dict) -> tuple[list[Trial], str]:
    """Trial t's drawn infrared images against every visible test image (the authors' test-script roles)."""
    gallery = by_modality(test, VIS)
    return [Trial(queries, gallery) for queries in _drawn(test, NIR, num_trials)], "seeded"


SPEC = DatasetSpec(
    name="llcm",
    title="LLCM",
    load=load_llcm,
    options=(),
    protocols=(
        Protocol("llcm-v2i", "LLCM visible to infrared, scored as the authors' test.py does (infrared queries)",
                 _v2i, "drop-same-camera"),
        Protocol("llcm-i2v", "LLCM infrared to visible", _i2v, "drop-same-camera"),
    ),
    query_modality=NIR,  # both protocols query with infrared images
    infrared_query_protocol="llcm-i2v",
)
PROTOCOLS: tuple[str, ...] = SPEC.protocol_names
