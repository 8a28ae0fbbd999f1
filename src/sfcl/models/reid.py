"""The re-identification model: backbone -> GeM -> BN neck -> classifier (the AGW-style Base).

The ablation rows of the paper are flags of this one model (``model.cfam``,
``model.sfim``); the model returns a :class:`ModelOutput` of named tensors and
knows nothing of losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sfcl.config import ModelConfig
from sfcl.errors import SfclError
from sfcl.models.backbone import TwoStreamResNet
from sfcl.models.pooling import GeM


@dataclass
class ModelOutput:
    """features (B, D) pre-BN pooled (triplet); embedding (B, D) post-BN (retrieval);
    logits (B, C) in training mode, None in eval mode; feature_map (B, C, h, w)."""

    features: torch.Tensor
    embedding: torch.Tensor
    logits: torch.Tensor | None
    feature_map: torch.Tensor


class ReIDModel(nn.Module):
    def __init__(self, cfg: ModelConfig, num_classes: int) -> None:
        super().__init__()
        for flag in ("cfam", "sfim"):
            if getattr(cfg, flag):
                raise SfclError(f"config key model.{flag}: not available in this version of sfcl")
        self.backbone = TwoStreamResNet(cfg.depth, cfg.last_stride, cfg.pretrained)
        dim = self.backbone.out_channels
        self.pool = GeM(cfg.gem_p)
        self.neck = nn.BatchNorm1d(dim)
        self.neck.bias.requires_grad_(False)  # BN neck with frozen bias (BoT / AGW)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, modality: torch.Tensor) -> ModelOutput:
        """images (B, 3, H, W), modality (B,) long {0 visible, 1 infrared}."""
        feature_map = self.backbone(images, modality)
        features = self.pool(feature_map)
        embedding = self.neck(features)
        logits = self.classifier(embedding) if self.training else None
        return ModelOutput(features=features, embedding=embedding, logits=logits, feature_map=feature_map)

    def param_groups(self, lr: float, backbone_lr_mult: float) -> list[dict]:
        """Optimizer groups: pretrained backbone at ``lr * backbone_lr_mult``, new layers at ``lr``."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        backbone_ids = {id(p) for p in backbone}
        head = [p for p in self.parameters() if p.requires_grad and id(p) not in backbone_ids]
        return [{"params": backbone, "lr": lr * backbone_lr_mult}, {"params": head, "lr": lr}]

    def num_parameters(self, include_classifier: bool = False) -> int:
        """Parameters used in the forward pass (the paper's count excludes the identity classifier)."""
        skip = set() if include_classifier else {id(p) for p in self.classifier.parameters()}
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)
