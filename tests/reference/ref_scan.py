"""Slow twin of the selective scan: the recurrence step by step, from its definition."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reference_selective_scan(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """Same arguments as ``sfcl.models.selective_scan.selective_scan``; a Python loop over time."""
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    repeat = dim // B.shape[1]
    B = B.repeat_interleave(repeat, dim=1)  # (batch, D, N, L)
    C = C.repeat_interleave(repeat, dim=1)
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for t in range(length):
        h = torch.exp(delta[:, :, t, None] * A) * h + delta[:, :, t, None] * B[:, :, :, t] * u[:, :, t, None]
        y = (h * C[:, :, :, t]).sum(-1)
        if D is not None:
            y = y + D * u[:, :, t]
        ys.append(y)
    return torch.stack(ys, dim=-1)
