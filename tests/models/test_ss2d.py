"""SS2D: cross-scan orderings, the layer against the step-by-step scan, parameter count, odd grids."""

from __future__ import annotations

import pytest
import torch

import sfcl.models.ss2d as ss2d_module
from sfcl.models.ss2d import SS2D, cross_merge, cross_scan, ss2d_num_parameters
from tests.reference.ref_scan import reference_selective_scan


def test_cross_scan_orders_and_merge():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)
    seqs = cross_scan(x)
    assert seqs.shape == (1, 4, 2, 12)
    assert seqs[0, 0, 0].tolist() == x[0, 0].flatten().tolist()
    assert seqs[0, 1, 0].tolist() == x[0, 0].t().flatten().tolist()
    assert seqs[0, 2, 0].tolist() == x[0, 0].flatten().flip(0).tolist()
    assert seqs[0, 3, 0].tolist() == x[0, 0].t().flatten().flip(0).tolist()
    torch.testing.assert_close(cross_merge(seqs, 3, 4), 4 * x.flatten(2))


@pytest.mark.parametrize("grid", [(18, 5), (3, 1), (4, 3)])
def test_layer_matches_the_sequential_scan(grid, monkeypatch):
    torch.manual_seed(0)
    layer = SS2D(8, d_state=4, expand=2.0, backend="torch").double()
    x = torch.randn(2, *grid, 8, dtype=torch.float64)
    fast = layer(x)
    assert fast.shape == x.shape

    def slow(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False, backend="auto"):
        return reference_selective_scan(u, delta, A.double(), B, C, D.double(), delta_bias.double(), delta_softplus)

    monkeypatch.setattr(ss2d_module, "selective_scan", slow)
    torch.testing.assert_close(fast, layer(x), atol=1e-10, rtol=1e-10)


def test_every_direction_reaches_every_position():
    """Output at the first token depends on the last token only through the reversed scans."""
    torch.manual_seed(1)
    layer = SS2D(8, d_state=4, d_conv=1, backend="torch")
    x = torch.randn(1, 3, 3, 8, requires_grad=True)
    layer(x)[0, 0, 0].sum().backward()
    assert x.grad[0, 2, 2].abs().sum() > 0


def test_gradients_reach_every_parameter():
    layer = SS2D(8, d_state=4, backend="torch")
    layer(torch.randn(2, 4, 3, 8)).square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("d_model, d_state, expand, d_conv", [(8, 4, 2.0, 3), (96, 16, 2.0, 3), (64, 8, 1.5, 1)])
def test_parameter_count_formula(d_model, d_state, expand, d_conv):
    layer = SS2D(d_model, d_state=d_state, expand=expand, d_conv=d_conv)
    assert ss2d_num_parameters(d_model, d_state, expand, "auto", d_conv) == sum(p.numel() for p in layer.parameters())
