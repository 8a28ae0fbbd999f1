"""CFAM: shapes, identity at init, partner selection, prototypes, batch independence, transport marginals."""

from __future__ import annotations

import pytest
import torch

from sfcl.config import CFAMConfig, config_from_dict
from sfcl.errors import SfclError
from sfcl.models.cfam import CFAM, bounded_log_gain
from sfcl.models.sinkhorn import spectral_marginal
from sfcl.models.spectrum import decompose

C, SIZE = 32, (8, 4)
BINS = SIZE[0] * (SIZE[1] // 2 + 1)


def small_cfg(**kw) -> CFAMConfig:
    base = dict(dim=16, heads=2, d_state=4, mlp_ratio=2.0, attn_mlp_ratio=1.0, scan_backend="torch",
                sinkhorn_iters=200, sinkhorn_tol=1e-7, train_partner="batch")  # the paper's partner, explicitly
    return CFAMConfig(**{**base, **kw})


def make(seed: int = 0, **kw) -> CFAM:
    torch.manual_seed(seed)
    return CFAM(C, SIZE, small_cfg(**kw))


def batch(n: int = 3, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2 * n, C, *SIZE, generator=g)  # post-ReLU-like maps
    modality = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    return x, modality


def perturb_outputs(cfam: CFAM, seed: int = 5) -> None:
    """Give the zero-initialised output projections random weights, so every path matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (cfam.amplitude_out, cfam.phase_out):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.05)


def test_shapes_and_dtypes():
    cfam = make().train()
    x, modality = batch()
    out = cfam(x, modality)
    assert out.frequency_map.shape == x.shape and out.frequency_map.dtype == torch.float32
    assert out.plan.shape == (6, BINS, BINS)
    assert out.partner == "batch"
    with pytest.raises(ValueError, match="built for"):
        cfam(torch.rand(2, C, 9, 4), torch.zeros(2, dtype=torch.long))


def test_identity_on_the_spectrum_at_init_without_transport():
    """Zero-initialised updates and no transported share: O_fre reproduces X."""
    cfam = make(blend_init=0.0).eval()
    x, modality = batch()
    out = cfam(x, modality).frequency_map
    torch.testing.assert_close(out, x, atol=2e-3, rtol=2e-3)


def test_pairing_and_prototypes():
    cfam = make().train()
    x, modality = batch(n=2)
    assert cfam(x, modality).partner == "batch"
    assert cfam(x[:3], modality[:3]).partner == "prototype"  # unequal halves
    assert cfam(x[:2], modality[:2]).partner == "prototype"  # one modality
    assert cfam.eval()(x, modality).partner == "prototype"


def test_first_prototype_update_is_the_batch_mean_then_ema():
    cfam = make(prototype_momentum=0.75).train()
    x, modality = batch(n=2)
    spec = decompose(x)
    amplitude = spec.amplitude.flatten(2).transpose(1, 2)
    cfam(x, modality)
    assert cfam.prototype_updates.tolist() == [1, 1]
    # amplitude_out is zero at init, so Ã = A and the amplitude prototype is the mean amplitude
    torch.testing.assert_close(cfam.prototype_amplitude[0], amplitude[:2].mean(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cfam.prototype_amplitude[1], amplitude[2:].mean(0), atol=1e-5, rtol=1e-5)
    before = cfam.prototype_amplitude.clone()
    x2 = x.flip(0)  # now the infrared maps come first in the visible half
    cfam(x2, modality)
    amp2 = decompose(x2).amplitude.flatten(2).transpose(1, 2)
    torch.testing.assert_close(cfam.prototype_amplitude[0], 0.75 * before[0] + 0.25 * amp2[:2].mean(0),
                               atol=1e-5, rtol=1e-5)


def test_eval_output_does_not_depend_on_the_batch():
    cfam = make()
    perturb_outputs(cfam)
    cfam.train()
    x, modality = batch(n=3)
    for _ in range(2):
        cfam(x, modality)  # fill the prototypes
    cfam.eval()
    with torch.no_grad():
        together = cfam(x, modality).frequency_map
        alone = torch.cat([cfam(x[i:i + 1], modality[i:i + 1]).frequency_map for i in range(6)])
        shuffled = cfam(x.flip(0), modality.flip(0)).frequency_map.flip(0)
    torch.testing.assert_close(alone, together, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(shuffled, together, atol=1e-5, rtol=1e-5)


def test_training_partner_is_the_aligned_sample_of_the_other_half():
    cfam = make()
    perturb_outputs(cfam)
    cfam.train()
    x, modality = batch(n=2)
    base = cfam(x, modality).frequency_map
    x_changed = x.clone()
    x_changed[3] = torch.rand_like(x[3])  # infrared partner of visible sample 1
    changed = cfam(x_changed, modality).frequency_map
    assert torch.allclose(changed[0], base[0], atol=1e-6), "sample 0's partner (index 2) is unchanged"
    assert not torch.allclose(changed[1], base[1], atol=1e-4), "sample 1 reads its partner (index 3)"


def test_plan_meets_the_spectral_energy_marginals():
    """At init Ã = A, so rows carry the infrared energy and columns the visible energy of each pair."""
    cfam = make().train()
    x, modality = batch(n=2)
    out = cfam(x, modality)
    amplitude = decompose(x).amplitude.flatten(2).transpose(1, 2)
    energy = spectral_marginal(amplitude)
    assert torch.all(out.plan >= 0)
    for vis, nir in ((0, 2), (1, 3)):
        for sample in (vis, nir):  # both samples of a pair solve the same problem
            torch.testing.assert_close(out.plan[sample].sum(1), energy[nir], atol=1e-5, rtol=0)
            torch.testing.assert_close(out.plan[sample].sum(0), energy[vis], atol=1e-5, rtol=0)


def test_gradients_are_finite_for_zero_and_random_maps():
    cfam = make()
    perturb_outputs(cfam)
    cfam.train()
    x, modality = batch(n=2)
    x[1] = 0.0  # a dead feature map: every bin at |z| = 0
    x.requires_grad_(True)
    out = cfam(x, modality)
    (out.frequency_map.square().mean() + out.plan.sum()).backward()
    assert torch.isfinite(x.grad).all()
    for name, p in cfam.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_marginal_helper_agrees_with_energy():
    amp = torch.rand(2, BINS, C)
    a = spectral_marginal(amp)
    torch.testing.assert_close(a, amp.square().sum(-1) / amp.square().sum((1, 2))[:, None])


def test_prototype_training_partner_reads_no_other_sample():
    cfam = make(train_partner="prototype")
    perturb_outputs(cfam)
    cfam.train()
    x, modality = batch(n=2)
    out = cfam(x, modality)
    assert out.partner == "prototype"
    x_changed = x.clone()
    x_changed[3] = torch.rand_like(x[3])
    changed = cfam(x_changed, modality).frequency_map
    # the prototypes moved with the first call, so compare two calls after the same update history
    cfam_again = make(train_partner="prototype")
    perturb_outputs(cfam_again)
    cfam_again.train()
    cfam_again(x, modality)
    reference = cfam_again(x, modality).frequency_map
    assert torch.allclose(changed[1], reference[1], atol=1e-5), "sample 1 no longer reads index 3"
    assert int(cfam.prototype_updates.min()) == 2  # prototypes still learn from training batches
    with pytest.raises(SfclError, match="train_partner"):
        config_from_dict({"model": {"cfam": {"train_partner": "neighbour"}}})  # checked when read


def test_shuffled_partner_is_another_sample_of_the_other_modality():
    cfam = make(train_partner="shuffled").train()
    n = 5
    _x, modality = batch(n=n)
    for seed in range(8):
        torch.manual_seed(seed)
        pairing = cfam._pairing(modality)
        idx = torch.arange(2 * n)
        assert torch.equal(modality[pairing], 1 - modality), "partner of the other modality"
        assert torch.equal(pairing[pairing], idx), "mutual partners"
        assert not torch.equal(pairing[:n], idx[n:]), "never the aligned (same-identity) sample"
        assert (pairing[:n] - n != idx[:n]).all()
    assert cfam._pairing(torch.tensor([0, 1])) is None  # one pair: no other identity, the prototype
    assert cfam.eval()._pairing(modality) is None  # inference: the prototype


def test_amplitude_gain_is_bounded_and_the_identity_near_zero():
    delta = torch.linspace(-50, 50, 101, dtype=torch.float64, requires_grad=True)
    bounded = bounded_log_gain(delta, 2.0)
    assert 1.99 < bounded.abs().max() <= 2.0
    torch.testing.assert_close(bounded_log_gain(torch.tensor([1e-4], dtype=torch.float64), 2.0),
                               torch.tensor([1e-4], dtype=torch.float64), rtol=1e-6, atol=0)
    (grad,) = torch.autograd.grad(bounded.sum(), delta)
    assert grad[50] == pytest.approx(1.0) and (grad[46:55] > 0.05).all()  # smooth, unlike a hard clamp
    torch.testing.assert_close(bounded_log_gain(delta, 0.0), delta)  # 0: unbounded (the paper's words)
    x, modality = batch()
    rms = {}
    for bound in (1.0, 0.0):
        cfam = make(max_log_gain=bound).train()
        with torch.no_grad():
            cfam.amplitude_out.bias.fill_(30.0)  # a huge update: gain e^1 at most when bounded
        rms[bound] = float(cfam(x, modality).frequency_map.detach().pow(2).mean().sqrt() / x.pow(2).mean().sqrt())
    assert rms[1.0] < 10.0 and rms[0.0] > 1e10


@pytest.mark.parametrize("partner", ["batch", "prototype"])
def test_own_embedding_is_the_mean_of_o_fre_without_the_transported_spectrum(partner):
    """``embedding: own`` = spatial mean of IFFT(Ã, P̃): equal to mean(O_fre) once the blend is 0,
    and unchanged by the blend; ``fused`` = mean(O_fre) whatever the blend."""
    x, modality = batch()
    own, fused = make(embedding="own", train_partner=partner).train(), make(embedding="fused", train_partner=partner).train()
    for cfam in (own, fused):
        perturb_outputs(cfam)
    out_fused = fused(x, modality)
    torch.testing.assert_close(out_fused.embedding, out_fused.frequency_map.mean(dim=(2, 3)))
    own(x, modality)  # fills the prototypes; then eval mode keeps the partner fixed between calls
    own.eval()
    with torch.no_grad():
        own.blend_logit.fill_(-60.0)  # sigmoid: no transported share, O_fre = IFFT(Ã, P̃)
    out = own(x, modality)
    torch.testing.assert_close(out.embedding, out.frequency_map.double().mean(dim=(2, 3)).float(), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        own.blend_logit.fill_(0.0)  # half transported: O_fre changes, the own embedding does not
    out_blended = own(x, modality)
    torch.testing.assert_close(out_blended.embedding, out.embedding)
    assert not torch.allclose(out_blended.frequency_map, out.frequency_map, atol=1e-3)


@pytest.mark.parametrize("partner", ["batch", "prototype"])
def test_gem_embedding_pools_the_own_map_as_the_retrieval_feature(partner):
    """``embedding: gem`` = GeM(relu(IFFT(Ã, P̃))), written here as a slow loop over samples and
    channels in float64: GeM(X) at init (the gains are 1, the phase shifts 0) and, once the
    outputs are trained, the pooled own map whatever the blend."""
    x, modality = batch()
    p = 3.0
    cfam = make(embedding="gem", train_partner=partner).train()

    def slow_gem(maps: torch.Tensor) -> torch.Tensor:
        out = torch.empty(maps.shape[:2], dtype=torch.float64)
        for i in range(maps.shape[0]):
            for c in range(maps.shape[1]):
                out[i, c] = (maps[i, c].double().clamp(min=0).pow(p).mean() + 1e-12) ** (1 / p)
        return out

    torch.testing.assert_close(cfam(x, modality).embedding.double(), slow_gem(x), atol=1e-5, rtol=1e-5)
    perturb_outputs(cfam)
    cfam.eval()
    with torch.no_grad():
        cfam.blend_logit.fill_(-60.0)  # no transported share: O_fre = IFFT(Ã, P̃), the own map
    out = cfam(x, modality)
    torch.testing.assert_close(out.embedding.double(), slow_gem(out.frequency_map), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out.embedding, slow_gem(x).float(), atol=1e-3)  # the gains now matter
    with torch.no_grad():
        cfam.blend_logit.fill_(0.0)  # half transported: O_fre changes, the embedding does not
    torch.testing.assert_close(cfam(x, modality).embedding, out.embedding)


def test_analysis_grad_off_stops_the_gradient_through_the_tokens_and_the_plan():
    """``analysis_grad: false``: the plan (pure analysis) sends no gradient into X, O_fre still does,
    and the forward values are unchanged."""
    x, modality = batch()
    grads, values = {}, {}
    for flag in (True, False):
        cfam = make(analysis_grad=flag).train()
        perturb_outputs(cfam)
        xi = x.clone().requires_grad_(True)
        out = cfam(xi, modality)
        values[flag] = out.frequency_map.detach()
        plan_grad = (torch.autograd.grad(out.plan.square().sum(), xi, retain_graph=True)[0]
                     if out.plan.requires_grad else None)
        (map_grad,) = torch.autograd.grad(out.frequency_map.square().sum(), xi)
        grads[flag] = (plan_grad, map_grad)
    assert grads[True][0] is not None and float(grads[True][0].abs().sum()) > 0
    assert grads[False][0] is None or float(grads[False][0].abs().sum()) == 0.0
    assert float(grads[False][1].abs().sum()) > 0
    torch.testing.assert_close(values[True], values[False])


def test_phase_grad_off_sends_the_gradient_through_the_amplitude_only():
    """``phase_grad: false``: same O_fre; the gradient into X is that of irfft(|F(X)| · stop(phasor)),
    computed here from torch.fft directly (identity CFAM: zero updates, no transported share)."""
    x, modality = batch()
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    values, grads = {}, {}
    for flag in (True, False):
        cfam = make(phase_grad=flag, blend_init=0.0).eval()
        xi = x.clone().requires_grad_(True)
        out = cfam(xi, modality).frequency_map
        values[flag] = out.detach()
        (grads[flag],) = torch.autograd.grad((out * weights).sum(), xi)
    torch.testing.assert_close(values[True], values[False])
    xr = x.double().clone().requires_grad_(True)
    z = torch.fft.rfft2(xr, norm="ortho")
    phase = (z / torch.sqrt(z.abs().square() + 1e-8)).detach()
    ref = torch.fft.irfft2(z.abs() * phase, s=SIZE, norm="ortho")
    (expected,) = torch.autograd.grad((ref * weights.double()).sum(), xr)
    torch.testing.assert_close(grads[False].double(), expected, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(grads[True], weights, atol=2e-3, rtol=2e-3)  # the whole path: the identity


def test_phase_grad_off_bounds_the_gradient_where_own_bins_are_small():
    """A transported amplitude on bins where X's own spectrum is ~0 makes the phasor's gradient blow
    up (|Ã| / |z|); reading the phase from a stopped spectrum removes that path (the analysis stopped
    too, so the gradient is the synthesis's alone)."""
    x, modality = batch()
    norms = {}
    for flag in (True, False):
        cfam = make(phase_grad=flag, analysis_grad=False, train_partner="prototype").train()
        cfam(x, modality)  # fills the prototypes
        cfam.eval()
        xi = (x * 1e-3).requires_grad_(True)  # own spectrum small, the prototype's amplitude not
        out = cfam(xi, modality).frequency_map
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
        (g,) = torch.autograd.grad((out * weights).sum(), xi)
        norms[flag] = float(g.norm())
    assert norms[True] > 1000 * norms[False]
    assert norms[False] < 2 * float(weights.norm())  # no larger than the identity path's, about


@pytest.mark.parametrize("partner", ["batch", "prototype"])
def test_nir_to_vis_transport_moves_only_the_infrared_spectra(partner):
    """``transport: nir_to_vis``: visible samples' O_fre is their own IFFT(Ã, P̃) (as with no
    transported share), infrared samples' is the one ``both`` gives them."""
    x, modality = batch()
    both, one_way, own = (make(train_partner=partner, transport=t) for t in ("both", "nir_to_vis", "both"))
    for cfam in (both, one_way, own):
        perturb_outputs(cfam)
        cfam.train()(x, modality)  # the same prototypes for all three
        cfam.eval()
    with torch.no_grad():
        own.blend_logit.fill_(-60.0)  # no transported share anywhere
    visible, infrared = modality == 0, modality == 1
    out_both, out_one, out_own = (m(x, modality).frequency_map for m in (both, one_way, own))
    torch.testing.assert_close(out_one[visible], out_own[visible])
    torch.testing.assert_close(out_one[infrared], out_both[infrared])
    assert not torch.allclose(out_both[visible], out_own[visible], atol=1e-3)
    with pytest.raises(SfclError, match="transport"):
        config_from_dict({"model": {"cfam": {"transport": "vis_to_nir"}}})
