"""Which images of a source dataset are train / query / gallery, and in what scene.

The dataset loaders (``sfcl.data.build_dataset``) enumerate the images, so an
occluded dataset covers exactly what the loaders read. Roles:

- ``train``: every training image (both modalities).
- ``query`` / ``gallery``: test images by modality, following each dataset's
  default protocol: SYSU-MM01 queries are infrared (cams 3, 6), its gallery
  visible; RegDB (``regdb-v2t``) and LLCM (``llcm-v2i``) query with visible
  images against an infrared/thermal gallery.
- RegDB's ten trials split the same images differently; with ``trial=None``
  an image's roles are the union over every trial whose lists are present, so
  with the default (all three splits) every listed image is occluded and all
  ten trials stay valid on the output. ``trial=t`` uses trial t's lists only.

Scene (for scene-aware occluder choice): SYSU-MM01 cams 1, 2, 3 are indoor and
4, 5, 6 outdoor; RegDB and LLCM images are ``any``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sfcl.data import build_dataset
from sfcl.data.base import Sample
from sfcl.errors import SfclError

SPLITS: tuple[str, ...] = ("train", "query", "gallery")
QUERY_MODALITY: dict[str, str] = {"sysu": "nir", "regdb": "vis", "llcm": "vis"}
SYSU_INDOOR_CAMS: tuple[int, ...] = (1, 2, 3)
SYSU_OUTDOOR_CAMS: tuple[int, ...] = (4, 5, 6)


@dataclass(frozen=True)
class SourceImage:
    """One image of the source dataset: POSIX path relative to the root, roles, modality, pid, cam, scene."""

    relpath: str
    roles: tuple[str, ...]
    modality: str
    pid: int
    cam: int
    scene: str


def parse_splits(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"train,query"`` -> ("train", "query") in canonical order; unknown names raise :class:`SfclError`."""
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    bad = [n for n in names if n not in SPLITS]
    if bad or not names:
        raise SfclError(f"splits {','.join(names) or '(none)'}: expected a comma-separated subset of "
                        f"{','.join(SPLITS)}")
    return tuple(s for s in SPLITS if s in names)


def scene_of(dataset: str, cam: int) -> str:
    if dataset == "sysu":
        return "indoor" if cam in SYSU_INDOOR_CAMS else "outdoor" if cam in SYSU_OUTDOOR_CAMS else "any"
    return "any"


def _regdb_trials(src: Path, trial: int | None) -> list[int]:
    if trial is not None:
        return [int(trial)]
    found = [t for t in range(1, 11) if (src / "idx" / f"train_visible_{t}.txt").is_file()]
    return found or [1]  # trial 1 then fails with the loader's message naming the missing file


def _role(dataset: str, sample: Sample, train: bool) -> str:
    if train:
        return "train"
    return "query" if sample.modality == QUERY_MODALITY[dataset] else "gallery"


def dataset_images(dataset: str, src: str | Path, trial: int | None = None) -> list[SourceImage]:
    """Every image the loader of ``dataset`` reads under ``src``, with its roles; sorted by path."""
    if dataset not in QUERY_MODALITY:
        raise SfclError(f"unknown dataset {dataset!r}: expected one of {', '.join(sorted(QUERY_MODALITY))}")
    if trial is not None and dataset != "regdb":
        raise SfclError(f"trial={trial} given for {dataset}: trials exist only for regdb")
    root = Path(src).resolve()
    loads = ([build_dataset("regdb", root, trial=t) for t in _regdb_trials(root, trial)]
             if dataset == "regdb" else [build_dataset(dataset, root)])
    found: dict[str, tuple[set[str], Sample]] = {}
    for ds in loads:
        for train, samples in ((True, ds.train), (False, ds.test)):
            for s in samples:
                try:
                    rel = Path(s.path).resolve().relative_to(root).as_posix()
                except ValueError:
                    raise SfclError(f"image {s.path} is outside the dataset root {root}: expected lists with "
                                    "paths inside the root") from None
                found.setdefault(rel, (set(), s))[0].add(_role(dataset, s, train))
    return [SourceImage(rel, tuple(r for r in SPLITS if r in roles), s.modality, s.pid, s.cam,
                        scene_of(dataset, s.cam)) for rel, (roles, s) in sorted(found.items())]


def fingerprint(src: Path, images: list[SourceImage]) -> str:
    """sha256 of every image's relative path and size: the source a manifest was made from."""
    h = hashlib.sha256()
    for im in images:
        h.update(f"{im.relpath}\t{(src / im.relpath).stat().st_size}\n".encode())
    return h.hexdigest()


def all_files(src: Path, skip_names: tuple[str, ...] = (), skip_suffix: str = "") -> list[str]:
    """Every file under ``src`` (POSIX relative paths, sorted), minus root-level ``skip_names`` and ``skip_suffix``."""
    out = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(src)
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            if (rel_dir == Path(".") and name in skip_names) or (skip_suffix and name.endswith(skip_suffix)):
                continue
            out.append(rel)
    return sorted(out)
