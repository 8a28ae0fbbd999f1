import warnings

import pytest
import torch

from sfcl.config import CFAMConfig, ModelConfig, SFIMConfig, config_from_dict
from sfcl.errors import SfclError
from sfcl.models import build_model

PAPER_BASE_PARAMS_M = 23.55  # the paper's ablation table, Base row
PAPER_CFAM_PARAMS_M = 60.85  # + CFAM row
PAPER_SFIM_PARAMS_M = 70.50  # + CFAM + SFIM and full SFCL rows


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_full_size_base_parameter_count():
    model = build_model(ModelConfig(depth=50), num_classes=395)
    count = model.num_parameters() / 1e6
    assert abs(count - PAPER_BASE_PARAMS_M) / PAPER_BASE_PARAMS_M < 0.05, count
    assert model.num_parameters(include_classifier=True) - model.num_parameters() == 2048 * 395


def test_full_size_base_cfam_parameter_count():
    """Default widths (configs and ``CFAMConfig``) land within 5% of the paper's 60.85 M."""
    model = build_model(ModelConfig(depth=50, cfam=CFAMConfig(enabled=True)), num_classes=395, input_size=(288, 144))
    count = model.num_parameters() / 1e6
    assert abs(count - PAPER_CFAM_PARAMS_M) / PAPER_CFAM_PARAMS_M < 0.05, count
    assert model.cfam.grid == (18, 5)


def test_base_cfam_outputs_frequency_terms():

    cfg = ModelConfig(depth=18, cfam=CFAMConfig(enabled=True, dim=16, heads=2, d_state=4, mlp_ratio=1.0))
    model = build_model(cfg, num_classes=5, input_size=(64, 32))
    images, modality = torch.randn(4, 3, 64, 32), torch.tensor([0, 0, 1, 1])
    out = model(images, modality)
    assert out.frequency_map.shape == out.feature_map.shape == (4, 512, 4, 2)
    assert out.frequency.shape == (4, 512) and out.transport_plan.shape == (4, 8, 8)
    assert out.logits.shape == (4, 5)
    (out.logits.sum() + out.frequency.sum()).backward()
    model.eval()
    with torch.no_grad():
        single = model(images[2:3], modality[2:3]).embedding
        together = model(images, modality).embedding[2:3]
    torch.testing.assert_close(single, together, atol=1e-5, rtol=1e-4)


def test_outputs_in_train_and_eval_mode():
    model = build_model(ModelConfig(depth=18), num_classes=7)
    images, modality = torch.randn(4, 3, 64, 32), torch.tensor([0, 0, 1, 1])
    out = model(images, modality)
    assert out.features.shape == out.embedding.shape == (4, 512) and out.logits.shape == (4, 7)
    model.eval()
    out = model(images, modality)
    assert out.logits is None and out.feature_map.shape == (4, 512, 4, 2)
    alone = model(images[2:3], modality[2:3])
    torch.testing.assert_close(alone.embedding, out.embedding[2:3], atol=1e-5, rtol=1e-5)


def test_param_groups_and_frozen_neck_bias():
    model = build_model(ModelConfig(depth=18), num_classes=7)
    groups = model.param_groups(0.1, 0.1)
    assert [g["lr"] for g in groups] == pytest.approx([0.01, 0.1])
    assert not model.neck.bias.requires_grad
    grouped = sum(p.numel() for g in groups for p in g["params"])
    assert grouped == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_added_modules_get_their_own_lr():
    cfg = ModelConfig(depth=18, cfam=CFAMConfig(enabled=True, dim=32, heads=4), sfim=SFIMConfig(enabled=True))
    model = build_model(cfg, num_classes=5, input_size=(64, 32))
    backbone, head, added = model.param_groups(0.1, 0.5, added_lr_mult=10.0)
    assert (backbone["lr"], head["lr"], added["lr"]) == pytest.approx((0.05, 0.1, 1.0))
    ids = {name: {id(p) for p in group["params"]} for name, group in
           (("backbone", backbone), ("head", head), ("added", added))}
    assert ids["added"] == {id(p) for m in (model.cfam, model.sfim) for p in m.parameters() if p.requires_grad}
    assert {id(p) for p in model.classifier.parameters()} <= ids["head"]
    assert sum(len(v) for v in ids.values()) == sum(1 for p in model.parameters() if p.requires_grad)
    gated = build_model(ModelConfig(depth=18, cfam=CFAMConfig(enabled=True, dim=32, heads=4)), 5, (64, 32))
    assert any(p is gated.frequency_gate for p in gated.param_groups(0.1, 1.0, 3.0)[2]["params"])


def test_sfim_needs_cfam():
    with pytest.raises(SfclError, match="model.sfim"):
        config_from_dict({"model": {"depth": 18, "cfam": {"enabled": False}, "sfim": {"enabled": True}}})  # checked when read


def test_full_size_sfcl_parameter_count():
    cfg = ModelConfig(depth=50, cfam=CFAMConfig(enabled=True), sfim=SFIMConfig(enabled=True))
    model = build_model(cfg, num_classes=395, input_size=(288, 144))
    count = model.num_parameters() / 1e6
    assert abs(count - PAPER_SFIM_PARAMS_M) / PAPER_SFIM_PARAMS_M < 0.05, count


def test_sfim_model_outputs():
    cfg = ModelConfig(depth=18, cfam=CFAMConfig(enabled=True, dim=32, heads=4), sfim=SFIMConfig(enabled=True))
    model = build_model(cfg, num_classes=5, input_size=(64, 32))
    out = model(torch.rand(4, 3, 64, 32), torch.tensor([0, 0, 1, 1]))
    assert out.features.shape == (4, 512) and out.logits.shape == (4, 5)
    assert out.covariance.shape == (4, 32, 32) and out.frequency.shape == (4, 512)
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 32), torch.tensor([1, 0])).embedding.shape == (2, 512)


def _small(backbone: str, cfam: bool, sfim: bool, fusion: str = "sum", **frequency) -> ModelConfig:
    return ModelConfig(backbone=backbone, depth=18,
                       cfam=CFAMConfig(enabled=cfam, dim=16, heads=2, d_state=4, mlp_ratio=1.0, **frequency),
                       sfim=SFIMConfig(enabled=sfim, covariance_dim=4, mlp_hidden=8, fusion=fusion, fusion_dim=5))


@pytest.mark.parametrize("backbone", ["resnet", "mobilenet_v2"])
@pytest.mark.parametrize("row", ["cfam", "cfam_sfim", "cfam_sfim_concat"])
def test_every_added_module_starts_as_the_identity(backbone, row):
    """SFCL at step 0 returns the Base's features: same backbone weights, CFAM gated at γ = 0,
    SFIM's W_o and fusion MLP at zero (docs/DESIGN.md, "Identity at init"). With ``fusion: concat``
    the features are the Base's followed by zeros (the same distances)."""
    concat = row.endswith("concat")
    base = build_model(_small(backbone, False, False), num_classes=6, input_size=(64, 32))
    full = build_model(_small(backbone, True, row != "cfam", "concat" if concat else "sum"), num_classes=6,
                       input_size=(64, 32))
    shared = {k: v for k, v in base.state_dict().items() if not (concat and k.startswith(("neck.", "classifier.")))}
    missing, unexpected = full.load_state_dict(shared, strict=False)
    assert not unexpected and all(k.startswith(("cfam.", "sfim.", "frequency_gate", "neck", "classifier")) for k in missing)
    if concat:  # the wider neck holds the Base's in its first channels (the rest normalises zeros)
        with torch.no_grad():
            for name, value in base.neck.state_dict().items():
                target = full.neck.state_dict()[name]
                target.copy_(value) if value.dim() == 0 else target[: value.shape[0]].copy_(value)
    torch.manual_seed(3)
    images, modality = torch.randn(4, 3, 64, 32), torch.tensor([0, 0, 1, 1])
    for mode in ("train", "eval"):
        getattr(base, mode)(), getattr(full, mode)()
        a, b = base(images, modality), full(images, modality)
        width = a.features.shape[1]
        if concat:
            assert b.features.shape[1] == b.embedding.shape[1] == width + 5
            assert float(b.features[:, width:].abs().max()) == 0 and float(b.embedding[:, width:].abs().max()) == 0
        torch.testing.assert_close(b.features[:, :width], a.features, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(b.embedding[:, :width], a.embedding, atol=1e-5, rtol=1e-5)
    # the added modules still receive a gradient at step 0 (through the gate / W_o / the BN-normalised
    # block), so they can grow
    full.train()
    out = full(images, modality)
    (out.features.pow(2).sum() + torch.nn.functional.cross_entropy(out.logits, torch.arange(4))).backward()
    grown = [full.frequency_gate] if row == "cfam" else [full.sfim.out.weight] + ([full.sfim.mlp[-1].weight] if concat else [])
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in grown)


@pytest.mark.parametrize("row", ["cfam", "cfam_sfim"])
def test_added_modules_leave_the_base_init_and_the_rng_stream_alone(row):
    """Built under the same seed, every parameter the Base has starts equal in each ablation row, and
    the global stream after construction is the Base's (the data order of a paired ablation), while
    the added modules still differ from seed to seed."""
    def build(cfam: bool, sfim: bool, seed: int = 5):
        torch.manual_seed(seed)
        model = build_model(_small("mobilenet_v2", cfam, sfim), num_classes=6, input_size=(64, 32))
        return model, torch.rand(3)

    base, after_base = build(False, False)
    full, after_full = build(True, row == "cfam_sfim")
    torch.testing.assert_close(after_full, after_base, rtol=0, atol=0)
    added = full.state_dict()
    for name, value in base.state_dict().items():
        torch.testing.assert_close(added[name], value, rtol=0, atol=0, msg=name)
    other, _ = build(True, row == "cfam_sfim", seed=6)
    weight = "cfam.amplitude_in.1.weight"
    assert not torch.equal(other.state_dict()[weight], added[weight])


def test_paper_sum_without_gate_differs_from_the_base():
    """``gate_init: 1`` is the paper's X + O_fre: not the Base at step 0 (the option stays)."""
    base = build_model(_small("resnet", False, False), num_classes=6, input_size=(64, 32)).eval()
    summed = build_model(_small("resnet", True, False, gate_init=1.0), num_classes=6, input_size=(64, 32)).eval()
    summed.load_state_dict(base.state_dict(), strict=False)
    images, modality = torch.randn(2, 3, 64, 32), torch.tensor([0, 1])
    with torch.no_grad():
        assert not torch.allclose(summed(images, modality).features, base(images, modality).features, atol=1e-3)


def test_zeroed_frequency_switch_is_scoped():
    from sfcl.models.reid import frequency_disabled

    model = build_model(_small("resnet", True, False, gate_init=1.0), num_classes=6, input_size=(64, 32)).eval()
    images, modality = torch.randn(2, 3, 64, 32), torch.tensor([0, 1])
    with torch.no_grad():
        on = model(images, modality).features
        with frequency_disabled(model):
            off = model(images, modality).features
            plain = model.pool(model.backbone(images, modality))
        again = model(images, modality).features
    torch.testing.assert_close(off, plain)
    torch.testing.assert_close(again, on)
    assert not torch.allclose(on, off, atol=1e-3) and model.frequency_off is False


@pytest.mark.parametrize("sfim", [False, True])
def test_retrieval_weight_appends_the_frequency_embedding_in_eval_mode(sfim):
    """``model.cfam.retrieval_weight`` w: eval embedding [e / |e| ; w · f / |f|] with e the BN-neck feature
    and f CFAM's frequency embedding, both from the same weights with w = 0; training outputs unchanged;
    with O_fre zeroed the appended block is zero."""
    torch.manual_seed(0)
    plain = build_model(_small("resnet", True, sfim, gate_init=0.5, embedding="gem"), num_classes=6, input_size=(64, 32))
    fused = build_model(_small("resnet", True, sfim, gate_init=0.5, embedding="gem", retrieval_weight=2.0), num_classes=6,
                        input_size=(64, 32))
    fused.load_state_dict(plain.state_dict())
    images, modality = torch.randn(4, 3, 64, 32), torch.tensor([0, 0, 1, 1])
    for model in (plain, fused):
        model.train()
    with torch.no_grad():
        torch.testing.assert_close(fused(images, modality).embedding, plain(images, modality).embedding)
        for model in (plain, fused):
            model.eval()
        reference = plain(images, modality)
        got = fused(images, modality).embedding
        dim = reference.embedding.shape[1]
        assert got.shape == (4, 2 * dim)
        e, f = reference.embedding.double(), reference.frequency.double()
        torch.testing.assert_close(got[:, :dim].double(), e / e.norm(dim=1, keepdim=True))
        torch.testing.assert_close(got[:, dim:].double(), 2.0 * f / f.norm(dim=1, keepdim=True))
        from sfcl.models.reid import frequency_disabled

        with frequency_disabled(fused):
            zeroed = fused(images, modality).embedding
    assert torch.count_nonzero(zeroed[:, dim:]) == 0 and torch.count_nonzero(zeroed[:, :dim]) > 0


def test_retrieval_weight_must_not_be_negative():
    with pytest.raises(SfclError, match="retrieval_weight"):
        config_from_dict({"model": {"cfam": {"enabled": True, "retrieval_weight": -1.0}}})


@pytest.mark.parametrize("scale", [0.0, 0.25])
def test_cfam_backbone_grad_scales_only_the_gradient_through_cfam(scale):
    torch.manual_seed(0)
    full = build_model(_small("resnet", True, False, gate_init=1.0), num_classes=6, input_size=(64, 32))
    torch.manual_seed(0)
    scaled = build_model(_small("resnet", True, False, gate_init=1.0, backbone_grad=scale), num_classes=6,
                         input_size=(64, 32))
    images, modality = torch.randn(4, 3, 64, 32), torch.tensor([0, 0, 1, 1])
    grads = []
    for model in (full, scaled):
        model.train()
        out = model(images, modality)
        (grad,) = torch.autograd.grad(out.frequency.pow(2).sum(), out.feature_map)
        grads.append(grad)
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[1], scale * grads[0], atol=1e-6, rtol=1e-4)
