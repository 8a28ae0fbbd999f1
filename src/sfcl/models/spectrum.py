"""Amplitude / phase decomposition of feature maps (CFAM step 1: ``A, P = |F(X)|, ∠F(X)``).

``decompose`` takes the 2-D real FFT of every channel over the spatial dims,
``recombine`` inverts it. Three numerical decisions (SPEC §7):

* float32 with autocast disabled: cuFFT's half precision needs power-of-two
  sizes, and an 18 x 9 map is not one. Results come back in float32.
* the phase is a **unit phasor** ``z / sqrt(|z|^2 + eps^2)``, never ``angle(z)``:
  the gradient of ``angle`` is NaN at ``z = 0`` and ~1/|z| near it. The phasor's
  gradient is bounded by ``1/eps``.
* ``rfft2`` / ``irfft2(s=(H, W))``: the inverse is real by construction, and the
  explicit size keeps an odd width (9 comes back as 8 otherwise).

The amplitude is ``|z|`` (torch's complex ``abs`` has gradient 0 at 0), so
``recombine(decompose(x))`` returns ``x`` up to ``eps^2 / |z|^2`` per bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

PHASE_EPS = 1e-4


@dataclass
class Spectrum:
    """Half spectrum of a (B, C, H, W) map.

    Attributes:
        amplitude: (B, C, H, W // 2 + 1) float32, ``|F(X)|`` >= 0.
        phase: (B, C, H, W // 2 + 1) complex64 unit phasor ``F(X) / |F(X)|`` (0 where ``F(X) = 0``).
        size: (H, W) of the spatial map, needed by the inverse.
    """

    amplitude: Tensor
    phase: Tensor
    size: tuple[int, int]


def unit_phasor(z: Tensor, eps: float = PHASE_EPS) -> Tensor:
    """``z / sqrt(|z|^2 + eps^2)``: a unit complex number where ``|z| >> eps``, 0 at 0, smooth everywhere."""
    return z / torch.sqrt(z.real.square() + z.imag.square() + eps * eps)


def _no_autocast(x: Tensor):
    return torch.autocast(device_type=x.device.type, enabled=False)


def decompose(x: Tensor, eps: float = PHASE_EPS) -> Spectrum:
    """x (B, C, H, W) real -> :class:`Spectrum` of its per-channel 2-D FFT (ortho normalised)."""
    if x.dim() != 4 or x.is_complex():
        raise ValueError(f"decompose expects a real (B, C, H, W) tensor, got {tuple(x.shape)} {x.dtype}")
    with _no_autocast(x):
        z = torch.fft.rfft2(x.float(), dim=(-2, -1), norm="ortho")
        return Spectrum(amplitude=z.abs(), phase=unit_phasor(z, eps), size=(x.shape[-2], x.shape[-1]))


def recombine(amplitude: Tensor, phase: Tensor, size: tuple[int, int]) -> Tensor:
    """Inverse of :func:`decompose`: amplitude (B, C, H, W//2+1) real, phase same shape complex -> (B, C, H, W) float32."""
    if amplitude.shape != phase.shape or not phase.is_complex():
        raise ValueError(f"recombine expects a real amplitude and a complex phase of one shape, "
                         f"got {tuple(amplitude.shape)} and {tuple(phase.shape)} {phase.dtype}")
    height, width = size
    if amplitude.shape[-2] != height or amplitude.shape[-1] != width // 2 + 1:
        raise ValueError(f"half spectrum {tuple(amplitude.shape[-2:])} does not fit a {height}x{width} map")
    with _no_autocast(amplitude):
        z = amplitude.float() * phase.to(torch.complex64)
        return torch.fft.irfft2(z, s=(height, width), dim=(-2, -1), norm="ortho")


def frequency_grid(height: int, width: int) -> Tensor:
    """Radial frequency ``|ω|`` (cycles per sample, 0 .. ~0.71) of each rfft2 bin, shape (H, W//2+1)."""
    fy = torch.fft.fftfreq(height).abs()[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    return torch.sqrt(fy.square() + fx.square())
