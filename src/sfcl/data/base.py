"""Records every dataset loader returns, and the checks they share.

A loader reads a dataset folder exactly as its authors ship it and returns a
:class:`ReIDDataset`: the training images of both modalities, and every test
image once (``test``). Evaluation protocols (``sfcl.data.spec.Protocol``)
pick query and gallery *indices* into ``test`` per trial, so features are
extracted once and the ten SYSU-MM01 gallery trials only index them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sfcl.errors import SfclError
from sfcl.imageio import IMAGE_SUFFIXES

Modality = Literal["vis", "nir"]


@dataclass(frozen=True)
class Sample:
    """One image.

    Attributes:
        path: absolute path of the image file.
        pid: identity as written by the dataset (not relabelled).
        cam: camera number as written by the dataset (SYSU: 1..6).
        modality: ``"vis"`` (visible) or ``"nir"`` (infrared / thermal).
        label: contiguous training label 0..C-1 (``-1`` for test images).
    """

    path: str
    pid: int
    cam: int
    modality: str
    label: int = -1


@dataclass
class ReIDDataset:
    """A cross-modal re-identification dataset as loaded from disk.

    Attributes:
        name: the registry name of its :class:`~sfcl.data.spec.DatasetSpec` (occluded
            variants load the same way).
        root: the dataset folder.
        train: training images of both modalities, ``label`` set.
        test: every test image once, in the order the protocol expects
            (sorted by identity, camera, file name).
        num_classes: number of training identities.
        meta: loader-specific extras (e.g. RegDB trial, SYSU multi-shot permutation file).

    ``protocols`` (property): the protocol names its spec declares.
    """

    name: str
    root: str
    train: list[Sample]
    test: list[Sample]
    num_classes: int
    meta: dict = field(default_factory=dict)

    @property
    def protocols(self) -> tuple[str, ...]:
        from sfcl.data import dataset_spec

        return dataset_spec(self.name).protocol_names

    def train_of(self, modality: str) -> list[Sample]:
        return [s for s in self.train if s.modality == modality]


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a directory, else raise a one-line :class:`SfclError`."""
    if not path.is_dir():
        raise SfclError(f"missing folder {path}: expected {what}")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise SfclError(f"missing file {path}: expected {what}")
    return path


def is_image_file(path: Path) -> bool:
    """An image a loader takes: a regular file with an image suffix, not hidden (``.DS_Store``, ``._x.jpg``)
    and not a thumbnail cache (``Thumbs.db``, which the SYSU-MM01 distribution ships)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name; empty when the folder is absent."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: p.name)


def few(items, n: int = 5) -> str:
    """``"3 (1, 2, 7)"`` or ``"12 (1, 2, 3, 4, 5, ...)"``: a count and the first few, for one-line errors."""
    items = list(items)
    shown = ", ".join(str(i) for i in items[:n]) + (", ..." if len(items) > n else "")
    return f"{len(items)} ({shown})"


def check_split(dataset: ReIDDataset) -> ReIDDataset:
    """Refuse a split that would train or score wrongly, whatever the dataset: a test identity that is
    also trained on, or a training class with no image. Every loader's result passes here
    (:func:`sfcl.data.build_dataset`); loaders name the exact list file first where they can."""
    shared = sorted({s.pid for s in dataset.train} & {s.pid for s in dataset.test})
    if shared:
        raise SfclError(f"{dataset.name} at {dataset.root}: train and test share {few(shared)} identities: "
                        "expected disjoint identity splits (a test identity must never be trained on)")
    empty = sorted(set(range(dataset.num_classes)) - {s.label for s in dataset.train})
    if empty:
        raise SfclError(f"{dataset.name} at {dataset.root}: training labels {few(empty)} have no image: "
                        f"expected every one of the {dataset.num_classes} classes to have images")
    return dataset
