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

CPU_CHUNK_BYTES = 8 * 2**20  # problems solved together on the CPU: their kernels fit in L3


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
                 tol: float = 1e-6, check_every: int = 10, absorb_at: float = 30.0,
                 early_exit: bool = True) -> TransportResult:
    """Entropic OT plans of B problems: cost (B, N, M), source a (B, N), target b (B, M), each >= 0
    summing to 1. Computes in float64 for float64 inputs, else float32 (autocast off).

    Iteration 0 is the exact log-domain step. After it the potentials are carried as
    ``f + log ũ`` / ``g + log ṽ``: the kernel ``K̃ = exp(M + f + g)`` (the current plan, entries <= 1)
    is built once and the scalings ``ũ, ṽ`` are updated with two batched mat-vecs per iteration,
    ``ṽ = b / (K̃ᵀ ũ)``, ``ũ = a / (K̃ ṽ)``. These are the same iterates as the log-domain update
    (exp of it), so plans equal POT's ``sinkhorn_log`` to rounding; whenever a problem's
    ``|log ũ|`` or ``|log ṽ|`` exceeds ``absorb_at`` the scalings are absorbed into ``f, g`` and its
    kernel rebuilt (Schmitzer's log-stabilisation), so nothing overflows or underflows at small ε.
    Autograd keeps (B, N) vectors per iteration instead of (B, N, M) log-sum-exp inputs.
    On the CPU the batch is solved in chunks of ``CPU_CHUNK_BYTES`` of kernel (the mat-vecs are
    memory-bound; a chunk that stays in cache is ~2x faster). Problems never interact, so chunks
    change no value.

    ``early_exit=False`` runs every iteration with no data-dependent control flow (no stop when
    all problems converged, absorption as a select, no chunking): the same plans, for graph
    export (``sfcl.export``); converged problems are frozen either way.
    """
    if cost.dim() != 3 or source.shape != cost.shape[:2] or target.shape != (cost.shape[0], cost.shape[2]):
        raise ValueError(f"sinkhorn_log expects cost (B, N, M), source (B, N), target (B, M), got "
                         f"{tuple(cost.shape)}, {tuple(source.shape)}, {tuple(target.shape)}")
    if epsilon <= 0 or max_iter < 1 or check_every < 1:
        raise ValueError(f"epsilon > 0, max_iter >= 1, check_every >= 1 expected, got {epsilon}, {max_iter}, {check_every}")
    dtype = torch.float64 if cost.dtype == torch.float64 else torch.float32
    size = cost.shape[0]
    chunk = size
    if cost.device.type == "cpu" and early_exit:  # keep a chunk's two kernels in cache: the loop is memory-bound there
        per_problem = 2 * cost.shape[1] * cost.shape[2] * torch.finfo(dtype).bits // 8
        chunk = max(1, min(size, CPU_CHUNK_BYTES // per_problem))
    if chunk < size:
        parts = [_solve(cost[i:i + chunk], source[i:i + chunk], target[i:i + chunk], epsilon, max_iter, tol,
                        check_every, absorb_at, dtype, early_exit) for i in range(0, size, chunk)]
        return TransportResult(plan=torch.cat([p.plan for p in parts]), iterations=max(p.iterations for p in parts),
                               marginal_error=torch.cat([p.marginal_error for p in parts]))
    return _solve(cost, source, target, epsilon, max_iter, tol, check_every, absorb_at, dtype, early_exit)


def _solve(cost: Tensor, source: Tensor, target: Tensor, epsilon: float, max_iter: int, tol: float,
           check_every: int, absorb_at: float, dtype: torch.dtype, early_exit: bool = True) -> TransportResult:
    with torch.autocast(device_type=cost.device.type, enabled=False):
        scaled = -cost.to(dtype) / epsilon  # M = -C / ε, (B, N, M)
        a, b = source.to(dtype), target.to(dtype)
        log_a, log_b = _safe_log(a), _safe_log(b)
        # iteration 0, exact in the log domain (from u = 0)
        g = log_b - torch.logsumexp(scaled, dim=1)
        f = log_a - torch.logsumexp(scaled + g.unsqueeze(1), dim=2)
        kernel = torch.exp(scaled + f.unsqueeze(2) + g.unsqueeze(1))
        kernel_t = kernel.transpose(1, 2).contiguous()  # row-vector products are the fast bmm on CPU
        u_s, v_s = torch.ones_like(a), torch.ones_like(b)
        error = _column_error(kernel, u_s, v_s, b)
        active = error > tol
        iterations = 1
        for it in range(1, max_iter):
            if early_exit and not bool(active.any()):
                break
            iterations = it + 1
            keep = active.unsqueeze(1)
            v_new = _divide(log_b, torch.bmm(u_s.unsqueeze(1), kernel).squeeze(1))
            v_s = torch.where(keep, v_new, v_s)
            u_new = _divide(log_a, torch.bmm(v_s.unsqueeze(1), kernel_t).squeeze(1))
            u_s = torch.where(keep, u_new, u_s)
            if it % check_every == 0:
                error = torch.where(active, _column_error(kernel, u_s, v_s, b), error)
                active = active & (error > tol)
            f, g, kernel, kernel_t, u_s, v_s = _absorb(scaled, f, g, kernel, kernel_t, u_s, v_s, absorb_at, early_exit)
        plan = u_s.unsqueeze(2) * kernel * v_s.unsqueeze(1)
        error = _column_error(kernel, u_s, v_s, b)
    return TransportResult(plan=plan.to(cost.dtype), iterations=iterations, marginal_error=error)


def _divide(log_mass: Tensor, denominator: Tensor) -> Tensor:
    """``mass / denominator`` as ``exp(log mass − log denominator)``: 0 for zero-mass bins, and a
    backward without ``denominator²`` (which underflows in float32 at small ε and turns into 0·inf)."""
    tiny = torch.finfo(denominator.dtype).tiny
    return torch.exp(log_mass - torch.log(denominator.clamp_min(tiny)))


def _absorb(scaled, f, g, kernel, kernel_t, u_s, v_s, limit: float, skip_when_none: bool = True):
    """Fold the scalings of problems whose |log ũ| or |log ṽ| passed ``limit`` into the potentials
    (``skip_when_none``: return at once when no problem needs it, a data-dependent branch)."""
    log_u, log_v = _safe_log(u_s), _safe_log(v_s)
    big = lambda t: torch.where(torch.isfinite(t), t.abs(), torch.zeros_like(t)).amax(dim=1) > limit  # noqa: E731
    need = big(log_u) | big(log_v)
    if skip_when_none and not bool(need.any()):
        return f, g, kernel, kernel_t, u_s, v_s
    rows = need.unsqueeze(1)
    f = torch.where(rows, f + log_u, f)
    g = torch.where(rows, g + log_v, g)
    kernel = torch.where(need[:, None, None], torch.exp(scaled + f.unsqueeze(2) + g.unsqueeze(1)), kernel)
    u_s = torch.where(rows, torch.ones_like(u_s), u_s)
    v_s = torch.where(rows, torch.ones_like(v_s), v_s)
    return f, g, kernel, kernel.transpose(1, 2).contiguous(), u_s, v_s


def _column_error(kernel: Tensor, u_s: Tensor, v_s: Tensor, target: Tensor) -> Tensor:
    """L2 error of the plan's column sums, (B,); no gradient."""
    with torch.no_grad():
        columns = torch.bmm(u_s.unsqueeze(1), kernel).squeeze(1) * v_s
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
