"""CFS, Cross-modality Frequency Sinkhorn (paper §3.2, entropic OT between spectra).

    Z* = argmin_{Z ∈ U(a, b)} <Z, C> − ε H(Z),   C_ij = ||Ã_nir_i − Ã_vis_j||²

with the infrared spectrum the source (marginal ``a``) and the visible one the
target (marginal ``b``); both marginals are the spectral energy of the bins
(energy conservation). Solved in the log domain, batched over problems and
differentiable by autograd through the iterations.

The iteration is POT's ``ot.bregman.sinkhorn_log`` (our test oracle) written for
a batch: with ``M = −C/ε``, ``v = log b − LSE_i(M + u)``, then
``u = log a − LSE_j(M + v)``; every ``check_every`` iterations (counting from 0,
as POT does) the L2 error of the column marginal is measured and a problem whose
error is at most ``tol`` is *frozen* (its potentials stop changing). Freezing per
problem makes each plan independent of the other problems in the batch, so the
batched solver returns exactly the plan of a loop over single problems.

Bins with zero mass get ``log 0 = −∞`` potentials, hence exactly-zero rows or
columns in the plan, and no NaN in values or gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class TransportResult:
    """plan (B, N, M): rows sum to the source marginal, columns to the target's (up to tol);
    iterations: iterations run by the slowest problem; marginal_error (B,): L2 error of the
    column marginal at exit."""

    plan: Tensor
    iterations: int
    marginal_error: Tensor


def _safe_log(mass: Tensor) -> Tensor:
    """log of a non-negative tensor with ``log 0 = -inf`` and a zero (not NaN) gradient there."""
    positive = mass > 0
    return torch.where(positive, torch.log(torch.where(positive, mass, torch.ones_like(mass))),
                       torch.full_like(mass, float("-inf")))


def sinkhorn_log(cost: Tensor, source: Tensor, target: Tensor, epsilon: float, max_iter: int = 100,
                 tol: float = 1e-6, check_every: int = 10) -> TransportResult:
    """Entropic OT plans of B problems: cost (B, N, M), source a (B, N), target b (B, M), each >= 0
    summing to 1. Computes in float64 for float64 inputs, else float32 (autocast off)."""
    if cost.dim() != 3 or source.shape != cost.shape[:2] or target.shape != (cost.shape[0], cost.shape[2]):
        raise ValueError(f"sinkhorn_log expects cost (B, N, M), source (B, N), target (B, M), got "
                         f"{tuple(cost.shape)}, {tuple(source.shape)}, {tuple(target.shape)}")
    if epsilon <= 0 or max_iter < 1 or check_every < 1:
        raise ValueError(f"epsilon > 0, max_iter >= 1, check_every >= 1 expected, got {epsilon}, {max_iter}, {check_every}")
    dtype = torch.float64 if cost.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=cost.device.type, enabled=False):
        scaled = -cost.to(dtype) / epsilon  # M = -C / ε, (B, N, M)
        log_a, log_b = _safe_log(source.to(dtype)), _safe_log(target.to(dtype))
        u = torch.zeros_like(log_a)
        v = torch.zeros_like(log_b)
        active = torch.ones(cost.shape[0], dtype=torch.bool, device=cost.device)
        iterations = 0
        for it in range(max_iter):
            iterations = it + 1
            v_new = log_b - torch.logsumexp(scaled + u.unsqueeze(2), dim=1)
            v = torch.where(active.unsqueeze(1), v_new, v)
            u_new = log_a - torch.logsumexp(scaled + v.unsqueeze(1), dim=2)
            u = torch.where(active.unsqueeze(1), u_new, u)
            if it % check_every == 0:
                with torch.no_grad():
                    error = _column_error(scaled, u, v, target.to(dtype))
                active = active & (error > tol)
                if not bool(active.any()):
                    break
        plan = torch.exp(scaled + u.unsqueeze(2) + v.unsqueeze(1))
        with torch.no_grad():
            error = _column_error(scaled, u, v, target.to(dtype))
    return TransportResult(plan=plan.to(cost.dtype), iterations=iterations, marginal_error=error)


def _column_error(scaled: Tensor, u: Tensor, v: Tensor, target: Tensor) -> Tensor:
    columns = torch.exp(scaled + u.unsqueeze(2) + v.unsqueeze(1)).sum(dim=1)
    return torch.linalg.vector_norm(columns - target, dim=1)


def spectral_marginal(amplitude: Tensor, floor: float = 1e-12) -> Tensor:
    """amplitude (B, N, D) >= 0 -> (B, N): energy ``Σ_d A²`` per bin over the total; an element with
    (near) zero total energy gets the uniform distribution."""
    energy = amplitude.float().square().sum(dim=-1)
    total = energy.sum(dim=-1, keepdim=True)
    empty = total <= floor
    uniform = torch.full_like(energy, 1.0 / energy.shape[-1])
    return torch.where(empty, uniform, energy / torch.where(empty, torch.ones_like(total), total))


def spectral_cost(amp_target: Tensor, amp_source: Tensor) -> Tensor:
    """(B, M, D) target, (B, N, D) source -> (B, N, M) with ``C[i, j] = ||src_i − tgt_j||²`` (>= 0)."""
    src, tgt = amp_source.float(), amp_target.float()
    cross = torch.bmm(src, tgt.transpose(1, 2))
    cost = src.square().sum(-1).unsqueeze(2) + tgt.square().sum(-1).unsqueeze(1) - 2.0 * cross
    return cost.clamp_min(0.0)


def barycentric_projection(plan: Tensor, values: Tensor, fallback: Tensor) -> Tensor:
    """``Σ_k plan[i, k] · values[k] / Σ_k plan[i, k]``: what the plan carries to each row's bin, averaged.

    plan (B, R, K), values (B, K, D) -> (B, R, D), a convex combination of ``values`` per row;
    rows without mass keep ``fallback`` (B, R, D)."""
    mass = plan.sum(dim=-1)
    has_mass = mass > 1e-12
    carried = torch.bmm(plan, values.to(plan.dtype))
    scaled = carried / torch.where(has_mass, mass, torch.ones_like(mass)).unsqueeze(-1)
    return torch.where(has_mass.unsqueeze(-1), scaled, fallback.to(plan.dtype))
