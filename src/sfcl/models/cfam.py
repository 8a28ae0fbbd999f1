"""CFAM, the Cross-modal Frequency Alignment Module (paper §3.2).

For a backbone map X (B, C, H, W) of either modality:

1. ``A, P = |F(X)|, ∠F(X)`` (:mod:`sfcl.models.spectrum`; half spectrum, L = H·(W//2+1) bins);
2. tokens: ``log(1 + A)`` and the phasor ``(Re P, Im P)`` are projected to width d;
   ``[A_tm, P_tm] = TM(A, P)`` (:class:`~sfcl.models.trans_mamba.TransMamba`);
3. cross-modal frequency attention: each branch's amplitude (phase) tokens query the
   partner modality's amplitude (phase) tokens (:mod:`sfcl.models.freq_attention`);
4. the tokens become a multiplicative amplitude update ``Ã = A·exp(Δ)`` (zero-init, so
   CFAM starts as the identity on the spectrum) and a phase update ``P̃ = phasor(P + δ)``;
   CFS (:mod:`sfcl.models.sinkhorn`) transports the infrared spectrum (source, marginal
   = its spectral energy) onto the visible one (target) with cost
   ``C_ij = ||Ã_vis_i − Ã_nir_j||²`` between unit-normalised bin spectra; each branch blends in the spectrum carried to its
   bins by the plan: visible bins receive ``Σ_i Z_ij Ã_nir_i / b_j``, infrared bins
   ``Σ_j Z_ij Ã_vis_j / a_i`` (the same plan read the other way); with ``transport: nir_to_vis``
   (the paper's "NIR to VIS") only the infrared branch blends, visible samples keep their own Ã;
5. ``O_fre = IFFT(Ã, P̃)`` (B, C, H, W).

**The partner modality.** In training, a batch laid out ``[visible half | infrared
half]`` pairs sample ``i`` of one half with sample ``i`` of the other (the sampler aligns
identities). Everywhere else (evaluation, a batch of one modality, unequal halves) the
partner is a *prototype* (in training too with ``train_partner: prototype``): an
exponential moving average, over training batches, of the
other modality's TM tokens and amplitude spectrum, kept as buffers. In eval mode the
prototype is always used, so an image's output never depends on the rest of its batch
and a query needs no image of the other modality (``docs/DESIGN.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sfcl.config import CFAMConfig
from sfcl.modality import INFRARED, VISIBLE
from sfcl.models.freq_attention import CrossModalFrequencyAttention
from sfcl.models.pooling import GeM
from sfcl.models.sinkhorn import barycentric_projection, sinkhorn_log, spectral_cost, spectral_marginal
from sfcl.models.spectrum import decompose, recombine, unit_phasor
from sfcl.models.trans_mamba import TransMamba


@dataclass
class CFAMOutput:
    """frequency_map O_fre (B, C, H, W) float32; plan (B, L, L): infrared bins (rows) to visible
    bins (columns) of each sample's problem; partner: ``"batch"`` or ``"prototype"``; embedding (B, C):
    L_cfc's frequency embedding (``model.cfam.embedding``: the spatial mean of O_fre, or of the
    sample's own updated spectrum IFFT(Ã, P̃) before the transported spectrum is blended in, or the
    GeM of that own map's positive part)."""

    frequency_map: Tensor
    plan: Tensor
    partner: str
    embedding: Tensor


@dataclass
class _Branch:
    """Per-sample quantities the partner modality reads: TM tokens (B, L, d) and Ã (B, L, C)."""

    amplitude_tokens: Tensor
    phase_tokens: Tensor
    amplitude: Tensor


def bounded_log_gain(delta: Tensor, bound: float) -> Tensor:
    """``g·tanh(Δ/g)``: the identity near 0 (slope 1), smoothly bounded to (−g, g) so the
    amplitude gain ``exp`` stays within [e^−g, e^g]; ``bound <= 0`` leaves Δ unbounded (the paper's
    words). A hard clamp at 10 let O_fre grow to 250–1000× X (docs/DESIGN.md, CFAM, "Back to a spectrum")."""
    return bound * torch.tanh(delta / bound) if bound > 0 else delta


def _stop_gradient(t: Tensor) -> Tensor:
    """``t.detach()`` where gradients are on; ``t`` itself under no_grad, where stopping changes nothing
    and a (complex) detach would be one more op for the ONNX exporters to trace, which they cannot."""
    return t.detach() if torch.is_grad_enabled() else t


class CFAM(nn.Module):
    """x (B, C, H, W), modality (B,) long {0 visible, 1 infrared} -> :class:`CFAMOutput`."""

    def __init__(self, channels: int, feature_size: tuple[int, int], cfg: CFAMConfig, gem_p: float = 3.0) -> None:
        super().__init__()
        self.pool = GeM(gem_p)  # embedding: gem
        height, width = feature_size
        self.channels, self.feature_size, self.cfg = channels, (height, width), cfg
        self.grid = (height, width // 2 + 1)
        bins, dim = self.grid[0] * self.grid[1], cfg.dim
        self.amplitude_in = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, dim))
        self.phase_in = nn.Linear(2 * channels, dim)
        self.trans_mamba = TransMamba(dim, bins, cfg.heads, cfg.d_state, cfg.ssm_expand, cfg.mlp_ratio,
                                      backend=cfg.scan_backend)
        self.amplitude_attention = CrossModalFrequencyAttention(dim, cfg.heads, cfg.attn_mlp_ratio)
        self.phase_attention = CrossModalFrequencyAttention(dim, cfg.heads, cfg.attn_mlp_ratio)
        self.amplitude_out = nn.Linear(dim, channels)
        self.phase_out = nn.Linear(dim, 2 * channels)
        for layer in (self.amplitude_out, self.phase_out):  # start as the identity on the spectrum
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        blend = min(max(cfg.blend_init, 1e-4), 1 - 1e-4)
        self.blend_logit = nn.Parameter(torch.tensor(float(torch.logit(torch.tensor(blend)))))
        self.register_buffer("prototype_amplitude_tokens", torch.zeros(2, bins, dim))
        self.register_buffer("prototype_phase_tokens", torch.zeros(2, bins, dim))
        self.register_buffer("prototype_amplitude", torch.zeros(2, bins, channels))
        self.register_buffer("prototype_updates", torch.zeros(2, dtype=torch.long))

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor, modality: Tensor) -> CFAMOutput:
        b, c, h, w = x.shape
        if (c, h, w) != (self.channels, *self.feature_size) or modality.shape != (b,):
            raise ValueError(f"CFAM built for (B, {self.channels}, {self.feature_size[0]}, {self.feature_size[1]}) "
                             f"with modality (B,), got {tuple(x.shape)} and {tuple(modality.shape)}")
        spectrum = decompose(x)
        amplitude = spectrum.amplitude.flatten(2).transpose(1, 2)  # (B, L, C)
        phase = spectrum.phase.flatten(2).transpose(1, 2)  # (B, L, C) complex
        # The analysis (tokens, plan) decides the gains, the phase shifts and the transport; with
        # analysis_grad off it reads a stopped spectrum and the gradient reaches X only through the
        # synthesis A·exp(Δ), phasor(P + δ); with phase_grad off (the default) the phasor of X's own
        # spectrum is stopped too (docs/DESIGN.md, "O_fre's phase is read from a stopped spectrum").
        analysis = (lambda t: t) if self.cfg.analysis_grad else _stop_gradient
        amp_tokens, phase_tokens = self._tokens(analysis(amplitude), analysis(phase))
        pairing = self._pairing(modality)
        partner_tokens = self._partner(_Branch(amp_tokens, phase_tokens, amplitude), modality, pairing)
        amp_att = self.amplitude_attention(amp_tokens, partner_tokens.amplitude_tokens)
        phase_att = self.phase_attention(phase_tokens, partner_tokens.phase_tokens)
        amp_tilde = amplitude * torch.exp(bounded_log_gain(self.amplitude_out(amp_att).float(), self.cfg.max_log_gain))
        delta = self.phase_out(phase_att).float()
        synthesis_phase = phase if self.cfg.phase_grad else _stop_gradient(phase)
        phase_tilde = unit_phasor(synthesis_phase + torch.complex(delta[..., :c], delta[..., c:]))
        own = _Branch(amp_tokens, phase_tokens, amp_tilde)
        partner = self._partner(own, modality, pairing)
        transported, plan = self._transport(analysis(amp_tilde), analysis(partner.amplitude), modality)
        blend = torch.sigmoid(self.blend_logit)
        if self.cfg.transport == "nir_to_vis":  # visible samples keep their own spectrum
            blend = blend * (modality == INFRARED).to(blend.dtype)[:, None, None]
        amp_final = amp_tilde + blend * (transported - amp_tilde)
        if self.training:
            self._update_prototypes(own, modality)
        grid = lambda t: t.transpose(1, 2).reshape(b, c, *self.grid)  # noqa: E731
        frequency_map = recombine(grid(amp_final), grid(phase_tilde), spectrum.size)
        if self.cfg.embedding == "own":  # spatial mean of IFFT(Ã, P̃) = Re of its DC bin / sqrt(HW) (ortho)
            embedding = amp_tilde[:, 0] * phase_tilde[:, 0].real / (h * w) ** 0.5
        elif self.cfg.embedding == "gem":  # every bin counts, as in the retrieval feature GeM(X)
            embedding = self.pool(F.relu(recombine(grid(amp_tilde), grid(phase_tilde), spectrum.size)))
        else:  # the transported spectrum is nearly one vector for every sample (docs/DESIGN.md)
            embedding = frequency_map.mean(dim=(2, 3))
        return CFAMOutput(frequency_map=frequency_map, plan=plan, partner="batch" if pairing is not None else "prototype",
                          embedding=embedding)

    def _tokens(self, amplitude: Tensor, phase: Tensor) -> tuple[Tensor, Tensor]:
        """(B, L, C) amplitude and complex phase -> TM outputs, each (B, L, d)."""
        b, bins, _ = amplitude.shape
        amp = self.amplitude_in(torch.log1p(amplitude)).reshape(b, *self.grid, -1)
        pha = self.phase_in(torch.cat([phase.real, phase.imag], dim=-1))
        amp, pha = self.trans_mamba(amp, pha)
        return amp.reshape(b, bins, -1), pha

    # ------------------------------------------------------------------ partner modality
    def _pairing(self, modality: Tensor) -> Tensor | None:
        """Index of each sample's partner in a training batch of aligned halves, else None
        (``train_partner: prototype`` trains with the inference-time partner). ``batch`` pairs
        sample i of one half with sample i of the other (the same identity); ``shuffled`` with
        sample i + k of the other half (k random in 1..n-1, one per batch): another identity of
        the other modality, so O_fre mixes in a foreign spectrum without reading the answer."""
        if not self.training or self.cfg.train_partner == "prototype":
            return None
        visible = (modality == VISIBLE).nonzero().squeeze(1)
        infrared = (modality == INFRARED).nonzero().squeeze(1)
        if visible.numel() == 0 or visible.numel() != infrared.numel():
            return None
        if self.cfg.train_partner == "shuffled":
            if visible.numel() < 2:
                return None
            shift = int(torch.randint(1, visible.numel(), (1,)))
            infrared = infrared.roll(shift)
        partner = torch.empty_like(modality)
        partner[visible] = infrared
        partner[infrared] = visible
        return partner

    def _partner(self, own: _Branch, modality: Tensor, pairing: Tensor | None) -> _Branch:
        if pairing is not None:
            return _Branch(own.amplitude_tokens[pairing], own.phase_tokens[pairing], own.amplitude[pairing])
        other = 1 - modality
        dtype = own.amplitude_tokens.dtype
        return _Branch(self.prototype_amplitude_tokens[other].to(dtype),
                       self.prototype_phase_tokens[other].to(dtype),
                       self.prototype_amplitude[other])

    @torch.no_grad()
    def _update_prototypes(self, own: _Branch, modality: Tensor) -> None:
        momentum = self.cfg.prototype_momentum
        for m in (VISIBLE, INFRARED):
            mask = modality == m
            if not mask.any():
                continue
            first = bool(self.prototype_updates[m] == 0)
            for buffer, value in ((self.prototype_amplitude_tokens, own.amplitude_tokens),
                                  (self.prototype_phase_tokens, own.phase_tokens),
                                  (self.prototype_amplitude, own.amplitude)):
                mean = value[mask].float().mean(0)
                buffer[m] = mean if first else momentum * buffer[m] + (1 - momentum) * mean
            self.prototype_updates[m] += 1

    # ------------------------------------------------------------------ CFS
    def _transport(self, own: Tensor, partner: Tensor, modality: Tensor) -> tuple[Tensor, Tensor]:
        """own, partner (B, L, C) amplitudes -> (spectrum carried to own bins (B, L, C), plan (B, L, L))."""
        infrared = (modality == INFRARED)[:, None, None]
        source = torch.where(infrared, own, partner)  # infrared spectrum
        target = torch.where(infrared, partner, own)  # visible spectrum
        a, b = spectral_marginal(source), spectral_marginal(target)
        # cost between the bins' spectral *shapes* (unit vectors over channels, so C in [0, 4]); their
        # energy is the marginals. Raw amplitudes put the DC bin's magnitude into the cost and Sinkhorn
        # then stalls (docs/DESIGN.md, "CFS").
        cost = spectral_cost(F.normalize(target, dim=-1), F.normalize(source, dim=-1))  # (B, N src, M tgt)
        cfg = self.cfg
        plan = sinkhorn_log(cost, a, b, cfg.sinkhorn_epsilon, max_iter=cfg.sinkhorn_iters, tol=cfg.sinkhorn_tol).plan
        to_visible = barycentric_projection(plan.transpose(1, 2), source, fallback=target)
        to_infrared = barycentric_projection(plan, target, fallback=source)
        return torch.where(infrared, to_infrared, to_visible), plan

