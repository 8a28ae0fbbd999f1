"""SFIM, the Spatial-Frequency Interaction Module (paper §3.3).

Injects CFAM's frequency representation O_fre back into the spatial features X.
Both maps are (B, C, H, W); as tokens they are (B, N, C) with N = H·W.

1. **Gabor band modulation** of O_fre over the frequency index k of its 2-D
   spectrum (rfft2 over the spatial grid, radial frequency ω_k in cycles/sample):
   ``G(O)[k, :] = O[k, :] · exp(−(ω_k − ω0)² / 2σ²)``, ω0 and σ learned (or fixed).
2. **Correlation**: ``S_ij = cos(x_spa,i, o_j)`` over channels, ``X_sf = S · G(O) / N``
   (each spatial position gathers the frequency responses it resembles; the 1/N keeps
   X_sf on the scale of one token).
3. **Soft-threshold structural attention**: relevance ``s = W2 GELU(W1 LN(X + X_sf))``
   per position and channel; ``A = max(sigmoid(s) − τ, 0) / (1 − τ)`` keeps only cues
   whose relevance exceeds τ; ``F̂_spa = X + W_o(A ⊙ W_v X_sf)``, ``F̂_fre = X_sf``.
4. **Cross-covariance pooling** of rank-r projections ``F_s = F̂_spa P_s``, ``F_f = F̂_fre P_f``:
   ``T = (F_s − 1μ_sᵀ)ᵀ (F_f − 1μ_fᵀ) / √(N_s N_f)`` (r × r), then signed square root
   ``sign(T)(√(|T| + ε) − √ε)`` and ℓ2 normalisation.
5. **Fusion**: ``O_sf = GeM(relu(F̂_spa)) + MLP(T)`` (B, C), the retrieval representation;
   W_o and the MLP's last layer start at zero, so SFIM starts as GeM(X), the Base's feature.
   ``spatial_drop: p`` (training only) drops X from F̂_spa for a fraction p of the samples, so the
   injected term alone must carry the identity (an option; the paper has no such term).
   ``value_norm: true`` puts a LayerNorm on X_sf before W_v (X_sf is ~5x below X, W_v X_sf ~50x, so
   otherwise the zero-initialised W_o cannot bring the injection to X's scale in a short run).
   ``branch_scale: rms`` multiplies MLP(T) by each sample's (stopped) RMS of GeM(relu(F̂_spa)):
   T is unit-norm, so otherwise the branch enters about 1000x below GeM (RESULTS.md).
   ``fusion: concat`` gives ``O_sf = [GeM(relu(F̂_spa)) ; MLP(T)]`` (C + ``fusion_dim``), the paper's
   MLP(T) as its own block: the BN neck normalises each channel, so the block cannot be kept small;
   it starts at zero, so the retrieval feature starts as the Base's padded with zeros.

Widths (``SFIMConfig``) are chosen to land on the paper's size: at ResNet-50
(C = 2048, 18×9 map) SFIM adds 14.3 M parameters (docs/DESIGN.md, "SFIM").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfcl.config import SFIMConfig
from sfcl.models.pooling import GeM
from sfcl.models.spectrum import frequency_grid

SQRT_EPS = 1e-6  # signed square root: sign(t)(sqrt(|t| + eps) - sqrt(eps)), finite gradient at 0


@dataclass
class SFIMOutput:
    """fused O_sf (B, C), or (B, C + fusion_dim) with ``fusion: concat``; spatial_map F̂_spa (B, C, H, W);
    covariance T (B, r, r) after normalisation; attention A (B, N, C); correlation S (B, N, N)."""

    fused: Tensor
    spatial_map: Tensor
    covariance: Tensor
    attention: Tensor
    correlation: Tensor


class GaborModulation(nn.Module):
    """x (B, C, H, W) -> IFFT(FFT(x) · exp(−(ω − ω0)² / 2σ²)) over the spatial dims, same shape.

    σ is stored as log σ; with ``learnable=False`` ω0 and σ are fixed buffers.
    """

    def __init__(self, center: float, sigma: float, learnable: bool = True) -> None:
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"Gabor sigma must be > 0, got {sigma}")
        center_t, log_sigma = torch.tensor(float(center)), torch.tensor(math.log(sigma))
        if learnable:
            self.center, self.log_sigma = nn.Parameter(center_t), nn.Parameter(log_sigma)
        else:
            self.register_buffer("center", center_t)
            self.register_buffer("log_sigma", log_sigma)

    def band(self, height: int, width: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """The Gaussian band weight of each rfft2 bin, (H, W//2+1) in ``dtype``."""
        omega = frequency_grid(height, width).to(self.center.device, dtype)
        center, log_sigma = self.center.to(dtype), self.log_sigma.to(dtype)
        return torch.exp(-(omega - center).square() / (2 * torch.exp(2 * log_sigma)))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        with torch.autocast(x.device.type, enabled=False):  # FFTs in float32 (float64 kept for tests)
            spectrum = torch.fft.rfft2(x if x.dtype == torch.float64 else x.float(), dim=(-2, -1), norm="ortho")
            band = self.band(h, w, spectrum.real.dtype)
            return torch.fft.irfft2(spectrum * band, s=(h, w), dim=(-2, -1), norm="ortho")


def signed_sqrt(t: Tensor, eps: float = SQRT_EPS) -> Tensor:
    """Power normalisation ``sign(t)(√(|t| + ε) − √ε)``: continuous, odd, finite slope at 0."""
    return torch.sign(t) * (torch.sqrt(t.abs() + eps) - math.sqrt(eps))


def cross_covariance(spatial: Tensor, frequency: Tensor) -> Tensor:
    """spatial (B, N_s, r), frequency (B, N_f, r) with N_s == N_f -> T (B, r, r):
    ``(F_s − 1μ_sᵀ)ᵀ (F_f − 1μ_fᵀ) / √(N_s N_f)``."""
    if spatial.shape[:2] != frequency.shape[:2]:
        raise ValueError(f"cross-covariance needs the same tokens, got {tuple(spatial.shape)} and "
                         f"{tuple(frequency.shape)}")
    n = spatial.shape[1]
    centred_s = spatial - spatial.mean(dim=1, keepdim=True)
    centred_f = frequency - frequency.mean(dim=1, keepdim=True)
    return centred_s.transpose(1, 2) @ centred_f / math.sqrt(n * n)


def soft_threshold_attention(logits: Tensor, tau: float) -> Tensor:
    """``max(sigmoid(s) − τ, 0) / (1 − τ)`` in [0, 1]: relevance below τ gives exactly zero weight."""
    return F.relu(torch.sigmoid(logits) - tau) / (1.0 - tau)


class SFIM(nn.Module):
    """x (B, C, H, W) spatial, o (B, C, H, W) frequency -> :class:`SFIMOutput`."""

    def __init__(self, channels: int, cfg: SFIMConfig, gem_p: float = 3.0) -> None:
        super().__init__()
        self.channels, self.tau, self.branch_scale, self.fusion = channels, cfg.threshold, cfg.branch_scale, cfg.fusion
        self.spatial_drop = cfg.spatial_drop
        branch_width = cfg.fusion_dim if cfg.fusion == "concat" else channels  # MLP(T): its own block, or added
        self.out_dim = channels + branch_width if cfg.fusion == "concat" else channels  # width of O_sf
        hidden = max(1, int(channels * cfg.attention_ratio))
        self.gabor = GaborModulation(cfg.gabor_center, cfg.gabor_sigma, cfg.gabor_learnable)
        self.norm = nn.LayerNorm(channels)
        self.relevance = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))
        self.value = nn.Linear(channels, channels)
        self.value_norm = nn.LayerNorm(channels) if cfg.value_norm else nn.Identity()
        self.out = nn.Linear(channels, channels)
        self.project_spatial = nn.Linear(channels, cfg.covariance_dim, bias=False)
        self.project_frequency = nn.Linear(channels, cfg.covariance_dim, bias=False)
        self.mlp = nn.Sequential(nn.Linear(cfg.covariance_dim ** 2, cfg.mlp_hidden), nn.GELU(),
                                 nn.Linear(cfg.mlp_hidden, branch_width))
        for layer in (self.out, self.mlp[-1]):  # start as GeM(X): SFCL at step 0 is the Base
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.pool = GeM(gem_p)

    def _keep_spatial(self, x_tok: Tensor) -> Tensor:
        """x_tok, or in training with ``spatial_drop`` p > 0, x_tok with each sample zeroed with probability p
        (no rescaling: the sample's F_spa is then the injection alone, on its test-time scale)."""
        if not self.training or self.spatial_drop <= 0:
            return x_tok
        keep = torch.rand(x_tok.shape[0], 1, 1, device=x_tok.device) >= self.spatial_drop
        return x_tok * keep.to(x_tok.dtype)

    def forward(self, x: Tensor, o: Tensor) -> SFIMOutput:
        if x.shape != o.shape or x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SFIM expects two (B, {self.channels}, H, W) maps, got {tuple(x.shape)} "
                             f"and {tuple(o.shape)}")
        b, c, h, w = x.shape
        tokens = lambda t: t.flatten(2).transpose(1, 2)  # noqa: E731  (B, C, H, W) -> (B, N, C)
        x_tok = tokens(x)
        o_tok = tokens(self.gabor(o)).to(x.dtype)
        correlation = F.normalize(x_tok, dim=-1) @ F.normalize(o_tok, dim=-1).transpose(1, 2)  # (B, N, N)
        x_sf = correlation @ o_tok / o_tok.shape[1]
        attention = soft_threshold_attention(self.relevance(self.norm(x_tok + x_sf)), self.tau)
        spatial = self._keep_spatial(x_tok) + self.out(attention * self.value(self.value_norm(x_sf)))
        cov = cross_covariance(self.project_spatial(spatial), self.project_frequency(x_sf))
        precise = torch.float64 if cov.dtype == torch.float64 else torch.float32  # half-precision sqrt/normalise is lossy
        cov = F.normalize(signed_sqrt(cov.to(precise)).flatten(1), dim=1)  # (B, r*r)
        spatial_map = spatial.transpose(1, 2).reshape(b, c, h, w)
        pooled, branch = self.pool(F.relu(spatial_map)), self.mlp(cov.to(x.dtype))
        if self.fusion == "concat":  # the BN neck puts the block on GeM's scale
            fused = torch.cat([pooled, branch], dim=1)
        else:
            if self.branch_scale == "rms":  # on GeM's scale: the unit-norm T otherwise enters ~1000x smaller
                branch = branch * pooled.detach().pow(2).mean(1, keepdim=True).sqrt()
            fused = pooled + branch
        return SFIMOutput(fused=fused, spatial_map=spatial_map, covariance=cov.view(b, self.project_spatial.out_features, -1),
                          attention=attention, correlation=correlation)
