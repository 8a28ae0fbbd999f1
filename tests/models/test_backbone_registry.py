"""The backbone registry: a new backbone is one class and one decorated builder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sfcl.config import ModelConfig
from sfcl.errors import SfclError
from sfcl.models import build_model
from sfcl.models.backbone import BACKBONES, Backbone, TwoStreamMobileNetV2, TwoStreamResNet, register_backbone


class PoolOnly(nn.Module):
    """A throw-away backbone: a 1x1 conv per modality after 4x4 average pooling."""

    out_channels = 8

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3, 8, 1), nn.Conv2d(3, 8, 1)])

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return height // 4, width // 4

    def forward(self, images: torch.Tensor, modality: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.avg_pool2d(images, 4)
        out = torch.stack([self.convs[int(m)](x[None])[0] for x, m in zip(pooled, modality)])
        return out.relu()


@pytest.fixture
def registered():
    register_backbone("pool_only")(lambda cfg: PoolOnly())
    yield "pool_only"
    del BACKBONES["pool_only"]


def test_a_registered_backbone_builds_a_model_and_trains(registered):
    model = build_model(ModelConfig(backbone=registered), num_classes=3, input_size=(32, 16)).train()
    out = model(torch.rand(4, 3, 32, 16), torch.tensor([0, 0, 1, 1]))
    assert out.features.shape == (4, 8) and out.logits.shape == (4, 3)
    out.logits.sum().backward()
    assert all(p.grad is not None for p in model.backbone.parameters())


def test_unknown_backbone_and_double_registration_are_refused(registered):
    with pytest.raises(SfclError, match="model.backbone: expected one of .*mobilenet_v2.*resnet"):
        build_model(ModelConfig(backbone="vit"), num_classes=3)
    with pytest.raises(ValueError, match="registered twice"):
        register_backbone(registered)(lambda cfg: PoolOnly())


def test_shipped_backbones_meet_the_protocol():
    assert {"resnet", "mobilenet_v2"} <= set(BACKBONES)
    for net in (TwoStreamResNet(18), TwoStreamMobileNetV2(head=False)):
        assert isinstance(net, Backbone)
        h, w = net.output_size(64, 32)
        assert net(torch.rand(2, 3, 64, 32), torch.tensor([0, 1])).shape == (2, net.out_channels, h, w)
