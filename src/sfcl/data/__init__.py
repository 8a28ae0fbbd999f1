"""Datasets: the registry of dataset specs, records, image dataset, cross-modal sampler and transforms.

Each dataset module exports one :class:`~sfcl.data.spec.DatasetSpec` (``SPEC``) and
:data:`DATASETS` lists them by name. Everything that depends on which dataset it
is (loading from a config, protocols, occlusion roles and scenes, rank pictures,
CLI ``choices=``) reads the spec, so adding a dataset is one module plus one
:func:`register_dataset` call (here, or in your own code before ``sfcl.cli.main``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sfcl.data import llcm, regdb, sysu
from sfcl.data.base import ReIDDataset, Sample, check_split
from sfcl.data.spec import DatasetSpec, Protocol, Trial
from sfcl.errors import SfclError

DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` to :data:`DATASETS`; its name and protocol names must be new (unless ``replace``)."""
    if spec.name in DATASETS and not replace:
        raise SfclError(f"dataset {spec.name!r} is already registered")
    taken = {p: d.name for d in DATASETS.values() if d.name != spec.name for p in d.protocol_names}
    clash = [p for p in spec.protocol_names if p in taken]
    if clash:
        raise SfclError(f"dataset {spec.name!r}: protocol {clash[0]} already belongs to {taken[clash[0]]}")
    DATASETS[spec.name] = spec
    return spec


for _module in (sysu, regdb, llcm):
    register_dataset(_module.SPEC)


def dataset_names() -> list[str]:
    """Registered dataset names, in registration order (for ``choices=``)."""
    return list(DATASETS)


def dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise SfclError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def protocol_spec(name: str) -> Protocol:
    """The protocol called ``name``, whichever dataset declares it."""
    for spec in DATASETS.values():
        for protocol in spec.protocols:
            if protocol.name == name:
                return protocol
    known = [p for spec in DATASETS.values() for p in spec.protocol_names]
    raise SfclError(f"unknown protocol {name!r} (known: {', '.join(known)})")


def build_dataset(name: str, root: str | Path, **options) -> ReIDDataset:
    """Load dataset ``name`` from ``root``; ``options`` are the ones its spec takes (e.g. ``trial=``).
    The split is checked (:func:`~sfcl.data.base.check_split`) before anything trains on it."""
    spec = dataset_spec(name)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise SfclError(f"dataset {name} takes no option {unknown[0]} "
                        f"(its options: {', '.join(spec.options) or 'none'})")
    dataset = spec.load(root, **options)
    return check_split(dataset if dataset.name == name else dataclasses.replace(dataset, name=name))


__all__ = [
    "DATASETS", "DatasetSpec", "Protocol", "ReIDDataset", "Sample", "Trial", "build_dataset", "dataset_names",
    "dataset_spec", "protocol_spec", "register_dataset",
]
