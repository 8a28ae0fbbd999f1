"""The torch selective scan against the step-by-step recurrence: values, gradients, stability, dispatch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import sfcl.models.selective_scan as scan_module
from sfcl.errors import SfclError
from sfcl.models.selective_scan import linear_recurrence, selective_scan, selective_scan_flops
from tests.reference.ref_scan import reference_linear_recurrence, reference_selective_scan

NAMES = ("u", "delta", "A", "B", "C", "D", "delta_bias")


def inputs(length: int, dtype=torch.float64, batch=2, dim=6, groups=3, n=4, seed=0, scale=1.0) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return dict(u=r(batch, dim, length), delta=r(batch, dim, length) * scale,
                A=-torch.rand(dim, n, generator=g, dtype=dtype) * 2 - 0.1,
                B=r(batch, groups, n, length), C=r(batch, groups, n, length), D=r(dim), delta_bias=r(dim))


def adapt(kw: dict, softplus: bool, bias: bool) -> dict:
    kw = dict(kw)
    if not softplus:
        kw["delta"] = kw["delta"].abs()  # Δ must stay >= 0 without the softplus
    if not bias:
        kw["delta_bias"] = None
    return kw


@pytest.mark.parametrize("length", [1, 2, 7, 90, 100, 162])
@pytest.mark.parametrize("softplus, bias", [(True, True), (True, False), (False, True), (False, False)])
def test_values_match_the_recurrence_float64(length, softplus, bias):
    kw = adapt(inputs(length), softplus, bias)
    ref = reference_selective_scan(**kw, delta_softplus=softplus)
    for chunk in (None, 1, 5, 400):
        ours = selective_scan(**kw, delta_softplus=softplus, backend="torch", chunk_size=chunk)
        assert ours.dtype == torch.float64
        torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-10, msg=f"chunk {chunk}")


@pytest.mark.parametrize("length", [7, 90, 162])
def test_float32_matches_float64_reference(length):
    kw = inputs(length)
    ref = reference_selective_scan(**kw, delta_softplus=True)
    ours = selective_scan(**{k: v.float() for k, v in kw.items()}, delta_softplus=True, backend="torch")
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)


def test_without_d_skip_and_single_group():
    kw = inputs(33, groups=1)
    kw["D"] = None
    ref = reference_selective_scan(**kw, delta_softplus=True)
    torch.testing.assert_close(selective_scan(**kw, delta_softplus=True, backend="torch"), ref, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("length", [1, 2, 7, 90, 162])
@pytest.mark.parametrize("softplus", [True, False])
def test_gradients_match_the_recurrence(length, softplus):
    kw = {k: v.requires_grad_(True) for k, v in adapt(inputs(length, seed=length), softplus, True).items()}
    weight = torch.randn(2, 6, length, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = torch.autograd.grad((selective_scan(**kw, delta_softplus=softplus, backend="torch") * weight).sum(),
                               list(kw.values()))
    ref = torch.autograd.grad((reference_selective_scan(**kw, delta_softplus=softplus) * weight).sum(),
                              list(kw.values()))
    for name, a, b in zip(NAMES, ours, ref):
        torch.testing.assert_close(a, b, atol=1e-9 * b.abs().max().item(), rtol=1e-9, msg=name)


@pytest.mark.parametrize("chunk", [None, 2])
def test_gradcheck(chunk):
    kw = {k: v.requires_grad_(True) for k, v in inputs(5, batch=1, dim=4, groups=2, n=2).items()}

    def fn(*tensors):
        return selective_scan(**dict(zip(NAMES, tensors)), delta_softplus=True, backend="torch", chunk_size=chunk)

    assert torch.autograd.gradcheck(fn, tuple(kw.values()))


def test_large_steps_stay_finite():
    kw = {k: v.float() for k, v in inputs(162, scale=50.0).items()}
    kw["A"] = kw["A"] * 100  # Δ·A down to about -2e4: exp of the sum would overflow in any direction
    kw = {k: v.requires_grad_(True) for k, v in kw.items()}
    y = selective_scan(**kw, delta_softplus=True, backend="torch")
    assert torch.isfinite(y).all()
    grads = torch.autograd.grad(y.sum(), list(kw.values()))
    assert all(torch.isfinite(g).all() for g in grads)
    ref = reference_selective_scan(**{k: v.detach().double() for k, v in kw.items()}, delta_softplus=True)
    torch.testing.assert_close(y.double(), ref, atol=1e-3, rtol=1e-4)


def test_inputs_are_not_modified():
    kw = inputs(40)
    before = {k: v.clone() for k, v in kw.items()}
    selective_scan(**kw, delta_softplus=True, backend="torch")
    for k in kw:
        assert torch.equal(kw[k], before[k]), k


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs_keep_their_dtype(dtype):
    kw = inputs(20)
    y = selective_scan(**{k: v.to(dtype) for k, v in kw.items()}, delta_softplus=True, backend="torch")
    assert y.dtype == dtype
    ref = reference_selective_scan(**{k: v.to(dtype).double() for k, v in kw.items()}, delta_softplus=True)
    torch.testing.assert_close(y.double(), ref, atol=0.05, rtol=0.02)


@pytest.mark.parametrize("length", [1, 2, 13, 50])
@pytest.mark.parametrize("reverse", [False, True])
def test_linear_recurrence(length, reverse):
    g = torch.Generator().manual_seed(length)
    a = torch.rand(2, 3, length, dtype=torch.float64, generator=g)
    x = torch.randn(2, 3, length, dtype=torch.float64, generator=g)
    ref = reference_linear_recurrence(a, x, reverse)
    for chunk in (None, 1, 4, 64):
        torch.testing.assert_close(linear_recurrence(a, x, chunk, reverse), ref, atol=1e-12, rtol=1e-12)


def test_bad_backend_and_shapes():
    kw = inputs(5)
    with pytest.raises(SfclError, match="scan_backend"):
        selective_scan(**kw, backend="cuda")
    bad = dict(kw, B=kw["B"][..., :4])
    with pytest.raises(ValueError, match="shapes"):
        selective_scan(**bad)
    with pytest.raises(ValueError, match="shapes"):
        selective_scan(**inputs(5, dim=6, groups=4))


def test_missing_kernel_is_a_user_error(monkeypatch):
    monkeypatch.setattr(scan_module, "_kernel", lambda: None)
    with pytest.raises(SfclError, match="mamba-ssm"):
        selective_scan(**inputs(5), backend="mamba_ssm")


def test_auto_on_cpu_never_asks_for_the_kernel(monkeypatch):
    def no_kernel():
        raise AssertionError("auto looked for the kernel with CPU tensors")

    monkeypatch.setattr(scan_module, "_kernel", no_kernel)
    kw = inputs(9)
    torch.testing.assert_close(selective_scan(**kw, backend="auto"), selective_scan(**kw, backend="torch"))


def test_import_works_without_mamba_ssm():
    code = ("import sys; sys.modules['mamba_ssm'] = None; import sfcl.models.selective_scan as s; "
            "assert s._kernel() is None; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_flops_formula():
    # batch 2, D 8, L 10, N 4: 9*2*10*8*4 = 5760 for the scan, 2*8*10 = 160 for the D skip
    assert selective_scan_flops(2, 8, 10, 4) == 5920
    assert selective_scan_flops(2, 8, 10, 4, with_d=False) == 5760
    assert selective_scan_flops(1, 1, 1, 1) == 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the mamba_ssm kernel needs CUDA")
def test_kernel_matches_torch_path():
    pytest.importorskip("mamba_ssm")
    kw = {k: v.float().cuda().requires_grad_(True) for k, v in inputs(162, dim=8, groups=4).items()}
    ours = selective_scan(**kw, delta_softplus=True, backend="torch")
    kernel = selective_scan(**kw, delta_softplus=True, backend="mamba_ssm")
    torch.testing.assert_close(kernel, ours, atol=1e-4, rtol=1e-4)
    weight = torch.randn_like(ours)
    g_ours = torch.autograd.grad((ours * weight).sum(), list(kw.values()))
    g_kernel = torch.autograd.grad((kernel * weight).sum(), list(kw.values()))
    for name, a, b in zip(NAMES, g_kernel, g_ours):
        torch.testing.assert_close(a, b, atol=1e-3 * b.abs().max().item(), rtol=1e-3, msg=name)
