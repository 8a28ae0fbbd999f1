"""What the rest of the code knows about a dataset: one :class:`DatasetSpec` per dataset module.

A spec says how to load the dataset (``load(root, **options)``, the options being
``data.*`` config keys), its evaluation protocols (which test images are queries
and which gallery per trial, and which scoring rule of
:mod:`sfcl.evaluation.metrics` applies), the modality its default protocol queries
with (occlusion roles), its infrared-query protocol (rank pictures), the scene of
each camera (scene-aware occluders), and the source images an occluded copy must
cover. The registry in :mod:`sfcl.data` lists the specs; protocols, occlusion
sources, rank lists, the trainer, robustness and every CLI ``choices=`` read it.

The query/gallery builders shared by several datasets live here too:
:func:`by_modality`, :func:`groups` and :func:`seeded_gallery` (the reference
evaluation's ``random.seed(t)`` + one ``random.choice`` per identity and camera).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sfcl.data.base import ReIDDataset, Sample
from sfcl.errors import SfclError

# test list, number of trials, loader meta -> (trials, how the gallery was sampled)
TrialBuilder = Callable[[list[Sample], int, dict], tuple[list["Trial"], str]]


@dataclass(frozen=True)
class Trial:
    """Indices into the test list: ``query`` (Q,) and ``gallery`` (G,), int64."""

    query: np.ndarray
    gallery: np.ndarray


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol.

    Attributes:
        name: globally unique, e.g. ``"sysu-all-single"``.
        description: one line for tables and ``--help``.
        build: ``(test, num_trials, meta) -> (trials, gallery_sampling)``.
        rule: scoring rule of :data:`sfcl.evaluation.metrics.RULES` (which gallery items are
            dropped per query, and how the CMC counts).
    """

    name: str
    description: str
    build: TrialBuilder
    rule: str


def _single_load(spec: DatasetSpec, root: Path, trial: int | None) -> list[ReIDDataset]:
    if trial is not None:
        from sfcl.data import DATASETS

        with_trials = [name for name, other in DATASETS.items() if "trial" in other.options]
        raise SfclError(f"trial={trial} given for {spec.name}: trials exist only for {', '.join(with_trials)}")
    return [spec.load(root)]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the rest of the code needs to know about one dataset.

    Attributes:
        name: registry key and ``data.name`` in configs.
        title: the dataset's own name, for messages.
        load: ``load(root, **options) -> ReIDDataset``.
        options: the ``data.*`` config keys ``load`` takes (e.g. ``("trial",)``).
        protocols: the evaluation protocols; the first is the default.
        query_modality: modality of the default protocol's queries (occlusion roles).
        infrared_query_protocol: the protocol whose queries are infrared (rank pictures).
        scene: camera number -> ``"indoor"`` / ``"outdoor"`` / ``"any"``.
        sources: ``(root, trial) -> [ReIDDataset, ...]``: every load whose images an occluded
            copy must cover (several for datasets whose trials split the images differently);
            ``None``: one ``load(root)``, and no trial.
    """

    name: str
    title: str
    load: Callable[..., ReIDDataset]
    options: tuple[str, ...]
    protocols: tuple[Protocol, ...]
    query_modality: str
    infrared_query_protocol: str
    scene: Callable[[int], str] = lambda cam: "any"
    sources: Callable[[Path, int | None], list[ReIDDataset]] | None = None

    def __post_init__(self) -> None:
        names = [p.name for p in self.protocols]
        if not names or len(set(names)) != len(names):
            raise SfclError(f"dataset spec {self.name}: expected one or more protocols with distinct names, got {names}")
        if self.infrared_query_protocol not in names:
            raise SfclError(f"dataset spec {self.name}: infrared_query_protocol {self.infrared_query_protocol!r} "
                            f"is not one of its protocols ({', '.join(names)})")

    @property
    def protocol_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.protocols)

    def source_datasets(self, root: Path, trial: int | None = None) -> list[ReIDDataset]:
        """The loads an occluded copy of ``root`` covers (see ``sources``)."""
        return self.sources(root, trial) if self.sources is not None else _single_load(self, root, trial)


def indices(test: list[Sample], keep: Callable[[Sample], bool]) -> np.ndarray:
    """Indices (int64) of the test samples ``keep`` accepts, in test order."""
    return np.array([i for i, s in enumerate(test) if keep(s)], dtype=np.int64)


def by_modality(test: list[Sample], modality: str) -> np.ndarray:
    return indices(test, lambda s: s.modality == modality)


def groups(test: list[Sample], modality: str | None = None,
           cams: Iterable[int] | None = None) -> dict[tuple[int, int], list[int]]:
    """(pid, cam) -> test indices sorted by file name (optionally one modality / some cameras)."""
    cams = None if cams is None else set(cams)
    out: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, sample in enumerate(test):
        if (modality is None or sample.modality == modality) and (cams is None or sample.cam in cams):
            out[(sample.pid, sample.cam)].append(index)
    for members in out.values():
        members.sort(key=lambda i: Path(test[i].path).name)
    return out


def seeded_gallery(groups_of: dict[tuple[int, int], list[int]], pids: Iterable[int], cams: Iterable[int],
                   trial: int, shots: int = 1) -> np.ndarray:
    """Replays ``random.seed(trial)`` + one choice (or a sample of ``shots``) per (sorted pid, cam)."""
    rng = random.Random(trial)
    gallery: list[int] = []
    cams = tuple(cams)
    for pid in pids:
        for cam in cams:
            candidates = groups_of.get((pid, cam))
            if not candidates:
                continue
            if shots == 1:
                gallery.append(rng.choice(candidates))
            else:
                gallery.extend(rng.sample(candidates, min(shots, len(candidates))))
    return np.array(gallery, dtype=np.int64)
