import warnings

import pytest
import torch

from sfcl.config import ModelConfig
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
    """Default widths (configs and ``FrequencyConfig``) land within 5% of the paper's 60.85 M."""
    model = build_model(ModelConfig(depth=50, cfam=True), num_classes=395, input_size=(288, 144))
    count = model.num_parameters() / 1e6
    assert abs(count - PAPER_CFAM_PARAMS_M) / PAPER_CFAM_PARAMS_M < 0.05, count
    assert model.cfam.grid == (18, 5)


def test_base_cfam_outputs_frequency_terms():
    from sfcl.config import FrequencyConfig

    cfg = ModelConfig(depth=18, cfam=True, frequency=FrequencyConfig(dim=16, heads=2, d_state=4, mlp_ratio=1.0))
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


def test_sfim_needs_cfam():
    with pytest.raises(SfclError, match="model.sfim"):
        build_model(ModelConfig(depth=18, cfam=False, sfim=True), 3)


def test_full_size_sfcl_parameter_count():
    model = build_model(ModelConfig(depth=50, cfam=True, sfim=True), num_classes=395, input_size=(288, 144))
    count = model.num_parameters() / 1e6
    assert abs(count - PAPER_SFIM_PARAMS_M) / PAPER_SFIM_PARAMS_M < 0.05, count


def test_sfim_model_outputs():
    cfg = ModelConfig(depth=18, cfam=True, sfim=True)
    cfg.frequency.dim, cfg.frequency.heads = 32, 4
    model = build_model(cfg, num_classes=5, input_size=(64, 32))
    out = model(torch.rand(4, 3, 64, 32), torch.tensor([0, 0, 1, 1]))
    assert out.features.shape == (4, 512) and out.logits.shape == (4, 5)
    assert out.covariance.shape == (4, 32, 32) and out.frequency.shape == (4, 512)
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 32), torch.tensor([1, 0])).embedding.shape == (2, 512)
