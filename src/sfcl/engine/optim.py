"""Optimiser and learning-rate schedule (AGW recipe by default).

The schedule is a multiplier on each group's base lr, stepped once per iteration:
linear warm-up from ``1 / (warmup_epochs · iters_per_epoch)`` to 1 over the first
``warmup_epochs`` epochs (AGW: 10), then either a step decay (``gamma`` at each
milestone epoch: x0.1 at 20, x0.01 at 50) or a cosine decay to zero at ``epochs``
(over the fractional epoch). With ``iters_per_epoch = 1`` it is AGW's per-epoch schedule.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sfcl.config import OptimConfig
from sfcl.errors import SfclError


def lr_factor(step: int, cfg: OptimConfig, epochs: int, iters_per_epoch: int = 1) -> float:
    """Multiplier of the base learning rate during iteration ``step`` (0-based) of
    ``iters_per_epoch`` per epoch (1: ``step`` is the epoch)."""
    warmup_steps = cfg.warmup_epochs * iters_per_epoch
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    epoch = step / iters_per_epoch
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


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, epochs: int,
                    iters_per_epoch: int = 1) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR implementing :func:`lr_factor` for every group, stepped once per iteration."""
    lr_factor(cfg.warmup_epochs * iters_per_epoch, cfg, epochs, iters_per_epoch)  # validate the schedule name
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, cfg, epochs, iters_per_epoch))


def resume_scheduler(scheduler: torch.optim.lr_scheduler.LambdaLR, state: dict) -> None:
    """Load a :func:`build_scheduler` state, then set each group's lr from *this* scheduler's
    factors at the iteration reached: a run resumed with a longer ``train.epochs`` follows the
    schedule rebuilt for its length, not the lr the checkpoint left (a finished cosine: 0).
    An unchanged length gives the same values, so exact resume is unaffected."""
    scheduler.load_state_dict(state)
    lrs = [base * factor(scheduler.last_epoch) for base, factor in
           zip(scheduler.base_lrs, scheduler.lr_lambdas, strict=True)]
    for group, lr in zip(scheduler.optimizer.param_groups, lrs, strict=True):
        group["lr"] = lr
    scheduler._last_lr = lrs  # what get_last_lr() reports


def clip_gradients(model: nn.Module, max_norm: float) -> float | None:
    """Clip the global gradient norm when ``max_norm > 0``; returns the norm before clipping."""
    if max_norm <= 0:
        return None
    return float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
