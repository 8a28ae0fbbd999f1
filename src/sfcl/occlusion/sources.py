"""Which images of a source dataset are train / query / gallery, and in what scene.

The dataset loaders (``sfcl.data.build_dataset``) enumerate the images, so an
occluded dataset covers exactly what the loaders read. Roles:

- ``train``: every training image (both modalities).
- ``query`` / ``gallery``: test images by modality: those of the spec's
  ``query_modality`` (the default protocol's queries; SYSU-MM01: infrared) are
  queries, the others gallery.
- A dataset whose trials split the same images differently (RegDB) lists every
  load an occluded copy covers (``DatasetSpec.source_datasets``): with
  ``trial=None`` an image's roles are the union over every trial whose lists are
  present, so every listed image is occluded and all trials stay valid on the
  output; ``trial=t`` uses trial t's lists only.

Scene (for scene-aware occluder choice): the spec's ``scene(cam)`` (SYSU-MM01:
cams 1, 2, 3 indoor, 4, 5, 6 outdoor; ``any`` elsewhere).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sfcl.data import dataset_spec
from sfcl.data.base import Sample
from sfcl.data.spec import DatasetSpec
from sfcl.errors import SfclError

SPLITS: tuple[str, ...] = ("train", "query", "gallery")


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


def _role(spec: DatasetSpec, sample: Sample, train: bool) -> str:
    if train:
        return "train"
    return "query" if sample.modality == spec.query_modality else "gallery"


def dataset_images(dataset: str, src: str | Path, trial: int | None = None) -> list[SourceImage]:
    """Every image the loader of ``dataset`` reads under ``src``, with its roles; sorted by path."""
    spec = dataset_spec(dataset)
    root = Path(src).resolve()
    loads = spec.source_datasets(root, trial)
    found: dict[str, tuple[set[str], Sample]] = {}
    for ds in loads:
        for train, samples in ((True, ds.train), (False, ds.test)):
            for s in samples:
                try:
                    rel = Path(s.path).resolve().relative_to(root).as_posix()
                except ValueError:
                    raise SfclError(f"image {s.path} is outside the dataset root {root}: expected lists with "
                                    "paths inside the root") from None
                found.setdefault(rel, (set(), s))[0].add(_role(spec, s, train))
    return [SourceImage(rel, tuple(r for r in SPLITS if r in roles), s.modality, s.pid, s.cam,
                        spec.scene(s.cam)) for rel, (roles, s) in sorted(found.items())]


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
