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

Protocols: one trial per loaded split (the dataset's ``trial``); ``regdb-v2t``
queries the visible test images against the thermal ones, ``regdb-t2v`` swaps the
roles; scoring rule ``keep-all`` (nothing dropped, standard CMC). An occluded copy
covers the images of every trial whose lists are present (see ``sources``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from sfcl.data.base import ReIDDataset, Sample, require_dir, require_file
from sfcl.data.spec import DatasetSpec, Protocol, Trial, by_modality
from sfcl.errors import SfclError
from sfcl.fileio import read_text_file
from sfcl.modality import NIR, VIS

VIS_CAM, NIR_CAM = 1, 2
TRIALS: tuple[int, ...] = tuple(range(1, 11))


def read_list(root: Path, list_path: Path) -> list[tuple[Path, int]]:
    """Parse a ``path label`` list file; every listed image must exist under ``root``."""
    require_file(list_path, "image list with lines 'relative/path label'")
    out: list[tuple[Path, int]] = []
    for lineno, line in enumerate(read_text_file(list_path, "an image list with lines 'relative/path label'").splitlines(), 1):
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
    if int(trial) not in TRIALS:
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
    train = [Sample(str(p), pid, VIS_CAM, VIS, labels[pid]) for p, pid in train_v]
    train += [Sample(str(p), pid, NIR_CAM, NIR, labels[pid]) for p, pid in train_t]
    test = [Sample(str(p), pid, VIS_CAM, VIS) for p, pid in test_v]
    test += [Sample(str(p), pid, NIR_CAM, NIR) for p, pid in test_t]
    return ReIDDataset("regdb", str(root), train, test, len(pids), {"trial": int(trial)})


def _trials(test: list[Sample], num_trials: int, meta: dict, query: str) -> tuple[list[Trial], str]:
    """One fixed trial: every ``query``-modality test image against every image of the other."""
    gallery = NIR if query == VIS else VIS
    return [Trial(by_modality(test, query), by_modality(test, gallery))], "fixed"


def _sources(root: Path, trial: int | None) -> list[ReIDDataset]:
    """Trial ``trial``'s split, or (``None``) every trial whose lists are present (trial 1 when none is,
    which then fails with the loader's message naming the missing file)."""
    if trial is not None:
        return [load_regdb(root, trial=trial)]
    found = [t for t in TRIALS if (Path(root) / "idx" / f"train_visible_{t}.txt").is_file()]
    return [load_regdb(root, trial=t) for t in found or [1]]


SPEC = DatasetSpec(
    name="regdb",
    title="RegDB",
    load=load_regdb,
    options=("trial",),
    protocols=(
        Protocol("regdb-v2t", "RegDB visible to thermal", partial(_trials, query=VIS), "keep-all"),
        Protocol("regdb-t2v", "RegDB thermal to visible", partial(_trials, query=NIR), "keep-all"),
    ),
    query_modality=VIS,
    infrared_query_protocol="regdb-t2v",
    sources=_sources,
)
PROTOCOLS: tuple[str, ...] = SPEC.protocol_names
