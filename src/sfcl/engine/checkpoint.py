"""Atomic checkpoints that load with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only:
``format``, ``config`` (the experiment config as a dict), ``num_classes``,
``model`` (state dict), and for resuming ``optimizer``, ``scheduler``,
``scaler``, ``epoch`` (epochs trained) and ``history``; ``pending_eval`` (the epoch's record)
when it was written after training an epoch and before evaluating it, so a run killed during an
evaluation resumes by running that evaluation, not by training the epoch again. No RNG state is
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


def architecture_mismatch(model: nn.Module, weights: dict[str, Any]) -> str | None:
    """The first difference between ``model``'s state dict and ``weights`` (key names and shapes), in
    words, or ``None`` when they fit."""
    own = model.state_dict()
    missing = [key for key in own if key not in weights]
    unexpected = [key for key in weights if key not in own]
    shapes = [(key, tuple(weights[key].shape), tuple(own[key].shape)) for key in own
              if key in weights and hasattr(weights[key], "shape") and tuple(weights[key].shape) != tuple(own[key].shape)]
    if shapes:
        key, theirs, ours = shapes[0]
        return f"{len(shapes)} tensors differ in shape, first {key}: {theirs} in the checkpoint, {ours} in the model"
    if missing:
        return f"{len(missing)} model tensors missing from the checkpoint, first {missing[0]}"
    if unexpected:
        return f"{len(unexpected)} checkpoint tensors not in the model, first {unexpected[0]}"
    return None


def load_model_state(model: nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """Load ``state['model']`` strictly; a different architecture is a one-line SfclError naming the
    first mismatched key and its shapes."""
    weights = state.get("model")
    if not isinstance(weights, dict):
        raise SfclError(f"checkpoint {path} has no model weights: expected a file written by `sfcl train`")
    detail = architecture_mismatch(model, weights)
    if detail is not None:
        raise SfclError(f"checkpoint {path} does not fit this architecture ({detail})")
    model.load_state_dict(weights)


def model_from_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, Config]:
    """Rebuild the model a checkpoint was trained with and load its weights (eval mode)."""
    state = load_checkpoint(path)
    missing = [key for key in ("config", "num_classes", "model") if key not in state]
    if missing:
        raise SfclError(f"checkpoint {path} has no {', '.join(missing)} entry: expected a checkpoint written by "
                        "sfcl train (last.pt or best.pt)")
    cfg = config_from_dict(state["config"])
    cfg.model.pretrained = None  # the checkpoint holds every weight
    model = build_model(cfg.model, int(state["num_classes"]), (cfg.data.height, cfg.data.width))
    load_model_state(model, state, path)
    return model.to(device).eval(), cfg


# Config keys that may differ between a checkpoint and the run that resumes it: the length of the
# run (the schedule is rebuilt for it), evaluation, logging, where things are and how fast they
# load. Every other key shapes the weights or the batches and is refused when it changed.
RESUMABLE_KEYS: tuple[str, ...] = (
    "name", "train.epochs", "train.eval_every", "train.log_every", "train.progress", "train.output_dir",
    "train.threads", "train.device", "train.compile", "data.root", "data.workers", "data.test_batch_size",
    "data.eval_split", "eval.*",
)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _resumable(key: str) -> bool:
    return any(key == k or (k.endswith(".*") and key.startswith(k[:-1])) for k in RESUMABLE_KEYS)


def check_resume_config(saved: dict[str, Any], cfg: Config, path: str | Path, epochs_done: int) -> None:
    """Refuse to resume ``path`` (trained with config ``saved``) under ``cfg`` when a key outside
    :data:`RESUMABLE_KEYS` changed, or when ``train.epochs`` leaves nothing to train."""
    before = _flatten(config_from_dict(saved).to_dict())
    now = _flatten(cfg.to_dict())
    for key in sorted(set(before) | set(now)):
        if before.get(key) != now.get(key) and not _resumable(key):
            raise SfclError(f"cannot resume {path}: config key {key} was {before.get(key)!r} in the checkpoint, "
                            f"now {now.get(key)!r}; only {', '.join(RESUMABLE_KEYS)} may change on resume "
                            "(start a new run for the rest)")
    if cfg.train.epochs <= epochs_done:
        raise SfclError(f"cannot resume {path}: it has finished {epochs_done} epochs and train.epochs is "
                        f"{cfg.train.epochs}: nothing to train (raise train.epochs to extend the run)")

