"""The selective scan of Mamba (S6) with a real diagonal state matrix, as SS2D uses it.

    h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t,      y_t = <C_t, h_t> + D u_t,      h_{-1} = 0

with Δ = softplus(delta + delta_bias) when ``delta_softplus`` (else delta + delta_bias).
``selective_scan`` has the argument order of ``mamba_ssm``'s ``selective_scan_fn``
(u, delta, A, B, C, D, delta_bias, delta_softplus) and dispatches:

* ``"mamba_ssm"``: the CUDA kernel of the ``mamba-ssm`` package (optional GPU extra,
  imported only inside :func:`_kernel`, used by ``"auto"`` for CUDA tensors when present);
* ``"torch"``: pure PyTorch, any device, no Python loop over time.

The torch path solves the linear recurrence ``h_t = a_t h_{t-1} + x_t`` by a chunked
Hillis–Steele scan: inside chunks of ``chunk_size`` steps, log2(chunk) doubling steps
``x[k:] += a[k:]·x[:-k]; a[k:] *= a[:-k]`` on all chunks at once; the chunk end states
are chained by the same scan one level up (recursively), then added back in one pass.
Decays ``a = exp(Δ A)`` are in (0, 1] and only ever multiplied together, so nothing
overflows, whatever the size of Δ·A.

Memory: the state tensor is (batch, D, N, L) — 2 GB in float32 for a full CFAM layer
(64 x 5376 x 16 x 90). Autograd through the doubling steps would keep ~2 log2(L) of
them alive; instead :class:`_SelectiveScan` saves only its inputs and its backward
recomputes the states and runs the adjoint recurrence ``λ_t = C_t dy_t + a_{t+1} λ_{t+1}``
(the same scan, reversed), so a call never holds more than ~4 state-sized tensors.
``benchmarks/scan_speed.py`` measures this against autograd-through-the-scan and the
sequential loop (benchmarks/RESULTS.md, "Selective scan speed").

FLOPs (for ``sfcl profile``; VMamba's count): ``9 · B · L · D · N`` for the scan,
``+ B · D · L`` with the D skip (:func:`selective_scan_flops`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sfcl.errors import SfclError

BACKENDS = ("auto", "torch", "mamba_ssm")
DEFAULT_CHUNK = 16


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   delta_bias: Tensor | None = None, delta_softplus: bool = False, backend: str = "auto",
                   chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """u, delta (batch, D, L); A (D, N), negative reals; B, C (batch, G, N, L) with G dividing D;
    D, delta_bias (D,) -> y (batch, D, L) in u's dtype (computed in float32, or float64 for float64 u)."""
    check_backend(backend)
    _check_shapes(u, delta, A, B, C)
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
        raise SfclError(f"scan backend {backend!r} (model.frequency.scan_backend): expected one of {', '.join(BACKENDS)}")


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
    y = _SelectiveScan.apply(u, delta, A, B, C, int(chunk_size))
    if D is not None:
        y = y + D.to(work)[None, :, None] * u
    return y.to(dtype)


class _SelectiveScan(torch.autograd.Function):
    """y = <C, h> with h_t = exp(Δ_t A) h_{t-1} + Δ_t u_t B_t; saves only the (small) inputs.

    Internally every tensor is viewed as (batch, G, R, N, L) with D = G·R channels split into
    G groups sharing B and C; L is padded to a multiple of the chunk with Δ = 0, which makes
    the padded steps identity steps (decay 1, input 0) and their outputs are cut off.
    """

    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk: int) -> Tensor:
        length = u.shape[-1]
        pad = (-length) % chunk if length > chunk else 0
        u, delta, B, C = (F.pad(t, (0, pad)) for t in (u, delta, B, C))
        ctx.save_for_backward(u, delta, A, B, C)
        ctx.chunk, ctx.length = chunk, length
        u5, delta5, A5, B5, C5 = _grouped(u, delta, A, B, C)
        decay = torch.exp(delta5 * A5)
        states = (delta5 * u5) * B5
        _scan_(decay, states, chunk)
        del decay
        y = (states * C5).sum(3)
        return y.reshape(u.shape)[..., :length]

    @staticmethod
    def backward(ctx, grad_y: Tensor):
        u, delta, A, B, C = ctx.saved_tensors
        b, g, n, length = B.shape
        r = u.shape[1] // g
        u5, delta5, A5, B5, C5 = _grouped(u, delta, A, B, C)
        dy5 = F.pad(grad_y.to(u.dtype), (0, length - ctx.length)).reshape(b, g, r, 1, length)
        # states again (decay is kept: the adjoint and dL/dΔA need it)
        decay = torch.exp(delta5 * A5)
        states = (delta5 * u5) * B5
        _scan_(decay.clone(), states, ctx.chunk)
        grad_C = (states * dy5).sum(2)
        # adjoint: lam_t = C_t dy_t + decay_{t+1} lam_{t+1}
        coef = torch.empty_like(decay)
        coef[..., :-1] = decay[..., 1:]
        coef[..., -1] = 1.0
        lam = dy5 * C5
        _scan_(coef, lam, ctx.chunk, reverse=True)
        del coef
        # dL/d(ΔA)_t = lam_t * decay_t * h_{t-1}, built in decay's buffer
        grad_dA = decay.mul_(lam)
        grad_dA[..., 1:] *= states[..., :-1]
        grad_dA[..., 0] = 0.0
        del states
        grad_A = (grad_dA * delta5).sum((0, 4)).reshape(A.shape)
        grad_delta = (grad_dA * A5).sum(3)
        del grad_dA
        grad_du = (lam * B5).sum(3)  # dL/d(Δ u)
        grad_B = (lam * (delta5 * u5)).sum(2)
        grad_delta = grad_delta + grad_du * u5.squeeze(3)
        grad_u = grad_du * delta5.squeeze(3)
        cut = slice(0, ctx.length)
        return (grad_u.reshape(u.shape)[..., cut], grad_delta.reshape(u.shape)[..., cut], grad_A,
                grad_B[..., cut], grad_C[..., cut], None)


def _grouped(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, ...]:
    """Broadcastable (batch, G, R, N, L) views: u, delta (b, G, R, 1, L); A (G, R, N, 1); B, C (b, G, 1, N, L)."""
    b, g, n, length = B.shape
    r = u.shape[1] // g
    return (u.reshape(b, g, r, 1, length), delta.reshape(b, g, r, 1, length), A.reshape(g, r, n, 1),
            B.unsqueeze(2), C.unsqueeze(2))


@torch.no_grad()
def linear_recurrence(decay: Tensor, drive: Tensor, chunk_size: int = DEFAULT_CHUNK, reverse: bool = False) -> Tensor:
    """All states of ``h_t = decay_t h_{t-1} + drive_t`` (h_{-1} = 0) along the last dim, or with
    ``reverse`` of ``h_t = decay_t h_{t+1} + drive_t`` (h_L = 0). Same shapes in and out; no autograd
    (:func:`selective_scan` carries its own backward)."""
    length = decay.shape[-1]
    pad = (-length) % chunk_size if length > chunk_size else 0
    a, x = _padded(decay, pad, 1.0), _padded(drive, pad, 0.0)
    _scan_(a, x, chunk_size, reverse)
    return x[..., :length]


def _scan_(a: Tensor, x: Tensor, chunk: int, reverse: bool = False) -> None:
    """In place along the last dim (its length a multiple of ``chunk``, or at most ``chunk``):
    x <- states of the recurrence; a is overwritten (within-chunk products)."""
    length = x.shape[-1]
    if length <= chunk:
        _doubling_(a, x, reverse)
        return
    nc = length // chunk
    a, x = a.view(*a.shape[:-1], nc, chunk), x.view(*x.shape[:-1], nc, chunk)
    _doubling_(a, x, reverse)
    edge = 0 if reverse else -1  # where a chunk hands its state on
    pad = (-nc) % chunk if nc > chunk else 0
    ends_a, ends_x = _padded(a[..., edge], pad, 1.0), _padded(x[..., edge], pad, 0.0)
    _scan_(ends_a, ends_x, chunk, reverse)  # ends_x: true state at each chunk's edge
    ends_x = ends_x[..., :nc, None]
    if reverse:
        x[..., :-1, :] += a[..., :-1, :] * ends_x[..., 1:, :]
    else:
        x[..., 1:, :] += a[..., 1:, :] * ends_x[..., :-1, :]


def _padded(t: Tensor, pad: int, value: float) -> Tensor:
    """A fresh contiguous copy of ``t`` with ``pad`` entries of ``value`` appended on the last dim."""
    return F.pad(t, (0, pad), value=value) if pad else t.clone(memory_format=torch.contiguous_format)


def _doubling_(a: Tensor, x: Tensor, reverse: bool) -> None:
    """Hillis–Steele along the last dim, in place: x <- states, a <- products of a over each prefix
    (suffix when ``reverse``). The right-hand sides are fresh tensors, so overlaps are harmless."""
    length, step = x.shape[-1], 1
    while step < length:
        if reverse:
            x[..., :-step] += a[..., :-step] * x[..., step:]
            a[..., :-step] = a[..., :-step] * a[..., step:]
        else:
            x[..., step:] += a[..., step:] * x[..., :-step]
            a[..., step:] = a[..., step:] * a[..., :-step]
        step *= 2


def selective_scan_flops(batch: int, dim: int, length: int, d_state: int, with_d: bool = True) -> int:
    """Floating-point operations of one selective scan, VMamba's convention (its ``flops_selective_scan_fn``
    counting): ``9·B·L·D·N`` for the scan, plus ``B·D·L`` for the D skip when ``with_d``."""
    return 9 * batch * length * dim * d_state + (batch * dim * length if with_d else 0)
