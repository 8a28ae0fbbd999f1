"""SS2D, VMamba's 2-D selective-scan layer (Liu et al., "VMamba", SS2D / Eq. 2-4; CFAM's
amplitude encoder and refiner).

x (B, H, W, C) -> in_proj to (x, z), each d_inner = expand·C wide -> depthwise conv +
SiLU on x -> *cross-scan*: the map read as K sequences of length L = H·W (K = 4:
row-major, column-major, and both reversed; K = 2: row-major and reversed; K = 1:
row-major) -> per direction, x_proj gives (Δ, B, C) from the token and dt_proj lifts Δ
to d_inner -> one selective scan over the K directions (groups = directions, each with
its own A, D, Δ bias) -> *cross-merge*: undo each reading order and sum -> LayerNorm ->
gate with SiLU(z) -> out_proj back to C.

Initialisation as Mamba's: A_log = log(1..N), D = 1, Δ after softplus log-uniform in
[dt_min, dt_max] through the dt_proj bias (inverse softplus), dt_proj weight uniform in
±dt_rank^-1/2; linear layers otherwise PyTorch's defaults. Biases: none on in_proj and
out_proj, one on the depthwise conv (VMamba's defaults). ``d_conv <= 1`` drops the conv.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfcl.models.selective_scan import check_backend, selective_scan

DIRECTIONS = (1, 2, 4)


def cross_scan(x: Tensor, directions: int = 4) -> Tensor:
    """(B, C, H, W) -> (B, K, C, L), L = H·W. K = 4: row-major, column-major, reversed row-major,
    reversed column-major; K = 2: row-major, reversed row-major; K = 1: row-major."""
    _check_directions(directions)
    rows = x.flatten(2)
    if directions == 1:
        return rows.unsqueeze(1)
    if directions == 2:
        return torch.stack([rows, rows.flip(-1)], dim=1)
    cols = x.transpose(2, 3).flatten(2)
    return torch.stack([rows, cols, rows.flip(-1), cols.flip(-1)], dim=1)


def cross_merge(y: Tensor, height: int, width: int) -> Tensor:
    """(B, K, C, L) in :func:`cross_scan`'s orders -> (B, C, L) row-major: each mapped back, then summed."""
    b, k, c, length = y.shape
    _check_directions(k)
    if length != height * width:
        raise ValueError(f"cross_merge: sequence length {length} is not {height} x {width}")
    if k == 1:
        return y[:, 0]
    rows = y[:, 0] + y[:, k // 2].flip(-1)
    if k == 2:
        return rows
    cols = y[:, 1] + y[:, 3].flip(-1)
    return rows + cols.reshape(b, c, width, height).transpose(2, 3).reshape(b, c, length)


def _check_directions(directions: int) -> None:
    if directions not in DIRECTIONS:
        raise ValueError(f"SS2D directions {directions}: expected one of {DIRECTIONS}")


class SS2D(nn.Module):
    """VMamba's 2-D selective-scan layer; x (B, H, W, d_model) -> (B, H, W, d_model)."""

    def __init__(self, d_model: int, d_state: int = 16, expand: float = 2.0, dt_rank: int | str = "auto",
                 d_conv: int = 3, directions: int = 4, dropout: float = 0.0, backend: str = "auto",
                 dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        super().__init__()
        _check_directions(directions)
        check_backend(backend)
        if d_conv > 1 and d_conv % 2 == 0:
            raise ValueError(f"SS2D d_conv {d_conv}: expected an odd kernel size (or <= 1 for none)")
        self.d_inner = int(expand * d_model)
        self.d_state = d_state
        self.dt_rank = _dt_rank(d_model, dt_rank)
        self.directions = directions
        self.backend = backend
        k, inner = directions, self.d_inner
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)
        self.conv = nn.Conv2d(inner, inner, d_conv, padding=(d_conv - 1) // 2, groups=inner) if d_conv > 1 else None
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
        bound = self.d_inner ** -0.5  # nn.Linear's default for a (.., d_inner) weight
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
        hidden = hidden.permute(0, 3, 1, 2)  # (B, d_inner, H, W)
        hidden = F.silu(self.conv(hidden) if self.conv is not None else hidden)
        y = self._scan(hidden)  # (B, d_inner, L)
        y = self.out_norm(y.transpose(1, 2).reshape(b, h, w, self.d_inner))
        return self.dropout(self.out_proj(y * F.silu(gate)))

    def _scan(self, hidden: Tensor) -> Tensor:
        """(B, d_inner, H, W) -> (B, d_inner, L): cross-scan, the selective scan, cross-merge."""
        b, inner, h, w = hidden.shape
        k, length, n = self.directions, h * w, self.d_state
        seqs = cross_scan(hidden, k)  # (B, K, d_inner, L)
        proj = torch.einsum("bkdl,kcd->bkcl", seqs, self.x_proj_weight)
        dt, B, C = proj.split([self.dt_rank, n, n], dim=2)
        dt = torch.einsum("bkrl,kdr->bkdl", dt, self.dt_proj_weight)
        y = selective_scan(
            seqs.reshape(b, k * inner, length), dt.reshape(b, k * inner, length), -torch.exp(self.A_log.float()),
            B.contiguous(), C.contiguous(), self.Ds.float(), delta_bias=self.dt_proj_bias.reshape(-1).float(),
            delta_softplus=True, backend=self.backend,
        )
        return cross_merge(y.reshape(b, k, inner, length), h, w)


def _dt_rank(d_model: int, dt_rank: int | str) -> int:
    """``"auto"`` -> ceil(d_model / 16), Mamba's default."""
    return math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)


def ss2d_num_parameters(d_model: int, d_state: int = 16, expand: float = 2.0, dt_rank: int | str = "auto",
                        d_conv: int = 3, directions: int = 4) -> int:
    """Exact parameter count of :class:`SS2D` (for choosing widths against a budget)."""
    inner, k, rank = int(expand * d_model), directions, _dt_rank(d_model, dt_rank)
    projections = d_model * 2 * inner + inner * d_model  # in_proj, out_proj (no biases)
    conv = inner * d_conv * d_conv + inner if d_conv > 1 else 0  # depthwise weight + bias
    per_direction = (rank + 2 * d_state) * inner + inner * rank + inner + inner * d_state + inner  # x_proj, dt_proj
    return projections + conv + k * per_direction + 2 * inner  # (w, b), A_log, Ds; LayerNorm
