"""The selective scan of Mamba (S6) with a real diagonal state matrix, as SS2D uses it.

    h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t,      y_t = <C_t, h_t> + D u_t

``selective_scan`` has the argument order of ``mamba_ssm``'s ``selective_scan_fn``
(u, delta, A, B, C, D, delta_bias, delta_softplus) and dispatches:

* ``"mamba_ssm"``: the CUDA kernel of the ``mamba-ssm`` package (optional GPU extra,
  imported only here, only when asked for or when ``"auto"`` sees CUDA tensors);
* ``"torch"``: pure PyTorch, any device, autograd. The recurrence is linear, so it is
  solved by a Hillis–Steele parallel scan: ceil(log2 L) steps of
  ``h[k:] += a[k:] · h[:-k]; a[k:] *= a[:-k]`` over the whole sequence (no Python
  loop over time). Decays ``a = exp(Δ A)`` are <= 1 and only ever multiplied, so
  nothing overflows. ``chunk_size`` bounds the temporaries: chunks are scanned in
  parallel inside and chained with their end states.

FLOPs (for ``sfcl profile``, VMamba's count): ``9 · B · L · D · N`` for the scan,
``+ B · D · L`` with the D skip (:func:`selective_scan_flops`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

BACKENDS = ("auto", "torch", "mamba_ssm")


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   delta_bias: Tensor | None = None, delta_softplus: bool = False, backend: str = "auto",
                   chunk_size: int | None = None) -> Tensor:
    """u, delta (batch, D, L); A (D, N) (negative reals); B, C (batch, G, N, L) with G dividing D;
    D, delta_bias (D,) -> y (batch, D, L) in u's dtype."""
    if backend not in BACKENDS:
        raise ValueError(f"selective_scan backend {backend!r}: expected one of {BACKENDS}")
    batch, dim, length = u.shape
    groups = B.shape[1]
    if delta.shape != u.shape or A.shape[0] != dim or B.shape != (batch, groups, A.shape[1], length) \
            or C.shape != B.shape or dim % groups:
        raise ValueError(f"selective_scan shapes: u {tuple(u.shape)}, delta {tuple(delta.shape)}, A {tuple(A.shape)}, "
                         f"B {tuple(B.shape)}, C {tuple(C.shape)}")
    if backend == "mamba_ssm" or (backend == "auto" and u.is_cuda and _kernel() is not None):
        kernel = _kernel()
        if kernel is None:
            raise ImportError("selective_scan backend 'mamba_ssm' needs the mamba-ssm package (pip install sfcl[mamba])")
        return kernel(u, delta, A, B, C, D, None, delta_bias, delta_softplus)
    return _scan_torch(u, delta, A, B, C, D, delta_bias, delta_softplus, chunk_size)


def _kernel():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    return selective_scan_fn


def _scan_torch(u, delta, A, B, C, D, delta_bias, delta_softplus, chunk_size) -> Tensor:
    dtype = u.dtype
    work = torch.float64 if dtype == torch.float64 else torch.float32
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    repeat = u.shape[1] // B.shape[1]
    B = B.repeat_interleave(repeat, dim=1).transpose(2, 3)  # (batch, D, L, N)
    C = C.repeat_interleave(repeat, dim=1).transpose(2, 3)
    decay = torch.exp(delta.unsqueeze(-1) * A[None, :, None, :])  # (batch, D, L, N), in (0, 1]
    drive = (delta * u).unsqueeze(-1) * B
    states = linear_recurrence(decay, drive, chunk_size)
    y = (states * C).sum(-1)
    if D is not None:
        y = y + D.to(work)[None, :, None] * u
    return y.to(dtype)


def linear_recurrence(decay: Tensor, drive: Tensor, chunk_size: int | None = None) -> Tensor:
    """All states of ``h_t = decay_t · h_{t-1} + drive_t`` (h_{-1} = 0) along dim 2: (..., L, N) inputs."""
    length = decay.shape[2]
    if chunk_size is None or chunk_size >= length:
        return _hillis_steele(decay, drive)[0]
    outputs, carry = [], None
    for start in range(0, length, chunk_size):
        states, prefix = _hillis_steele(decay[:, :, start:start + chunk_size], drive[:, :, start:start + chunk_size])
        if carry is not None:
            states = states + prefix * carry
        outputs.append(states)
        carry = states[:, :, -1:]
    return torch.cat(outputs, dim=2)


def _hillis_steele(decay: Tensor, drive: Tensor) -> tuple[Tensor, Tensor]:
    """(states, prefix products of decay) by log-depth doubling along dim 2, out of place (autograd)."""
    h, a = drive, decay
    step, length = 1, decay.shape[2]
    while step < length:
        h = torch.cat([h[:, :, :step], h[:, :, step:] + a[:, :, step:] * h[:, :, :-step]], dim=2)
        a = torch.cat([a[:, :, :step], a[:, :, step:] * a[:, :, :-step]], dim=2)
        step *= 2
    return h, a


def selective_scan_flops(batch: int, dim: int, length: int, d_state: int, with_d: bool = True) -> int:
    """Floating-point operations of one selective scan, VMamba's convention: 9·B·L·D·N (+ B·D·L)."""
    return 9 * batch * length * dim * d_state + (batch * dim * length if with_d else 0)
