import pytest
import torch

from sfcl.config import OptimConfig
from sfcl.engine.optim import build_optimizer, build_scheduler, lr_factor
from sfcl.errors import SfclError


def test_agw_schedule():
    cfg = OptimConfig()  # warm-up 10, x0.1 at 20, x0.01 at 50
    factors = [lr_factor(e, cfg, 80) for e in range(80)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10:20] == [1.0] * 10
    assert factors[20] == pytest.approx(0.1) and factors[49] == pytest.approx(0.1)
    assert factors[50] == pytest.approx(0.01) and factors[79] == pytest.approx(0.01)


def test_cosine_schedule_reaches_zero():
    cfg = OptimConfig(schedule="cosine", warmup_epochs=2)
    assert lr_factor(2, cfg, 12) == pytest.approx(1.0)
    assert lr_factor(7, cfg, 12) == pytest.approx(0.5)
    assert lr_factor(12, cfg, 12) == pytest.approx(0.0, abs=1e-12)


def test_scheduler_scales_each_group():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    cfg = OptimConfig(warmup_epochs=0, milestones=[1])
    opt = build_optimizer([{"params": [a], "lr": 0.01}, {"params": [b], "lr": 0.1}], cfg)
    sched = build_scheduler(opt, cfg, 3)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01, 0.1])
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.001, 0.01])


def test_bad_names():
    with pytest.raises(SfclError, match="optim.name"):
        build_optimizer([{"params": [torch.nn.Parameter(torch.zeros(1))]}], OptimConfig(name="lamb"))
    with pytest.raises(SfclError, match="optim.schedule"):
        lr_factor(20, OptimConfig(schedule="poly"), 80)


def test_warmup_is_per_iteration():
    cfg = OptimConfig(schedule="cosine", warmup_epochs=1)
    factors = [lr_factor(step, cfg, 4, iters_per_epoch=10) for step in range(40)]
    assert factors[0] == pytest.approx(0.1) and factors[4] == pytest.approx(0.5) and factors[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:10], factors[1:10]))  # rises through the first epoch
    assert factors[10] == pytest.approx(1.0) and factors[25] == pytest.approx(0.5)  # cosine over fractional epochs
    a = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([{"params": [a], "lr": 1.0}], cfg)
    sched = build_scheduler(opt, cfg, 4, iters_per_epoch=10)
    seen = []
    for _ in range(12):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx(factors[:12])
