"""Parallel selective scan against the step-by-step recurrence: values, gradients, stability."""

from __future__ import annotations

import pytest
import torch

from sfcl.errors import SfclError
from sfcl.models.selective_scan import linear_recurrence, selective_scan, selective_scan_flops
from tests.reference.ref_scan import reference_selective_scan


def inputs(length: int, dtype=torch.float64, batch=2, dim=4, groups=2, n=3, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return dict(u=r(batch, dim, length), delta=r(batch, dim, length) * scale, A=-torch.rand(dim, n, generator=g, dtype=dtype) * 2,
                B=r(batch, groups, n, length), C=r(batch, groups, n, length), D=r(dim), delta_bias=r(dim))


@pytest.mark.parametrize("length", [1, 2, 7, 90, 162])
@pytest.mark.parametrize("softplus", [True, False])
def test_values_match_the_recurrence(length, softplus):
    kw = inputs(length)
    if not softplus:
        kw["delta"] = kw["delta"].abs()
        kw["delta_bias"] = None
    ours = selective_scan(**kw, delta_softplus=softplus, backend="torch")
    ref = reference_selective_scan(**kw, delta_softplus=softplus)
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-10)
    chunked = selective_scan(**kw, delta_softplus=softplus, backend="torch", chunk_size=16)
    torch.testing.assert_close(chunked, ref, atol=1e-10, rtol=1e-10)


def test_float32_matches_float64_reference():
    kw = inputs(162)
    ref = reference_selective_scan(**kw, delta_softplus=True)
    ours = selective_scan(**{k: v.float() for k, v in kw.items()}, delta_softplus=True, backend="torch")
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), ref, atol=1e-4, rtol=1e-5)


def test_gradients_match_the_recurrence():
    kw = {k: v.requires_grad_(True) for k, v in inputs(37).items()}
    weight = torch.randn(2, 4, 37, dtype=torch.float64)
    (selective_scan(**kw, delta_softplus=True, backend="torch", chunk_size=8) * weight).sum().backward()
    ours = {k: v.grad.clone() for k, v in kw.items()}
    for v in kw.values():
        v.grad = None
    (reference_selective_scan(**kw, delta_softplus=True) * weight).sum().backward()
    for k, v in kw.items():
        torch.testing.assert_close(ours[k], v.grad, atol=1e-9, rtol=1e-9, msg=k)


def test_gradcheck():
    kw = {k: v.requires_grad_(True) for k, v in inputs(5, batch=1, dim=2, groups=1, n=2).items()}
    names = list(kw)
    fn = lambda *t: selective_scan(**dict(zip(names, t)), delta_softplus=True, backend="torch")  # noqa: E731
    assert torch.autograd.gradcheck(fn, tuple(kw.values()))


def test_large_steps_stay_finite():
    kw = {k: v.float() for k, v in inputs(162, scale=50.0).items()}
    kw["A"] = kw["A"] * 100
    y = selective_scan(**kw, delta_softplus=True, backend="torch")
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), reference_selective_scan(**{k: v.double() for k, v in kw.items()},
                                                                    delta_softplus=True), atol=1e-3, rtol=1e-4)


def test_linear_recurrence_chunks():
    a, b = torch.rand(2, 3, 4, 50, dtype=torch.float64), torch.randn(2, 3, 4, 50, dtype=torch.float64)
    h, ref = torch.zeros(2, 3, 4, dtype=torch.float64), []
    for t in range(50):
        h = a[..., t] * h + b[..., t]
        ref.append(h)
    ref = torch.stack(ref, dim=-1)
    for chunk in (2, 7, 64):
        torch.testing.assert_close(linear_recurrence(a, b, chunk), ref)


def test_bad_inputs():
    kw = inputs(5)
    with pytest.raises(SfclError, match="backend"):
        selective_scan(**kw, backend="cuda")
    kw["B"] = kw["B"][:, :, :, :4]
    with pytest.raises(ValueError, match="shapes"):
        selective_scan(**kw)
    if not torch.cuda.is_available():
        try:
            import mamba_ssm  # noqa: F401
        except ImportError:
            with pytest.raises(SfclError, match="mamba-ssm"):
                selective_scan(**inputs(5), backend="mamba_ssm")


def test_flops_formula():
    assert selective_scan_flops(2, 8, 10, 4) == 9 * 2 * 10 * 8 * 4 + 2 * 8 * 10
    assert selective_scan_flops(2, 8, 10, 4, with_d=False) == 5760


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mamba_ssm kernel needs CUDA")
def test_kernel_matches_torch_path():
    pytest.importorskip("mamba_ssm")
    kw = {k: v.float().cuda() for k, v in inputs(162, dim=8, groups=4).items()}
    ours = selective_scan(**kw, delta_softplus=True, backend="torch")
    kernel = selective_scan(**kw, delta_softplus=True, backend="mamba_ssm")
    torch.testing.assert_close(kernel, ours, atol=1e-4, rtol=1e-4)
