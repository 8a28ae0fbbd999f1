"""SS2D, VMamba's 2-D selective-scan layer (CFAM's amplitude encoder and refiner).

x (B, H, W, C) -> in_proj to (x, z), each d_inner = expand·C wide -> depthwise conv +
SiLU on x -> *cross-scan*: the map read as four sequences of length L = H·W (row-major,
column-major, and both reversed) -> per direction, x_proj gives (Δ, B, C) from the
token and dt_proj lifts Δ to d_inner -> one selective scan over the four directions
(groups = directions) -> *cross-merge*: undo each reading order and sum -> LayerNorm ->
gate with SiLU(z) -> out_proj back to C.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfcl.models.selective_scan import selective_scan


def cross_scan(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, 4, C, L): row-major, column-major, reversed row-major, reversed column-major."""
    rows = x.flatten(2)
    cols = x.transpose(2, 3).flatten(2)
    return torch.stack([rows, cols, rows.flip(-1), cols.flip(-1)], dim=1)


def cross_merge(y: Tensor, height: int, width: int) -> Tensor:
    """(B, 4, C, L) -> (B, C, L) in row-major order: each direction mapped back, then summed."""
    b, _, c, length = y.shape
    rows = y[:, 0] + y[:, 2].flip(-1)
    cols = y[:, 1] + y[:, 3].flip(-1)
    return rows + cols.reshape(b, c, width, height).transpose(2, 3).reshape(b, c, length)


class SS2D(nn.Module):
    DIRECTIONS = 4

    def __init__(self, d_model: int, d_state: int = 16, expand: float = 2.0, dt_rank: int | str = "auto",
                 d_conv: int = 3, dropout: float = 0.0, backend: str = "auto",
                 dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        super().__init__()
        self.d_inner = int(expand * d_model)
        self.d_state = d_state
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.backend = backend
        k, inner = self.DIRECTIONS, self.d_inner
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)
        self.conv = nn.Conv2d(inner, inner, d_conv, padding=(d_conv - 1) // 2, groups=inner)
        self.x_proj_weight = nn.Parameter(torch.empty(k, self.dt_rank + 2 * d_state, inner))
        self.dt_proj_weight = nn.Parameter(torch.empty(k, inner, self.dt_rank))
        self.dt_proj_bias = nn.Parameter(torch.empty(k, inner))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(k * inner, 1))
        self.Ds = nn.Parameter(torch.ones(k * inner))
        self.out_norm = nn.LayerNorm(inner)
        self.out_proj = nn.Linear(inner, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)
        self._init_projections(dt_min, dt_max)

    def _init_projections(self, dt_min: float, dt_max: float) -> None:
        """Mamba's initialisation: Δ after softplus log-uniform in [dt_min, dt_max]."""
        bound = self.d_inner ** -0.5
        nn.init.uniform_(self.x_proj_weight, -bound, bound)
        nn.init.uniform_(self.dt_proj_weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        dt = torch.exp(torch.rand(self.dt_proj_bias.shape) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp_min(1e-4)
        with torch.no_grad():
            self.dt_proj_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def forward(self, x: Tensor) -> Tensor:
        """x (B, H, W, d_model) -> (B, H, W, d_model)."""
        b, h, w, _ = x.shape
        hidden, gate = self.in_proj(x).chunk(2, dim=-1)
        hidden = F.silu(self.conv(hidden.permute(0, 3, 1, 2)))  # (B, d_inner, H, W)
        y = self._scan(hidden)  # (B, d_inner, L)
        y = self.out_norm(y.transpose(1, 2).reshape(b, h, w, self.d_inner))
        return self.dropout(self.out_proj(y * F.silu(gate)))

    def _scan(self, hidden: Tensor) -> Tensor:
        b, inner, h, w = hidden.shape
        k, length, n = self.DIRECTIONS, h * w, self.d_state
        seqs = cross_scan(hidden)  # (B, K, d_inner, L)
        proj = torch.einsum("bkdl,kcd->bkcl", seqs, self.x_proj_weight)
        dt, B, C = proj.split([self.dt_rank, n, n], dim=2)
        dt = torch.einsum("bkrl,kdr->bkdl", dt, self.dt_proj_weight)
        y = selective_scan(
            seqs.reshape(b, k * inner, length), dt.reshape(b, k * inner, length), -torch.exp(self.A_log.float()),
            B.contiguous(), C.contiguous(), self.Ds.float(), delta_bias=self.dt_proj_bias.reshape(-1).float(),
            delta_softplus=True, backend=self.backend,
        )
        return cross_merge(y.reshape(b, k, inner, length), h, w)


def ss2d_num_parameters(d_model: int, d_state: int = 16, expand: float = 2.0, dt_rank: int | str = "auto",
                        d_conv: int = 3) -> int:
    """Exact parameter count of :class:`SS2D` (for choosing widths against a budget)."""
    inner, k = int(expand * d_model), SS2D.DIRECTIONS
    rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
    return (d_model * 2 * inner + inner * d_conv * d_conv + inner + k * (rank + 2 * d_state) * inner
            + k * inner * rank + k * inner + k * inner * d_state + k * inner + 2 * inner + inner * d_model)
