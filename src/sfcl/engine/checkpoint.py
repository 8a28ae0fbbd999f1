"""Atomic checkpoints that load with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only:
``format``, ``config`` (the experiment config as a dict), ``num_classes``,
``model`` (state dict), and for resuming ``optimizer``, ``scheduler``,
``scaler``, ``epoch`` (epochs completed) and ``history``. No RNG state is
stored: the trainer reseeds every RNG at the start of each epoch from
``(seed, epoch)``, so resuming at an epoch boundary replays the same stream. Writing goes to a temp
file in the same folder, is fsynced, then renamed over the target, so an
interrupted write never leaves a truncated checkpoint.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sfcl.config import Config, config_from_dict
from sfcl.errors import SfclError
from sfcl.fileio import atomic_write
from sfcl.models import build_model

__all__ = ["FORMAT", "atomic_write", "load_checkpoint", "save_checkpoint"]

FORMAT = "sfcl-checkpoint-v1"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the format tag) atomically."""
    payload = {"format": FORMAT, **state}
    atomic_write(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``); one-line SfclError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise SfclError(f"missing checkpoint {path}: expected a file written by `sfcl train`")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError) as err:
        raise SfclError(
            f"checkpoint {path} is corrupt or not an sfcl checkpoint "
            f"(torch.load(weights_only=True) failed: {type(err).__name__})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SfclError(f"checkpoint {path} is not an sfcl checkpoint (expected format {FORMAT})")
    return state


def load_model_state(model: nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """Load ``state['model']`` strictly; a different architecture is a one-line SfclError."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as err:
        detail = str(err).splitlines()[0][:160]
        raise SfclError(f"checkpoint {path} does not fit this architecture ({detail})") from None


def model_from_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, Config]:
    """Rebuild the model a checkpoint was trained with and load its weights (eval mode)."""
    state = load_checkpoint(path)
    cfg = config_from_dict(state["config"])
    cfg.model.pretrained = None  # the checkpoint holds every weight
    model = build_model(cfg.model, int(state["num_classes"]), (cfg.data.height, cfg.data.width))
    load_model_state(model, state, path)
    return model.to(device).eval(), cfg
