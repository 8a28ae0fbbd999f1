"""Identity loss: cross-entropy with label smoothing (torch's ``F.cross_entropy``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CrossEntropyLabelSmooth(nn.Module):
    """logits (B, C), labels (B,) -> scalar; target ``(1 - eps) * onehot + eps / C``."""

    def __init__(self, epsilon: float = 0.1) -> None:
        super().__init__()
        self.epsilon = float(epsilon)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels, label_smoothing=self.epsilon)
