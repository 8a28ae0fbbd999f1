"""SS2D: cross-scan orders, the layer against a slow twin on the step-by-step scan, symmetries of the
four directions, parameter count, odd grids."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sfcl.errors import SfclError
from sfcl.models.ss2d import SS2D, cross_merge, cross_scan, ss2d_num_parameters
from tests.reference.ref_scan import reference_selective_scan


def slow_ss2d(layer: SS2D, x: torch.Tensor) -> torch.Tensor:
    """SS2D's forward written out token by token: explicit reading orders, one sequential scan per
    direction with that direction's parameters, explicit scatter back to the grid."""
    b, h, w, _ = x.shape
    k, inner, n, rank = layer.directions, layer.d_inner, layer.d_state, layer.dt_rank
    hidden, gate = layer.in_proj(x).chunk(2, dim=-1)
    hidden = hidden.permute(0, 3, 1, 2)
    hidden = F.silu(layer.conv(hidden) if layer.conv is not None else hidden)
    rows = [(i, j) for i in range(h) for j in range(w)]
    cols = [(i, j) for j in range(w) for i in range(h)]
    orders = {1: [rows], 2: [rows, rows[::-1]], 4: [rows, cols, rows[::-1], cols[::-1]]}[k]
    out = torch.zeros(b, inner, h, w, dtype=x.dtype)
    A = -torch.exp(layer.A_log.double()).view(k, inner, n)
    for d, order in enumerate(orders):
        seq = torch.stack([hidden[:, :, i, j] for i, j in order], dim=-1)  # (B, d_inner, L)
        proj = torch.einsum("cd,bdl->bcl", layer.x_proj_weight[d], seq)
        dt, B, C = proj.split([rank, n, n], dim=1)
        dt = torch.einsum("dr,brl->bdl", layer.dt_proj_weight[d], dt)
        y = reference_selective_scan(seq, dt, A[d], B[:, None], C[:, None], layer.Ds.view(k, inner)[d],
                                     layer.dt_proj_bias[d], delta_softplus=True)
        for t, (i, j) in enumerate(order):
            out[:, :, i, j] += y[:, :, t]
    y = layer.out_norm(out.permute(0, 2, 3, 1))
    return layer.out_proj(y * F.silu(gate))


def test_cross_scan_orders_and_merge():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)
    seqs = cross_scan(x)
    assert seqs.shape == (1, 4, 2, 12)
    assert seqs[0, 0, 0].tolist() == list(range(12))
    assert seqs[0, 1, 0].tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    assert seqs[0, 2, 0].tolist() == list(range(11, -1, -1))
    assert seqs[0, 3, 0].tolist() == [11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0]
    torch.testing.assert_close(cross_merge(seqs, 3, 4), 4 * x.flatten(2))


@pytest.mark.parametrize("directions", [1, 2, 4])
@pytest.mark.parametrize("grid", [(18, 9), (3, 1), (1, 5)])
def test_merge_undoes_the_scan(directions, grid):
    x = torch.randn(2, 3, *grid)
    seqs = cross_scan(x, directions)
    assert seqs.shape == (2, directions, 3, grid[0] * grid[1])
    torch.testing.assert_close(cross_merge(seqs, *grid), directions * x.flatten(2))
    # merge is the adjoint of scan: <scan(x), y> == <x, merge(y)>
    y = torch.randn_like(seqs)
    torch.testing.assert_close((seqs * y).sum(), (x.flatten(2) * cross_merge(y, *grid)).sum())


@pytest.mark.parametrize("directions", [1, 2, 4])
@pytest.mark.parametrize("grid", [(18, 5), (18, 9), (3, 1), (4, 3)])
def test_layer_matches_the_slow_twin(grid, directions):
    torch.manual_seed(0)
    layer = SS2D(8, d_state=4, expand=2.0, directions=directions, backend="torch").double()
    x = torch.randn(2, *grid, 8, dtype=torch.float64)
    fast = layer(x)
    assert fast.shape == x.shape
    torch.testing.assert_close(fast, slow_ss2d(layer, x), atol=1e-10, rtol=1e-10)


def _permuted(layer: SS2D, perm: list[int], conv_map) -> SS2D:
    """A copy of ``layer`` whose direction d uses the parameters of direction perm[d]."""
    other = SS2D(8, d_state=4, backend="torch").double()
    other.load_state_dict(layer.state_dict())
    k, inner = layer.directions, layer.d_inner
    with torch.no_grad():
        for name in ("x_proj_weight", "dt_proj_weight", "dt_proj_bias"):
            getattr(other, name).copy_(getattr(layer, name)[perm])
        other.A_log.copy_(layer.A_log.view(k, inner, -1)[perm].reshape(k * inner, -1))
        other.Ds.copy_(layer.Ds.view(k, inner)[perm].reshape(-1))
        other.conv.weight.copy_(conv_map(layer.conv.weight))
    return other


@pytest.mark.parametrize("grid", [(5, 3), (4, 4)])
def test_rotation_by_180_degrees(grid):
    """Rotating the map turns row-major into reversed row-major (and columns likewise): with
    directions 0<->2 and 1<->3 swapped and the conv kernel rotated, the output rotates with the input."""
    torch.manual_seed(2)
    layer = SS2D(8, d_state=4, backend="torch").double()
    with torch.no_grad():  # make every direction distinct, beyond the random init
        layer.Ds.copy_(torch.randn_like(layer.Ds))
        layer.A_log.add_(torch.rand_like(layer.A_log))
    rotate = lambda t: t.flip(1, 2)  # noqa: E731
    swapped = _permuted(layer, [2, 3, 0, 1], lambda w: w.flip(-2, -1))
    x = torch.randn(2, *grid, 8, dtype=torch.float64)
    torch.testing.assert_close(swapped(rotate(x)), rotate(layer(x)), atol=1e-10, rtol=1e-10)
    assert (layer(rotate(x)) - rotate(layer(x))).abs().max() > 1e-3  # not without the swap


def test_transposition():
    """Transposing the map swaps row- and column-major: directions 0<->1, 2<->3, kernel transposed."""
    torch.manual_seed(3)
    layer = SS2D(8, d_state=4, backend="torch").double()
    transpose = lambda t: t.transpose(1, 2)  # noqa: E731
    swapped = _permuted(layer, [1, 0, 3, 2], lambda w: w.transpose(-2, -1))
    x = torch.randn(2, 5, 3, 8, dtype=torch.float64)
    torch.testing.assert_close(swapped(transpose(x)), transpose(layer(x)), atol=1e-10, rtol=1e-10)
    assert (layer(transpose(x)) - transpose(layer(x))).abs().max() > 1e-3  # not without the swap


@pytest.mark.parametrize("directions, reaches", [(1, False), (2, True), (4, True)])
def test_the_first_token_sees_the_last_only_through_reversed_scans(directions, reaches):
    torch.manual_seed(1)
    layer = SS2D(8, d_state=4, d_conv=1, directions=directions, backend="torch")
    x = torch.randn(1, 3, 3, 8, requires_grad=True)
    layer(x)[0, 0, 0].sum().backward()
    assert (x.grad[0, 2, 2].abs().sum() > 0) == reaches


@pytest.mark.parametrize("grid", [(4, 3), (18, 5)])
def test_gradients_reach_every_parameter(grid):
    layer = SS2D(8, d_state=4, backend="torch")
    layer(torch.randn(2, *grid, 8)).square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_initialisation_follows_mamba():
    layer = SS2D(64, d_state=8, dt_min=1e-3, dt_max=0.1)
    dt = F.softplus(layer.dt_proj_bias)
    assert dt.min() >= 1e-3 * (1 - 1e-4) and dt.max() <= 0.1 * (1 + 1e-4)
    assert dt.log().std() > 0.5  # log-uniform over two decades, not a constant
    torch.testing.assert_close(layer.A_log[5], torch.log(torch.arange(1.0, 9.0)))
    assert layer.dt_rank == 4 and torch.equal(layer.Ds, torch.ones_like(layer.Ds))


@pytest.mark.parametrize("d_model, d_state, expand, dt_rank, d_conv, directions", [
    (8, 4, 2.0, "auto", 3, 4), (96, 16, 2.0, "auto", 3, 4), (64, 8, 1.5, 6, 1, 2), (672, 16, 2.0, "auto", 5, 1)])
def test_parameter_count_formula(d_model, d_state, expand, dt_rank, d_conv, directions):
    layer = SS2D(d_model, d_state=d_state, expand=expand, dt_rank=dt_rank, d_conv=d_conv, directions=directions)
    count = ss2d_num_parameters(d_model, d_state, expand, dt_rank, d_conv, directions)
    assert count == sum(p.numel() for p in layer.parameters())


def test_parameter_count_by_hand():
    # d_model 16, inner 32, N 4, rank 1, 3x3 conv, 4 directions:
    # in/out proj 16*64 + 32*16 = 1536; conv 32*9 + 32 = 320; per direction x_proj 9*32 = 288,
    # dt_proj 32*1 + 32 = 64, A_log 32*4 = 128, D 32 -> 512 * 4 = 2048; LayerNorm 64. Total 3968.
    assert ss2d_num_parameters(16, 4, 2.0, "auto", 3, 4) == 3968


def test_bad_arguments():
    with pytest.raises(SfclError, match="scan_backend"):
        SS2D(8, backend="triton")
    with pytest.raises(ValueError, match="directions"):
        SS2D(8, directions=3)
    with pytest.raises(ValueError, match="odd"):
        SS2D(8, d_conv=4)
