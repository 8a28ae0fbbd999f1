"""The CUDA checks (``pytest -m gpu``): the paper's modules on the device against a float64 CPU reference.

Run on a GPU machine by ``benchmarks/gpu_check.py``. Without CUDA they are skipped, unless
``SFCL_GPU_TEST_DEVICE`` names another device: the check's ``--dry-run`` sets it to ``cpu`` so
that these tests run (and cannot rot) in CI. Tolerances, as relative errors
``||device - reference|| / ||reference||``:

* float32 on the device: :data:`FLOAT32_TOL` (TF32 convolutions and reordered reductions);
  CFAM's reference is CPU float32 (its spectra are float32 by design), SFIM's and the scan's float64;
* bf16 autocast: :data:`BF16_TOL` (8-bit mantissa; the FFTs and the Sinkhorn stay in float32).
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

from sfcl.config import CFAMConfig, LossConfig, ModelConfig, SFIMConfig
from sfcl.losses.objective import ReIDObjective
from sfcl.models import build_model
from sfcl.models.cfam import CFAM
from sfcl.models.selective_scan import selective_scan
from sfcl.models.sfim import SFIM
from sfcl.models.spectrum import decompose, recombine

FLOAT32_TOL = 2e-3
BF16_TOL = 6e-2
_DEVICE = os.environ.get("SFCL_GPU_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else "")

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not _DEVICE, reason="needs CUDA (or SFCL_GPU_TEST_DEVICE, e.g. cpu for a dry run)")]


@pytest.fixture(scope="module")
def device() -> torch.device:
    return torch.device(_DEVICE)


def rel_err(actual: torch.Tensor, reference: torch.Tensor) -> float:
    actual, reference = actual.detach().double().cpu(), reference.detach().double().cpu()
    assert torch.isfinite(actual).all(), "non-finite values on the device"
    return float((actual - reference).norm() / reference.norm().clamp_min(1e-30))


def perturb(module: torch.nn.Module, seed: int, scale: float = 0.05) -> None:
    """Random weights on top of the init, so the zero-initialised output layers and gates matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def cfam_pair(seed: int = 0) -> tuple[CFAM, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    cfg = CFAMConfig(enabled=True, dim=16, heads=2, d_state=4, scan_backend="torch", sinkhorn_iters=100,
                     train_partner="batch", max_log_gain=2.0)
    cfam = CFAM(32, (8, 4), cfg)
    perturb(cfam, seed)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(6, 32, 8, 4, generator=g)
    modality = torch.tensor([0, 0, 0, 1, 1, 1])
    return cfam, x, modality


def forward_backward(module, x, modality, device, autocast: torch.dtype | None):
    module = copy.deepcopy(module).to(device).train()
    x = x.to(device).requires_grad_(True)
    with torch.autocast(device_type=device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        out = module(x, modality.to(device))
    y = out.frequency_map if hasattr(out, "frequency_map") else out.fused
    (y.float() * torch.linspace(-1, 1, y.numel(), device=device).view_as(y)).sum().backward()
    grads = {n: p.grad for n, p in module.named_parameters() if p.grad is not None}
    return y, x.grad, grads


def reference(module, x, modality, dtype=torch.float64):
    return forward_backward(module.to(dtype), x.to(dtype), modality, torch.device("cpu"), None)


@pytest.mark.parametrize("autocast,tol", [(None, FLOAT32_TOL), (torch.bfloat16, BF16_TOL)], ids=["float32", "bf16"])
def test_cfam_forward_backward_matches_cpu(device, autocast, tol):
    """Against CPU float32: CFAM computes its spectra in float32 whatever its input (spectrum.decompose)."""
    cfam, x, modality = cfam_pair()
    y_ref, gx_ref, g_ref = reference(copy.deepcopy(cfam), x, modality, torch.float32)
    y, gx, grads = forward_backward(cfam, x, modality, device, autocast)
    assert y.dtype == torch.float32  # O_fre leaves CFAM in float32 whatever the autocast
    assert rel_err(y, y_ref) < tol
    assert rel_err(gx, gx_ref) < tol
    for name in ("amplitude_out.weight", "phase_out.weight", "amplitude_in.1.weight"):
        assert rel_err(grads[name], g_ref[name]) < 2 * tol, name


@pytest.mark.parametrize("autocast,tol", [(None, FLOAT32_TOL), (torch.bfloat16, BF16_TOL)], ids=["float32", "bf16"])
def test_sfim_forward_backward_matches_cpu_float64(device, autocast, tol):
    torch.manual_seed(3)
    sfim = SFIM(16, SFIMConfig(enabled=True, covariance_dim=4, mlp_hidden=12))
    perturb(sfim, 3, scale=0.1)
    g = torch.Generator().manual_seed(4)
    x, o_fre = torch.rand(4, 16, 8, 4, generator=g), torch.randn(4, 16, 8, 4, generator=g)

    class Pair(torch.nn.Module):  # SFIM(x, o_fre) in the (input, modality) form forward_backward calls
        def __init__(self):
            super().__init__()
            self.sfim = copy.deepcopy(sfim)

        def forward(self, inp, o):
            return self.sfim(inp, o)

    y_ref, gx_ref, _ = reference(Pair(), x, o_fre.double())
    y, gx, _ = forward_backward(Pair(), x, o_fre, device, autocast)
    assert rel_err(y, y_ref) < tol
    assert rel_err(gx, gx_ref) < tol


def test_fft_path_stays_float32_under_autocast(device):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 8, 18, 9, generator=g)  # odd width: the half spectrum's edge bins
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        spectrum = decompose(x.to(device))
        back = recombine(spectrum.amplitude, spectrum.phase, (18, 9))
    assert spectrum.amplitude.dtype == torch.float32 and back.dtype == torch.float32
    assert rel_err(back, x.double()) < 1e-5  # the round trip is exact up to float32, not bf16
    reference_amp = torch.fft.rfft2(x.double(), dim=(-2, -1), norm="ortho").abs()
    assert rel_err(spectrum.amplitude, reference_amp) < 1e-5


def test_torch_selective_scan_on_the_device(device):
    g = torch.Generator().manual_seed(6)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    kw = dict(u=r(2, 6, 37), delta=r(2, 6, 37), A=-torch.rand(6, 4, generator=g, dtype=torch.float64) - 0.1,
              B=r(2, 3, 4, 37), C=r(2, 3, 4, 37), D=r(6), delta_bias=r(6))
    expect = selective_scan(**kw, delta_softplus=True, backend="torch")
    got = selective_scan(**{k: v.float().to(device) for k, v in kw.items()}, delta_softplus=True, backend="torch")
    assert got.dtype == torch.float32 and rel_err(got, expect) < 1e-4


def test_sfcl_training_step_under_bf16_autocast(device):
    """One forward/backward of the small full SFCL with the FAD loss: finite, and the loss close to float32's."""
    torch.manual_seed(7)
    cfg = ModelConfig(depth=18, cfam=CFAMConfig(enabled=True, dim=16, heads=2, d_state=4, scan_backend="torch"),
                      sfim=SFIMConfig(enabled=True, covariance_dim=4, mlp_hidden=32))
    model = build_model(cfg, num_classes=4, input_size=(64, 32)).to(device).train()
    objective = ReIDObjective(LossConfig(cfc_weight=1.0, csc_weight=0.8, csc_neighbors=2)).to(device)
    g = torch.Generator().manual_seed(8)
    images = torch.rand(8, 3, 64, 32, generator=g).to(device)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3], device=device)
    modality = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1], device=device)
    losses = {}
    for name, dtype in (("float32", None), ("bf16", torch.bfloat16)):
        model.zero_grad()
        state = copy.deepcopy(model.state_dict())  # BN statistics and prototypes: both passes start alike
        with torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            total, _ = objective(model(images, modality), labels, modality)
        total.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert torch.isfinite(total) and all(torch.isfinite(gr).all() for gr in grads), name
        losses[name] = float(total.detach())
        model.load_state_dict(state)
    assert abs(losses["bf16"] - losses["float32"]) / abs(losses["float32"]) < 0.05, losses
