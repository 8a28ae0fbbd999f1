"""Amplitude/phase decomposition: against a slow DFT, round trip, zero-magnitude safety, odd sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sfcl.models.spectrum import decompose, frequency_grid, recombine, unit_phasor

SIZES = [(18, 9), (4, 2), (3, 1), (7, 5), (8, 8)]


def slow_dft(x: np.ndarray) -> np.ndarray:
    """Half spectrum by the definition: Z[u, v] = sum_{h,w} x[h, w] exp(-2πi(uh/H + vw/W)) / sqrt(HW)."""
    height, width = x.shape
    out = np.zeros((height, width // 2 + 1), dtype=complex)
    for u in range(height):
        for v in range(width // 2 + 1):
            for h in range(height):
                for w in range(width):
                    out[u, v] += x[h, w] * np.exp(-2j * math.pi * (u * h / height + v * w / width))
    return out / math.sqrt(height * width)


@pytest.mark.parametrize("size", [(5, 3), (4, 4), (3, 1)])
def test_amplitude_and_phase_match_the_definition(size):
    x = torch.randn(1, 2, *size, generator=torch.Generator().manual_seed(0))
    spec = decompose(x)
    for c in range(2):
        ref = slow_dft(x[0, c].double().numpy())
        np.testing.assert_allclose(spec.amplitude[0, c].numpy(), np.abs(ref), atol=1e-5)
        big = np.abs(ref) > 1e-2
        np.testing.assert_allclose(spec.phase[0, c].numpy()[big], (ref / np.abs(ref))[big], atol=1e-4)


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_is_real_and_exact(size):
    x = torch.randn(3, 4, *size, generator=torch.Generator().manual_seed(1))
    spec = decompose(x)
    assert spec.amplitude.shape == (3, 4, size[0], size[1] // 2 + 1)
    assert spec.amplitude.dtype == torch.float32 and spec.phase.dtype == torch.complex64
    out = recombine(spec.amplitude, spec.phase, spec.size)
    assert out.shape == x.shape and out.dtype == torch.float32 and not out.is_complex()
    torch.testing.assert_close(out, x, atol=2e-5, rtol=1e-4)


def test_gradient_of_round_trip_is_identity():
    x = torch.randn(2, 3, 18, 9, dtype=torch.float32, requires_grad=True)
    weight = torch.randn(2, 3, 18, 9)
    spec = decompose(x)
    (recombine(spec.amplitude, spec.phase, spec.size) * weight).sum().backward()
    torch.testing.assert_close(x.grad, weight, atol=1e-3, rtol=1e-3)


def test_zero_and_constant_maps_are_safe():
    """A zero map has |z| = 0 everywhere; a constant one has every non-DC bin at 0."""
    for x0 in (torch.zeros(2, 3, 18, 9), torch.full((2, 3, 18, 9), 0.7)):
        x = x0.clone().requires_grad_(True)
        spec = decompose(x)
        assert torch.isfinite(spec.amplitude).all() and torch.isfinite(torch.view_as_real(spec.phase)).all()
        loss = spec.amplitude.sum() + torch.view_as_real(spec.phase).square().sum()
        loss = loss + recombine(spec.amplitude, spec.phase, spec.size).square().sum()
        loss.backward()
        assert torch.isfinite(x.grad).all()


def test_phase_is_unit_away_from_zero_and_bounded_near_it():
    z = torch.tensor([3 + 4j, 1e-8 + 0j, 0j], dtype=torch.complex64)
    p = unit_phasor(z)
    assert abs(p[0].abs().item() - 1.0) < 1e-6
    assert p[1].abs().item() < 1e-3 and p[2].abs().item() == 0.0


def test_autocast_does_not_reach_the_fft():
    x = torch.randn(2, 3, 18, 9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spec = decompose(x.bfloat16())
        out = recombine(spec.amplitude, spec.phase, spec.size)
    assert spec.amplitude.dtype == torch.float32 and out.dtype == torch.float32


def test_shape_errors():
    with pytest.raises(ValueError, match="real"):
        decompose(torch.randn(3, 18, 9))
    spec = decompose(torch.randn(1, 1, 18, 9))
    with pytest.raises(ValueError, match="does not fit"):
        recombine(spec.amplitude, spec.phase, (18, 12))


def test_frequency_grid():
    grid = frequency_grid(18, 9)
    assert grid.shape == (18, 5) and grid[0, 0] == 0
    assert torch.isclose(grid[0, 4], torch.tensor(4 / 9)) and torch.isclose(grid[9, 0], torch.tensor(0.5))
