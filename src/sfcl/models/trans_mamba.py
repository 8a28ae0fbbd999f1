"""The Trans-Mamba block of CFAM: ``[A_tm, P_tm] = TM(A, P)``.

Amplitude tokens go through a VMamba encoder and a refiner (two VSS blocks:
SS2D four-direction selective scan, then an MLP), phase tokens through a
Transformer block (self-attention, then an MLP); two cross-branch MLPs then
exchange information both ways, each reading the *other* branch's output:

    A' = A_tm + MLP_p→a(P_tm),    P' = P_tm + MLP_a→p(A_tm)

Amplitude tokens keep their 2-D frequency grid (the scan needs it), phase
tokens are a sequence with a learned position embedding per frequency bin.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sfcl.models.ss2d import SS2D


class MLP(nn.Module):
    """Linear -> GELU -> Linear on the last dim."""

    def __init__(self, dim: int, hidden: int, out: int | None = None) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, out or dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class VSSBlock(nn.Module):
    """VMamba's visual state-space block: ``x + SS2D(LN(x))``, then ``x + MLP(LN(x))``; x (B, H, W, C)."""

    def __init__(self, dim: int, d_state: int, ssm_expand: float, mlp_ratio: float, backend: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.ssm = SS2D(dim, d_state=d_state, expand=ssm_expand, backend=backend)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ssm(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TransformerBlock(nn.Module):
    """Pre-norm Transformer encoder block on (B, L, C) tokens."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TransMamba(nn.Module):
    """amplitude (B, Hf, Wf, C), phase (B, Hf*Wf, C) -> the same two shapes."""

    def __init__(self, dim: int, num_bins: int, heads: int, d_state: int = 16, ssm_expand: float = 2.0,
                 mlp_ratio: float = 4.0, cross_ratio: float = 1.0, backend: str = "auto") -> None:
        super().__init__()
        self.encoder = VSSBlock(dim, d_state, ssm_expand, mlp_ratio, backend)
        self.refiner = VSSBlock(dim, d_state, ssm_expand, mlp_ratio, backend)
        self.phase_position = nn.Parameter(torch.zeros(1, num_bins, dim))
        nn.init.trunc_normal_(self.phase_position, std=0.02)
        self.phase_block = TransformerBlock(dim, heads, mlp_ratio)
        self.phase_to_amplitude = nn.Sequential(nn.LayerNorm(dim), MLP(dim, int(dim * cross_ratio)))
        self.amplitude_to_phase = nn.Sequential(nn.LayerNorm(dim), MLP(dim, int(dim * cross_ratio)))

    def forward(self, amplitude: Tensor, phase: Tensor) -> tuple[Tensor, Tensor]:
        b, hf, wf, c = amplitude.shape
        if phase.shape != (b, hf * wf, c):
            raise ValueError(f"phase tokens {tuple(phase.shape)} do not match amplitude grid {tuple(amplitude.shape)}")
        amp = self.refiner(self.encoder(amplitude)).reshape(b, hf * wf, c)
        pha = self.phase_block(phase + self.phase_position)
        amp_out = amp + self.phase_to_amplitude(pha)
        pha_out = pha + self.amplitude_to_phase(amp)
        return amp_out.reshape(b, hf, wf, c), pha_out
