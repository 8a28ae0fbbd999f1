"""Generalised-mean (GeM) pooling, as the AGW baseline uses it (fixed p = 3)."""

from __future__ import annotations

import torch
from torch import nn


class GeM(nn.Module):
    """``(mean_{h,w} x^p + eps)^(1/p)`` over the spatial dims: (B, C, H, W) -> (B, C).

    The AGW form: inputs are post-ReLU (>= 0); ``eps`` = 1e-12 inside the root keeps its
    gradient finite where a whole channel is zero.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-12) -> None:
        super().__init__()
        self.p, self.eps = float(p), float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 4, f"GeM expects (B, C, H, W), got {tuple(x.shape)}"
        return (x.pow(self.p).mean(dim=(2, 3)) + self.eps).pow(1.0 / self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
