"""Saved features for ``sfcl eval --features``: ``.pt`` or ``.npz``.

Keys: ``feats`` (N, D) float, ``pids`` (N,), ``cams`` (N,), ``modalities`` (N,)
with 0 = visible, 1 = infrared, and optional ``paths`` (N,) strings. Rows are in
the order of the dataset's test list (identity, camera, file name), which the
SYSU-MM01 gallery sampling relies on. ``.pt`` files hold only tensors and lists
of strings, so they load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sfcl.data.base import Sample
from sfcl.errors import SfclError
from sfcl.modality import MODALITIES

KEYS = ("feats", "pids", "cams", "modalities")


def save_features(path: str | Path, feats: torch.Tensor, samples: list[Sample]) -> None:
    """Write features (N, D) of ``samples`` to ``path`` (.pt or .npz)."""
    path = Path(path)
    if feats.ndim != 2 or feats.shape[0] != len(samples):
        raise ValueError(f"features {tuple(feats.shape)} do not fit {len(samples)} samples")
    columns = {
        "feats": feats.detach().float().cpu(),
        "pids": torch.tensor([s.pid for s in samples]),
        "cams": torch.tensor([s.cam for s in samples]),
        "modalities": torch.tensor([MODALITIES.index(s.modality) for s in samples]),
    }
    paths = [s.path for s in samples]
    if path.suffix == ".pt":
        torch.save({**columns, "paths": paths}, path)
    elif path.suffix == ".npz":
        np.savez(path, **{k: v.numpy() for k, v in columns.items()}, paths=np.array(paths))
    else:
        raise SfclError(f"features file {path}: expected a .pt or .npz suffix")


def load_features(path: str | Path) -> tuple[torch.Tensor, list[Sample]]:
    """Read a features file; returns (feats float32 (N, D), samples in row order)."""
    path = Path(path)
    if not path.is_file():
        raise SfclError(f"missing features file {path}: expected .pt or .npz with keys {', '.join(KEYS)}")
    data = _read(path)
    missing = [k for k in KEYS if k not in data]
    if missing:
        raise SfclError(f"features file {path}: missing key(s) {', '.join(missing)} (expected {', '.join(KEYS)})")
    feats = torch.as_tensor(np.asarray(data["feats"]), dtype=torch.float32)
    columns = [np.asarray(data[k]).reshape(-1) for k in KEYS[1:]]
    if feats.ndim != 2 or any(c.shape[0] != feats.shape[0] for c in columns):
        raise SfclError(f"features file {path}: feats must be (N, D) and pids/cams/modalities (N,), "
                        f"got {tuple(feats.shape)} and {[c.shape for c in columns]}")
    pids, cams, modalities = columns
    if not np.isin(modalities, (0, 1)).all():
        raise SfclError(f"features file {path}: modalities must be 0 (visible) or 1 (infrared)")
    paths = list(data["paths"]) if "paths" in data else [""] * feats.shape[0]
    samples = [Sample(path=str(p), pid=int(pid), cam=int(cam), modality=MODALITIES[int(m)])
               for p, pid, cam, m in zip(paths, pids, cams, modalities)]
    return feats, samples


def _read(path: Path) -> dict:
    try:
        if path.suffix == ".pt":
            data = torch.load(path, map_location="cpu", weights_only=True)
            data = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in data.items()}
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as handle:
                data = {k: handle[k] for k in handle.files}
        else:
            raise SfclError(f"features file {path}: expected a .pt or .npz suffix")
    except SfclError:
        raise
    except Exception as err:  # any unreadable file is a user-facing error here, never a traceback
        raise SfclError(f"features file {path} cannot be read ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise SfclError(f"features file {path}: expected a dict of arrays")
    return data
