"""The selective scan of Mamba (S6) with a real diagonal state matrix, as SS2D uses it.

    h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t,      y_t = <C_t, h_t> + D u_t,      h_{-1} = 0

with Δ = softplus(delta + delta_bias) when ``delta_softplus`` (else delta + delta_bias).
``selective_scan`` has the argument order of ``mamba_ssm``'s ``selective_scan_fn``
(u, delta, A, B, C, D, delta_bias, delta_softplus) and dispatches:

* ``"mamba_ssm"``: the CUDA kernel of the ``mamba-ssm`` package (optional GPU extra,
  imported only inside :func:`_kernel`, used by ``"auto"`` for CUDA tensors when present);
* ``"torch"``: pure PyTorch, any device, no Python loop over time.

The torch path solves the linear recurrence ``h_t = a_t h_{t-1} + x_t`` as a two-level
(chunked) scan: the L steps are cut into nc chunks of T (default T = ceil(sqrt(L)), so
L = 162 gives 13 x 13), stored *blocked* — step j of every chunk side by side — so that
(1) all chunks advance together, T - 1 in-place steps each over a contiguous slab,
(2) the nc chunk end states are chained (nc - 1 small steps), and (3) one pass adds each
chunk's entry state, scaled by the decay products, to its states. That is ~2 sqrt(L)
Python-level tensor ops and O(L) work (a whole-sequence Hillis–Steele scan costs
ceil(log2 L) full passes, O(L log L), and was 2-3x slower on the CPU: benchmarks/RESULTS.md).
Decays ``a = exp(Δ A)`` are in (0, 1] and only ever multiplied together, so nothing
overflows, whatever the size of Δ·A.

Memory: the state tensor is (batch, D, N, L) — 2 GB in float32 for a full CFAM layer
(64 x 5376 x 16 x 90). Autograd through the scan would keep several of them per call
(~2 log2(L) for a doubling scan); instead :class:`_SelectiveScan` saves only its inputs and
its backward recomputes the states and runs the adjoint recurrence
``λ_t = C_t dy_t + a_{t+1} λ_{t+1}`` (the same scan, reversed), so a call never holds more
than ~4 state-sized tensors. ``benchmarks/scan_speed.py`` measures this against autograd
through a doubling scan and the sequential loop (benchmarks/RESULTS.md, "Selective scan speed").

FLOPs (for ``sfcl profile``; VMamba's count): ``9 · B · L · D · N`` for the scan,
``+ B · D · L`` with the D skip (:func:`selective_scan_flops`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from sfcl.errors import SfclError

BACKENDS = ("auto", "torch", "mamba_ssm")
_FLOP_TALLIES: list[list[int]] = []  # open count_scan_flops() contexts, innermost last


@contextmanager
def count_scan_flops() -> Iterator[list[int]]:
    """Tally :func:`selective_scan_flops` of every scan run inside the block into ``tally[0]``.

    ``torch.utils.flop_counter`` sees the scan as element-wise ops it does not
    count (and cannot see into the mamba_ssm kernel), so profiling adds this.
    """
    tally = [0]
    _FLOP_TALLIES.append(tally)
    try:
        yield tally
    finally:
        _FLOP_TALLIES.remove(tally)


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   delta_bias: Tensor | None = None, delta_softplus: bool = False, backend: str = "auto",
                   chunk_size: int | None = None) -> Tensor:
    """u, delta (batch, D, L); A (D, N), negative reals; B, C (batch, G, N, L) with G dividing D;
    D, delta_bias (D,) -> y (batch, D, L) in u's dtype (computed in float32, or float64 for float64 u)."""
    check_backend(backend)
    _check_shapes(u, delta, A, B, C)
    if _FLOP_TALLIES:
        _FLOP_TALLIES[-1][0] += selective_scan_flops(u.shape[0], u.shape[1], u.shape[2], A.shape[1], D is not None)
    if backend == "mamba_ssm" or (backend == "auto" and u.is_cuda and _kernel() is not None):
        kernel = _kernel()
        if kernel is None:
            raise SfclError("scan backend 'mamba_ssm': the mamba-ssm package is not installed "
                            "(pip install mamba-ssm on a CUDA machine, or use 'torch')")
        return kernel(u, delta, A, B, C, D, None, delta_bias, delta_softplus)
    return _scan_torch(u, delta, A, B, C, D, delta_bias, delta_softplus, chunk_size)


def check_backend(backend: str) -> None:
    """Raise :class:`SfclError` unless ``backend`` is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise SfclError(f"scan backend {backend!r} (model.cfam.scan_backend): "
                        f"expected one of {', '.join(BACKENDS)}")


def _check_shapes(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> None:
    batch, dim, length = u.shape
    groups = B.shape[1]
    if delta.shape != u.shape or A.shape[0] != dim or B.shape != (batch, groups, A.shape[1], length) \
            or C.shape != B.shape or dim % groups:
        raise ValueError(f"selective_scan shapes: u {tuple(u.shape)}, delta {tuple(delta.shape)}, A {tuple(A.shape)}, "
                         f"B {tuple(B.shape)}, C {tuple(C.shape)}; expected (b, D, L), (b, D, L), (D, N), "
                         "(b, G, N, L), (b, G, N, L) with G dividing D")


def _kernel():
    """mamba_ssm's ``selective_scan_fn``, or None when the package (or its compiled kernel) is missing."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    return selective_scan_fn


def _scan_torch(u, delta, A, B, C, D, delta_bias, delta_softplus, chunk_size) -> Tensor:
    """Δ preparation and the D skip by autograd; the scan itself by :class:`_SelectiveScan`."""
    dtype = u.dtype
    work = torch.float64 if dtype == torch.float64 else torch.float32
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    y = _SelectiveScan.apply(u, delta, A, B, C, int(chunk_size or default_chunk(u.shape[-1])))
    if D is not None:
        y = y + D.to(work)[None, :, None] * u
    return y.to(dtype)


class _SelectiveScan(torch.autograd.Function):
    """y = <C, h> with h_t = exp(Δ_t A) h_{t-1} + Δ_t u_t B_t; saves only the (small) inputs.

    State-sized tensors are held in the *blocked* layout (batch, G, R, T, nc, N): D = G·R
    channels in G groups sharing B and C, time t = c·T + j at [j, c] (T = chunk, nc chunks),
    so that one step inside all chunks at once is one contiguous (nc, N) slab per channel.
    L is padded to nc·T with Δ = 0: padded steps are identity steps (decay 1, input 0).
    """

    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk: int) -> Tensor:
        length = u.shape[-1]
        chunk = min(chunk, length)
        ctx.save_for_backward(u, delta, A, B, C)
        ctx.chunk = chunk
        u6, delta6, A6, B6, C6 = _blocked_inputs(u, delta, A, B, C, chunk)
        decay = torch.exp(delta6 * A6)
        states = (delta6 * u6) * B6
        _scan_(decay, states)
        del decay
        return _unblock((states * C6).sum(-1), u.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y: Tensor):
        u, delta, A, B, C = ctx.saved_tensors
        u6, delta6, A6, B6, C6 = _blocked_inputs(u, delta, A, B, C, ctx.chunk)
        dy6 = _block(grad_y.to(u.dtype).reshape(u6.shape[:3] + (-1,)), ctx.chunk).unsqueeze(-1)
        decay = torch.exp(delta6 * A6)  # kept: the adjoint and dL/d(ΔA) need it
        states = (delta6 * u6) * B6
        _scan_(decay.clone(), states)
        grad_C = (states * dy6).sum(2)
        lam = dy6 * C6  # adjoint: lam_t = C_t dy_t + decay_{t+1} lam_{t+1}
        _scan_(_shift(decay, forward=False, fill=1.0), lam, reverse=True)
        grad_dA = decay.mul_(lam)  # dL/d(ΔA)_t = lam_t decay_t h_{t-1}, in decay's buffer
        grad_dA.mul_(_shift(states, forward=True, fill=0.0))
        del states
        grad_A = (grad_dA * delta6).sum((0, 3, 4))
        grad_delta = (grad_dA * A6).sum(-1)
        del grad_dA
        grad_du = (lam * B6).sum(-1)  # dL/d(Δ u)
        grad_B = (lam * (delta6 * u6)).sum(2)
        grad_delta = grad_delta + grad_du * u6.squeeze(-1)
        grad_u = grad_du * delta6.squeeze(-1)
        return (_unblock(grad_u, u.shape), _unblock(grad_delta, u.shape), grad_A.reshape(A.shape),
                _unblock(grad_B.movedim(-1, 2), B.shape), _unblock(grad_C.movedim(-1, 2), C.shape), None)


def _blocked_inputs(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk: int) -> tuple[Tensor, ...]:
    """Broadcastable blocked views: u, delta (b, G, R, T, nc, 1); A (G, R, 1, 1, N); B, C (b, G, 1, T, nc, N)."""
    b, g, n, length = B.shape
    r = u.shape[1] // g
    u6, delta6 = (_block(t.reshape(b, g, r, length), chunk).unsqueeze(-1) for t in (u, delta))
    B6, C6 = (_block(t, chunk).permute(0, 1, 3, 4, 2).unsqueeze(2).contiguous() for t in (B, C))
    return u6, delta6, A.reshape(g, r, 1, 1, n), B6, C6


def _block(t: Tensor, chunk: int, fill: float = 0.0) -> Tensor:
    """(..., L) -> (..., T, nc), padded with ``fill`` to nc·T steps; time c·T + j goes to [j, c]."""
    nc = -(-t.shape[-1] // chunk)
    t = F.pad(t, (0, nc * chunk - t.shape[-1]), value=fill)
    return t.reshape(*t.shape[:-1], nc, chunk).transpose(-1, -2).contiguous()


def _unblock(t: Tensor, shape: torch.Size) -> Tensor:
    """(..., T, nc) -> the original (..., L) ``shape`` (padding cut)."""
    flat = t.transpose(-1, -2).reshape(*t.shape[:-2], -1)
    return flat[..., :shape[-1]].reshape(shape)


def _shift(t: Tensor, forward: bool, fill: float) -> Tensor:
    """Blocked (..., T, nc, K) -> a new tensor holding t at time s-1 (``forward``) or s+1 at time s."""
    out = torch.empty_like(t)
    if forward:
        out[..., 1:, :, :] = t[..., :-1, :, :]
        out[..., 0, 1:, :] = t[..., -1, :-1, :]
        out[..., 0, 0, :] = fill
    else:
        out[..., :-1, :, :] = t[..., 1:, :, :]
        out[..., -1, :-1, :] = t[..., 0, 1:, :]
        out[..., -1, -1, :] = fill
    return out


@torch.no_grad()
def linear_recurrence(decay: Tensor, drive: Tensor, chunk_size: int | None = None, reverse: bool = False) -> Tensor:
    """All states of ``h_t = decay_t h_{t-1} + drive_t`` (h_{-1} = 0) along the last dim, or with
    ``reverse`` of ``h_t = decay_t h_{t+1} + drive_t`` (h_L = 0). Same shapes in and out; no autograd
    (:func:`selective_scan` carries its own backward)."""
    length = decay.shape[-1]
    chunk = min(chunk_size or default_chunk(length), length)
    a = _block(decay, chunk, fill=1.0).unsqueeze(-1)
    x = _block(drive, chunk).unsqueeze(-1)
    _scan_(a, x, reverse)
    return _unblock(x.squeeze(-1), drive.shape)


def default_chunk(length: int) -> int:
    """ceil(sqrt(L)): balances the steps inside a chunk against the chain of chunk ends."""
    return max(1, math.ceil(math.sqrt(length)))


def _scan_(a: Tensor, x: Tensor, reverse: bool = False) -> None:
    """In place on blocked (..., T, nc, K) tensors: x <- states of the recurrence, a <- products of
    decays inside each chunk. Three phases: every chunk at once step by step (T - 1 steps), then
    the chunk ends chained (nc - 1 steps, small), then every state corrected by its chunk's entry
    state in one pass. Each step is an in-place ``addcmul_``/``mul_`` between distinct slices."""
    steps = a.shape[-3]
    inner = range(steps - 2, -1, -1) if reverse else range(1, steps)
    step = 1 if reverse else -1
    for j in inner:  # inside every chunk
        x[..., j, :, :].addcmul_(a[..., j, :, :], x[..., j + step, :, :])
        a[..., j, :, :].mul_(a[..., j + step, :, :])
    edge = 0 if reverse else steps - 1  # where a chunk hands its state on
    ends_a, ends_x = a[..., edge, :, :], x[..., edge, :, :]
    chunks = ends_x.shape[-2]
    for c in (range(chunks - 2, -1, -1) if reverse else range(1, chunks)):  # across chunks
        ends_x[..., c, :].addcmul_(ends_a[..., c, :], ends_x[..., c + step, :])
    if chunks > 1 and steps > 1:  # entry state into the rest of each chunk
        if reverse:
            x[..., 1:, :-1, :].addcmul_(a[..., 1:, :-1, :], x[..., 0:1, 1:, :])
        else:
            x[..., :-1, 1:, :].addcmul_(a[..., :-1, 1:, :], x[..., -1:, :-1, :])


def selective_scan_flops(batch: int, dim: int, length: int, d_state: int, with_d: bool = True) -> int:
    """Floating-point operations of one selective scan, VMamba's convention (its ``flops_selective_scan_fn``
    counting): ``9·B·L·D·N`` for the scan, plus ``B·D·L`` for the D skip when ``with_d``."""
    return 9 * batch * length * dim * d_state + (batch * dim * length if with_d else 0)
