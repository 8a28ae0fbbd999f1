"""Slow twins of ``sfcl.models.selective_scan``: the recurrences step by step, from their definitions.

Mamba's S6 scan with a real diagonal A (Gu & Dao, "Mamba", Algorithm 2; the discretisation
``A_bar = exp(Δ A)``, ``B_bar u = Δ B u`` of its selective_scan reference):

    h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t,    y_t = <C_t, h_t> + D u_t,    h_{-1} = 0.

Everything runs in the dtype it is given (pass float64 for an oracle) and autograd
differentiates the loop directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def reference_selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                             delta_bias: Tensor | None = None, delta_softplus: bool = False) -> Tensor:
    """u, delta (batch, D, L); A (D, N); B, C (batch, G, N, L), channel d uses group d // (D/G);
    D, delta_bias (D,) -> y (batch, D, L). A Python loop over time."""
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    per_group = dim // B.shape[1]
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for t in range(length):
        B_t = B[:, :, :, t].repeat_interleave(per_group, dim=1)  # (batch, D, N)
        C_t = C[:, :, :, t].repeat_interleave(per_group, dim=1)
        dt = delta[:, :, t, None]
        h = torch.exp(dt * A) * h + dt * B_t * u[:, :, t, None]
        y = (h * C_t).sum(-1)
        if D is not None:
            y = y + D * u[:, :, t]
        ys.append(y)
    return torch.stack(ys, dim=-1)


def reference_linear_recurrence(decay: Tensor, drive: Tensor, reverse: bool = False) -> Tensor:
    """h_t = decay_t h_{t-1} + drive_t (h_{-1} = 0) along the last dim; ``reverse``: h_t from h_{t+1}."""
    length = decay.shape[-1]
    h, states = torch.zeros_like(drive[..., 0]), [None] * length
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        h = decay[..., t] * h + drive[..., t]
        states[t] = h
    return torch.stack(states, dim=-1)
