import warnings

import pytest
import torch

from sfcl.config import ModelConfig
from sfcl.errors import SfclError
from sfcl.models import build_model

PAPER_BASE_PARAMS_M = 23.55  # the paper's ablation table, Base row


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


def test_sfim_not_yet_available():
    with pytest.raises(SfclError, match="model.sfim"):
        build_model(ModelConfig(depth=18, cfam=True, sfim=True), 3)
