"""CFS Sinkhorn against POT and a slow twin; batching; stability; gradients."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from sfcl.models.sinkhorn import barycentric_projection, sinkhorn_log, spectral_cost, spectral_marginal
from tests.reference.ref_sinkhorn import reference_sinkhorn


def problem(n: int, m: int, seed: int, dims: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.05, rng.random(m) + 0.05
    x, y = rng.random((n, dims)), rng.random((m, dims))
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    return a / a.sum(), b / b.sum(), cost / cost.mean()


def solve(cost, a, b, eps, **kw):
    t = lambda z: torch.as_tensor(z)[None]  # noqa: E731
    return sinkhorn_log(t(cost), t(a), t(b), eps, **kw)


@pytest.mark.parametrize("n, m, eps, seed", [(7, 5, 0.1, 0), (20, 33, 0.05, 1), (90, 90, 0.05, 2), (16, 16, 0.01, 3)])
def test_matches_pot_sinkhorn_log(n, m, eps, seed):
    a, b, cost = problem(n, m, seed)
    for max_iter, tol in ((37, 0.0), (1000, 1e-9)):
        ours = solve(cost, a, b, eps, max_iter=max_iter, tol=tol).plan[0].numpy()
        pot = ot.bregman.sinkhorn_log(a, b, cost, eps, numItermax=max_iter, stopThr=tol, warn=False)
        np.testing.assert_allclose(ours, pot, atol=1e-10, rtol=0)


def test_float32_matches_pot_to_1e5():
    a, b, cost = problem(40, 30, 4)
    ours = sinkhorn_log(torch.tensor(cost, dtype=torch.float32)[None], torch.tensor(a, dtype=torch.float32)[None],
                        torch.tensor(b, dtype=torch.float32)[None], 0.05, max_iter=500, tol=1e-7).plan[0]
    pot = ot.bregman.sinkhorn_log(a, b, cost, 0.05, numItermax=500, stopThr=1e-7, warn=False)
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours.double().numpy(), pot, atol=1e-5, rtol=0)


def test_converged_plan_matches_pot_scaling_sinkhorn():
    a, b, cost = problem(12, 9, 5)
    ours = solve(cost, a, b, 0.2, max_iter=5000, tol=1e-12).plan[0].numpy()
    pot = ot.sinkhorn(a, b, cost, 0.2, method="sinkhorn", numItermax=5000, stopThr=1e-12, warn=False)
    np.testing.assert_allclose(ours, pot, atol=1e-9, rtol=0)


def test_matches_slow_twin_with_iteration_count():
    a, b, cost = problem(6, 8, 6)
    ref, ref_iters = reference_sinkhorn(cost, a, b, 0.1, max_iter=200, tol=1e-8)
    ours = solve(cost, a, b, 0.1, max_iter=200, tol=1e-8)
    assert ours.iterations == ref_iters
    np.testing.assert_allclose(ours.plan[0].numpy(), ref, atol=1e-12, rtol=0)


def test_batched_equals_one_by_one_with_different_convergence_speeds():
    problems = [problem(10, 10, s) for s in range(4)]
    eps = [0.5, 0.5, 0.5, 0.5]
    cost = torch.tensor(np.stack([p[2] for p in problems]))
    cost[1] *= 20.0  # a much slower problem in the same batch
    a = torch.tensor(np.stack([p[0] for p in problems]))
    b = torch.tensor(np.stack([p[1] for p in problems]))
    batched = sinkhorn_log(cost, a, b, eps[0], max_iter=400, tol=1e-9)
    for k in range(4):
        single = sinkhorn_log(cost[k:k + 1], a[k:k + 1], b[k:k + 1], eps[0], max_iter=400, tol=1e-9)
        torch.testing.assert_close(batched.plan[k], single.plan[0], atol=0, rtol=0)


def test_zero_mass_bins_give_zero_rows_and_columns_and_finite_gradients():
    a, b, cost = problem(8, 6, 7)
    a[[1, 4]] = 0.0
    b[2] = 0.0
    a, b = a / a.sum(), b / b.sum()
    cost_t = torch.tensor(cost, requires_grad=True)
    a_t, b_t = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    res = sinkhorn_log(cost_t[None], a_t[None], b_t[None], 0.05, max_iter=1000, tol=1e-10)
    plan = res.plan[0]
    assert torch.isfinite(plan).all()
    assert plan[[1, 4]].abs().max() == 0 and plan[:, 2].abs().max() == 0
    torch.testing.assert_close(plan.sum(1), a_t.detach(), atol=1e-8, rtol=0)
    torch.testing.assert_close(plan.sum(0), b_t.detach(), atol=1e-8, rtol=0)
    (plan * torch.randn_like(plan)).sum().backward()
    for g in (cost_t.grad, a_t.grad, b_t.grad):
        assert torch.isfinite(g).all()


@pytest.mark.parametrize("eps", [0.05, 1e-3])
def test_energy_imbalance_of_1e6_stays_finite(eps):
    rng = np.random.default_rng(8)
    a = rng.random(30)
    a[0] *= 1e6
    b = rng.random(25)
    b[3] *= 1e6
    a, b = a / a.sum(), b / b.sum()
    cost = rng.random((30, 25))
    cost_t = torch.tensor(cost, dtype=torch.float32, requires_grad=True)
    res = sinkhorn_log(cost_t[None], torch.tensor(a, dtype=torch.float32)[None],
                       torch.tensor(b, dtype=torch.float32)[None], eps, max_iter=2000, tol=1e-6)
    assert torch.isfinite(res.plan).all() and res.marginal_error.item() < 1e-5
    torch.testing.assert_close(res.plan[0].sum(1).double(), torch.tensor(a), atol=1e-5, rtol=0)
    res.plan.square().sum().backward()
    assert torch.isfinite(cost_t.grad).all()


def test_gradcheck_wrt_cost_and_marginals():
    a, b, cost = problem(4, 3, 9)
    inputs = (torch.tensor(cost, requires_grad=True), torch.tensor(a, requires_grad=True),
              torch.tensor(b, requires_grad=True))
    fn = lambda c, x, y: sinkhorn_log(c[None], x[None], y[None], 0.3, max_iter=30, tol=0.0).plan  # noqa: E731
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


def test_spectral_marginal_and_cost():
    amp = torch.rand(2, 5, 3, dtype=torch.float64)
    amp[1] = 0.0
    marg = spectral_marginal(amp)
    torch.testing.assert_close(marg[0], (amp[0] ** 2).sum(-1).float() / (amp[0] ** 2).sum().float())
    torch.testing.assert_close(marg[1], torch.full((5,), 0.2))
    src, tgt = torch.rand(2, 4, 3), torch.rand(2, 6, 3)
    slow = torch.stack([torch.stack([torch.stack([((src[k, i] - tgt[k, j]) ** 2).sum() for j in range(6)])
                                     for i in range(4)]) for k in range(2)])
    torch.testing.assert_close(spectral_cost(tgt, src), slow, atol=1e-6, rtol=1e-6)
    zero = torch.zeros(1, 4, 3, requires_grad=True)
    spectral_marginal(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_barycentric_projection_is_a_convex_combination():
    plan = torch.rand(2, 5, 7)
    plan[0, 3] = 0.0
    values = torch.randn(2, 7, 4)
    fallback = torch.full((2, 5, 4), 9.0)
    out = barycentric_projection(plan, values, fallback)
    slow = torch.einsum("brk,bkd->brd", plan, values) / plan.sum(-1, keepdim=True).clamp_min(1e-30)
    torch.testing.assert_close(out[1], slow[1])
    assert torch.equal(out[0, 3], fallback[0, 3])
    assert (out[1] <= values[1].max(0).values + 1e-6).all() and (out[1] >= values[1].min(0).values - 1e-6).all()


def test_bad_shapes():
    with pytest.raises(ValueError, match="expects cost"):
        sinkhorn_log(torch.rand(2, 3, 4), torch.rand(2, 4), torch.rand(2, 4), 0.1)
