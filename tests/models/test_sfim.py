"""SFIM parts against direct formulas and loops (float64), and the module's shapes and gradients."""

import math

import numpy as np
import pytest
import torch

from sfcl.config import SFIMConfig, config_from_dict
from sfcl.errors import SfclError
from sfcl.models.sfim import SFIM, GaborModulation, cross_covariance, signed_sqrt, soft_threshold_attention


def test_gabor_scales_a_pure_wave_by_its_band_weight():
    h, w = 12, 8
    y, x = np.mgrid[0:h, 0:w]
    fy, fx = 2 / h, 3 / w  # cycles per sample
    wave = np.cos(2 * np.pi * (fy * y + fx * x))
    omega = math.hypot(fy, fx)
    gabor = GaborModulation(center=0.3, sigma=0.1, learnable=False).double()
    out = gabor(torch.tensor(wave)[None, None])[0, 0].numpy()
    expected = math.exp(-(omega - 0.3) ** 2 / (2 * 0.1 ** 2))
    np.testing.assert_allclose(out, expected * wave, rtol=1e-6, atol=1e-9)  # omega0, sigma stored in float32
    band = gabor.band(h, w)
    assert band.shape == (h, w // 2 + 1) and float(band[0, 0]) == pytest.approx(math.exp(-0.09 / 0.02), rel=1e-5)


def test_gabor_parameters_learnable_or_fixed():
    assert {n for n, _ in GaborModulation(0.2, 0.1).named_parameters()} == {"center", "log_sigma"}
    assert not list(GaborModulation(0.2, 0.1, learnable=False).parameters())
    with pytest.raises(ValueError):
        GaborModulation(0.2, 0.0)


def test_signed_sqrt():
    t = torch.tensor([-4.0, -1e-12, 0.0, 1e-12, 9.0], dtype=torch.float64, requires_grad=True)
    out = signed_sqrt(t, eps=0.0)
    np.testing.assert_allclose(out.detach().numpy(), [-2.0, -1e-6, 0.0, 1e-6, 3.0], rtol=1e-9)
    smooth = signed_sqrt(t)
    smooth.sum().backward()
    assert torch.isfinite(t.grad).all() and float(signed_sqrt(torch.tensor(0.0))) == 0.0
    assert torch.allclose(signed_sqrt(-t.detach()), -signed_sqrt(t.detach()))


def test_cross_covariance_matches_loop():
    g = torch.Generator().manual_seed(0)
    fs, ff = torch.randn(2, 7, 3, generator=g, dtype=torch.float64), torch.randn(2, 7, 4, generator=g, dtype=torch.float64)
    got = cross_covariance(fs, ff)
    for b in range(2):
        ms, mf = fs[b].mean(0), ff[b].mean(0)
        for i in range(3):
            for j in range(4):
                ref = sum((fs[b, n, i] - ms[i]) * (ff[b, n, j] - mf[j]) for n in range(7)) / math.sqrt(7 * 7)
                assert float(got[b, i, j]) == pytest.approx(float(ref), abs=1e-12)
    with pytest.raises(ValueError):
        cross_covariance(fs, ff[:, :5])


def test_soft_threshold():
    s = torch.tensor([-5.0, 0.0, math.log(0.6 / 0.4), 5.0])
    a = soft_threshold_attention(s, 0.5)
    assert float(a[0]) == 0.0 and float(a[1]) == 0.0
    assert float(a[2]) == pytest.approx(0.2, abs=1e-6) and 0.98 < float(a[3]) <= 1.0


def small_sfim(**kw):
    torch.manual_seed(0)
    return SFIM(8, SFIMConfig(covariance_dim=3, mlp_hidden=6, **kw)).double()


def test_correlation_and_shapes_against_direct_computation():
    sfim = small_sfim()
    x, o = torch.rand(2, 8, 3, 2, dtype=torch.float64), torch.randn(2, 8, 3, 2, dtype=torch.float64)
    out = sfim(x, o)
    assert out.fused.shape == (2, 8) and out.spatial_map.shape == (2, 8, 3, 2)
    assert out.covariance.shape == (2, 3, 3) and out.attention.shape == (2, 6, 8)
    assert torch.allclose(out.covariance.flatten(1).norm(dim=1), torch.ones(2, dtype=torch.float64))
    og = sfim.gabor(o)
    for b in range(2):
        xt, ot = x[b].flatten(1).T, og[b].flatten(1).T  # (N, C)
        for i in range(6):
            for j in range(6):
                cos = float(xt[i] @ ot[j] / (xt[i].norm() * ot[j].norm()))
                assert float(out.correlation[b, i, j]) == pytest.approx(cos, abs=1e-12)
    assert ((out.attention >= 0) & (out.attention <= 1)).all()


def test_mlp_starts_at_zero_so_sfim_starts_as_pooling():
    sfim = small_sfim()
    x, o = torch.rand(2, 8, 3, 2, dtype=torch.float64), torch.randn(2, 8, 3, 2, dtype=torch.float64)
    out = sfim(x, o)
    assert torch.allclose(out.fused, sfim.pool(torch.relu(out.spatial_map)))


def test_rms_branch_scale_puts_the_covariance_branch_on_the_pooled_features_scale():
    x, o = torch.rand(2, 8, 3, 2, dtype=torch.float64) * 50, torch.randn(2, 8, 3, 2, dtype=torch.float64)
    plain, scaled = small_sfim(), small_sfim(branch_scale="rms")
    assert torch.allclose(scaled(x, o).fused, plain(x, o).fused)  # zero last layer: both start as pooling
    for sfim in (plain, scaled):
        torch.manual_seed(1)
        for p in sfim.mlp[-1].parameters():
            torch.nn.init.normal_(p, std=0.1)
    out, ref = scaled(x, o), plain(x, o)
    pooled = scaled.pool(torch.relu(out.spatial_map))
    branch = ref.fused - plain.pool(torch.relu(ref.spatial_map))
    rms = torch.stack([torch.sqrt(torch.mean(pooled[b] ** 2)) for b in range(2)])[:, None]
    assert torch.allclose(out.fused, pooled + rms * branch)
    assert float((rms * branch).norm() / pooled.norm()) > 10 * float(branch.norm() / pooled.norm())
    with pytest.raises(SfclError, match="branch_scale"):
        config_from_dict({"model": {"sfim": {"branch_scale": "max"}}})


def test_concat_fusion_is_pooling_beside_the_covariance_mlp():
    """``fusion: concat``: O_sf = [GeM(relu(F_spa)) ; MLP(T)], the block zero at init."""
    x, o = torch.rand(2, 8, 3, 2, dtype=torch.float64) * 5, torch.randn(2, 8, 3, 2, dtype=torch.float64)
    sfim = small_sfim(fusion="concat", fusion_dim=5)
    assert sfim.out_dim == 13 and sfim.mlp[-1].out_features == 5
    out = sfim(x, o)
    assert out.fused.shape == (2, 13)
    pooled = sfim.pool(torch.relu(out.spatial_map))
    torch.testing.assert_close(out.fused, torch.cat([pooled, torch.zeros(2, 5, dtype=torch.float64)], 1))
    torch.manual_seed(1)
    for p in sfim.mlp[-1].parameters():
        torch.nn.init.normal_(p, std=0.1)
    out = sfim(x, o)
    torch.testing.assert_close(out.fused[:, 8:], sfim.mlp(out.covariance.flatten(1)))
    assert small_sfim().out_dim == 8
    with pytest.raises(SfclError, match="fusion"):
        config_from_dict({"model": {"sfim": {"fusion": "mean"}}})


def test_gradcheck():
    sfim = small_sfim(threshold=0.0)
    for p in sfim.mlp[-1].parameters():
        torch.nn.init.normal_(p, std=0.1)
    x = torch.rand(1, 8, 3, 2, dtype=torch.float64, requires_grad=True)
    o = torch.randn(1, 8, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: sfim(a, b).fused, (x, o), eps=1e-6, atol=1e-5)


def test_bad_inputs():
    with pytest.raises(SfclError, match="threshold"):
        config_from_dict({"model": {"sfim": {"threshold": 1.0}}})  # checked when read
    with pytest.raises(ValueError, match="SFIM expects"):
        small_sfim()(torch.rand(1, 8, 3, 2, dtype=torch.float64), torch.rand(1, 8, 2, 2, dtype=torch.float64))


def test_spatial_drop_leaves_the_injection_alone_in_training_and_is_off_at_test():
    torch.manual_seed(0)
    sfim, dropping = small_sfim(), small_sfim(spatial_drop=0.5)
    torch.nn.init.normal_(sfim.out.weight, std=0.5)
    dropping.load_state_dict(sfim.state_dict())
    x = torch.rand(16, 8, 3, 2, dtype=torch.float64)
    o = torch.randn(16, 8, 3, 2, dtype=torch.float64)
    sfim.train(), dropping.train()
    full, dropped = sfim(x, o).spatial_map, dropping(x, o).spatial_map
    kept = [torch.allclose(d, f) for d, f in zip(dropped, full)]
    gone = [torch.allclose(d, f - xi) for d, f, xi in zip(dropped, full, x)]
    assert all(k != g for k, g in zip(kept, gone)) and 0 < sum(gone) < len(x)  # each sample one or the other
    dropping.eval()
    torch.testing.assert_close(dropping(x, o).fused, sfim.eval()(x, o).fused)
    with pytest.raises(SfclError, match="spatial_drop"):
        config_from_dict({"model": {"sfim": {"spatial_drop": 1.0}}})


def test_value_norm_normalises_x_sf_before_the_value_projection_and_keeps_the_identity_at_init():
    x, o = torch.rand(2, 8, 3, 2, dtype=torch.float64), torch.randn(2, 8, 3, 2, dtype=torch.float64)
    sfim = small_sfim(value_norm=True)
    torch.testing.assert_close(sfim(x, o).spatial_map, x)  # W_o starts at zero: F_spa = X
    torch.nn.init.normal_(sfim.out.weight, std=0.5)
    x_tok = x.flatten(2).transpose(1, 2)
    o_tok = sfim.gabor(o).flatten(2).transpose(1, 2)
    x_sf = torch.nn.functional.normalize(x_tok, dim=-1) @ torch.nn.functional.normalize(o_tok, dim=-1).transpose(1, 2) @ o_tok / 6
    unit = (x_sf - x_sf.mean(-1, keepdim=True)) / (x_sf.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
    attention = soft_threshold_attention(sfim.relevance(sfim.norm(x_tok + x_sf)), sfim.tau)
    expected = x_tok + sfim.out(attention * sfim.value(unit))
    torch.testing.assert_close(sfim(x, o).spatial_map, expected.transpose(1, 2).reshape(x.shape))
