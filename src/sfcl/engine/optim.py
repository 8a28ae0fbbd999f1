"""Optimiser and learning-rate schedule (AGW recipe by default).

The schedule is a per-epoch multiplier on each group's base lr: linear warm-up
from ``1 / warmup_epochs`` to 1 over ``warmup_epochs`` epochs (AGW: 10), then
either a step decay (``gamma`` at each milestone: x0.1 at 20, x0.01 at 50) or a
cosine decay to zero at ``epochs``. It is stepped once per epoch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sfcl.config import OptimConfig
from sfcl.errors import SfclError


def lr_factor(epoch: int, cfg: OptimConfig, epochs: int) -> float:
    """Multiplier of the base learning rate during ``epoch`` (0-based)."""
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return (epoch + 1) / cfg.warmup_epochs
    if cfg.schedule == "step":
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    if cfg.schedule == "cosine":
        span = max(1, epochs - cfg.warmup_epochs)
        progress = (epoch - cfg.warmup_epochs) / span
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    raise SfclError(f"config key optim.schedule: expected step or cosine, got {cfg.schedule!r}")


def build_optimizer(param_groups: list[dict], cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov) or Adam over ``param_groups`` (each with its own ``lr``)."""
    if cfg.name == "sgd":
        return torch.optim.SGD(
            param_groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.name == "adam":
        return torch.optim.Adam(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise SfclError(f"config key optim.name: expected sgd or adam, got {cfg.name!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch LambdaLR implementing :func:`lr_factor` for every group."""
    lr_factor(0, cfg, epochs)  # validate the schedule name early
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(epoch, cfg, epochs))


def clip_gradients(model: nn.Module, max_norm: float) -> float | None:
    """Clip the global gradient norm when ``max_norm > 0``; returns the norm before clipping."""
    if max_norm <= 0:
        return None
    return float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
