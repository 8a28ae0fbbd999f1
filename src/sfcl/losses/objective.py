"""The training objective: ``L = L_id + triplet_weight * L_tri`` (+ the FAD terms in later versions).

Reads what it needs from the model's :class:`~sfcl.models.reid.ModelOutput`.
Under DDP, ``gather`` concatenates the batch-level inputs (features, labels)
over ranks with gradients, so the triplet loss mines over the global batch.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from sfcl.config import LossConfig
from sfcl.errors import SfclError
from sfcl.losses.identity import CrossEntropyLabelSmooth
from sfcl.losses.triplet import BatchHardTripletLoss, WeightedRegularizedTriplet

TRIPLETS = {"wrt": lambda cfg: WeightedRegularizedTriplet(), "batch_hard": lambda cfg: BatchHardTripletLoss(cfg.margin)}


class ReIDObjective(nn.Module):
    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        if cfg.triplet != "none" and cfg.triplet not in TRIPLETS:
            raise SfclError(f"config key loss.triplet: expected wrt, batch_hard or none, got {cfg.triplet!r}")
        for key in ("cfc_weight", "csc_weight"):
            if getattr(cfg, key):
                raise SfclError(f"config key loss.{key}: the FAD loss is not available in this version of sfcl")
        self.identity = CrossEntropyLabelSmooth(cfg.label_smoothing)
        self.triplet = TRIPLETS[cfg.triplet](cfg) if cfg.triplet != "none" else None
        self.triplet_weight = cfg.triplet_weight

    def forward(self, output, labels: torch.Tensor,
                gather: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Returns (total scalar, {"id", "tri", "total"} as floats for logging)."""
        if output.logits is None:
            raise RuntimeError("the objective needs logits: call the model in training mode")
        loss_id = self.identity(output.logits.float(), labels)
        total = loss_id
        terms = {"id": float(loss_id.detach())}
        if self.triplet is not None:
            features, all_labels = output.features.float(), labels
            if gather is not None:
                features, all_labels = gather(features), gather(labels)
            loss_tri = self.triplet(features, all_labels)
            total = total + self.triplet_weight * loss_tri
            terms["tri"] = float(loss_tri.detach())
        terms["total"] = float(total.detach())
        return total, terms
