"""The training objective: ``L = L_id + triplet_weight·L_tri + cfc_weight·L_cfc + csc_weight·L_csc``.

Reads what it needs from the model's :class:`~sfcl.models.reid.ModelOutput`.
Under DDP, ``gather`` concatenates the batch-level inputs (features, labels)
over ranks with gradients, so the triplet loss mines over the global batch; the
FAD terms (:mod:`sfcl.losses.fad`) pair the modalities within each rank's batch
(the sampler puts both modalities of every identity on the same rank).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from sfcl.config import LossConfig
from sfcl.errors import SfclError
from sfcl.losses.fad import frequency_contrastive_loss, semantic_consistency_loss
from sfcl.losses.identity import CrossEntropyLabelSmooth
from sfcl.losses.triplet import BatchHardTripletLoss, WeightedRegularizedTriplet

TRIPLETS = {"wrt": lambda cfg: WeightedRegularizedTriplet(), "batch_hard": lambda cfg: BatchHardTripletLoss(cfg.margin)}


class ReIDObjective(nn.Module):
    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg  # checked when read (sfcl.config.RULES)
        self.identity = CrossEntropyLabelSmooth(cfg.label_smoothing)
        self.triplet = TRIPLETS[cfg.triplet](cfg) if cfg.triplet != "none" else None
        self.triplet_weight = cfg.triplet_weight

    def forward(self, output, labels: torch.Tensor, modality: torch.Tensor | None = None,
                gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
                progress: float | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Returns (total scalar, {"id", "tri", "cfc", "csc", "total"} (those in use) as floats for logging).

        ``modality`` (B,) {0 visible, 1 infrared} is needed by the FAD terms; ``progress``
        (epochs done, fractional) ramps their weights over ``loss.fad_warmup_epochs``
        (None: full weight).
        """
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
        cfg = self.cfg
        ramp = self.fad_ramp(progress)
        if (cfg.cfc_weight or cfg.csc_weight) and modality is None:
            raise RuntimeError("the FAD loss needs the batch's modality labels")
        if cfg.cfc_weight:
            if output.frequency is None:
                raise SfclError("config key loss.cfc_weight: L_cfc needs CFAM's frequency embeddings; "
                                "set model.cfam.enabled: true or loss.cfc_weight: 0")
            loss_cfc = frequency_contrastive_loss(output.frequency, labels, modality, cfg.cfc_temperature,
                                                  center=cfg.cfc_center)
            total = total + ramp * cfg.cfc_weight * loss_cfc
            terms["cfc"] = float(loss_cfc.detach())
        if cfg.csc_weight:
            loss_csc = semantic_consistency_loss(output.logits, output.embedding, modality, cfg.csc_neighbors)
            total = total + ramp * cfg.csc_weight * loss_csc
            terms["csc"] = float(loss_csc.detach())
        terms["total"] = float(total.detach())
        return total, terms

    def fad_ramp(self, progress: float | None) -> float:
        """Factor in [0, 1] on λ1, λ2: linear over the first ``loss.fad_warmup_epochs`` epochs.

        The untrained classifier's near-uniform distributions make L_csc's neighbours noise,
        and L_cfc pulls on a CFAM that has not yet learnt anything (docs/DESIGN.md, "FAD warm-up")."""
        warmup = self.cfg.fad_warmup_epochs
        if progress is None or warmup <= 0:
            return 1.0
        return min(1.0, max(0.0, progress / warmup))
