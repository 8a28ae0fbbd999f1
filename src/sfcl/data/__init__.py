"""Dataset loaders, image dataset, cross-modal sampler and transforms.

``build_dataset(name, root, **kw)`` dispatches to ``load_sysu``, ``load_regdb``
(``trial=``) or ``load_llcm``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sfcl.data.base import ReIDDataset, Sample
from sfcl.data.llcm import load_llcm
from sfcl.data.regdb import load_regdb
from sfcl.data.sysu import load_sysu
from sfcl.errors import SfclError

DATASETS: dict[str, Callable[..., ReIDDataset]] = {"sysu": load_sysu, "regdb": load_regdb, "llcm": load_llcm}


def build_dataset(name: str, root: str | Path, **kw) -> ReIDDataset:
    """Load dataset ``name`` (one of :data:`DATASETS`) from ``root``."""
    if name not in DATASETS:
        raise SfclError(f"unknown dataset {name!r}: expected one of {', '.join(sorted(DATASETS))}")
    return DATASETS[name](root, **kw)


__all__ = ["DATASETS", "ReIDDataset", "Sample", "build_dataset", "load_llcm", "load_regdb", "load_sysu"]
