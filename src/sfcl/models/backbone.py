"""Two-stream ResNet: modality-specific stems, shared layer1-layer4 (SPEC §3).

Built from torchvision's ResNet so ImageNet weights load from a local torchvision
state-dict file (``conv1.*``, ``bn1.*``, ``layer*.*``; ``fc.*`` is ignored) into both
stems and the shared layers. Only the modules used in the forward pass exist
(the AGW code builds three full ResNets and uses parts of each).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
import torchvision
from torch import nn

from sfcl.errors import SfclError

DEPTHS = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34, 50: torchvision.models.resnet50}


def _stem(resnet: nn.Module) -> nn.Sequential:
    return nn.Sequential(copy.deepcopy(resnet.conv1), copy.deepcopy(resnet.bn1), nn.ReLU(inplace=True),
                         copy.deepcopy(resnet.maxpool))


def _set_last_stride(layer4: nn.Sequential, stride: int) -> None:
    block = layer4[0]
    conv = block.conv2 if hasattr(block, "conv3") else block.conv1  # Bottleneck strides in conv2
    conv.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)


class TwoStreamResNet(nn.Module):
    """images (B, 3, H, W) + modality (B,) {0 vis, 1 nir} -> feature map (B, C, H/16, W/16) at last stride 1."""

    def __init__(self, depth: int = 50, last_stride: int = 1, pretrained: str | None = None) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise SfclError(f"config key model.depth: expected one of {sorted(DEPTHS)}, got {depth}")
        resnet = DEPTHS[depth](weights=None)
        if pretrained is not None:
            load_imagenet(resnet, pretrained)
        else:
            warnings.warn("no model.pretrained given: the backbone starts from random init", stacklevel=2)
        self.stems = nn.ModuleList([_stem(resnet), _stem(resnet)])  # 0 visible, 1 infrared
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        _set_last_stride(self.layer4, last_stride)
        self.out_channels = resnet.fc.in_features
        self.stride = 32 if last_stride == 2 else 16

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the feature map for an input of ``height x width``: every stride-2
        stage (stem conv, max-pool, layer2-4 with pad 1 / 3) maps n to ceil(n / 2)."""
        halvings = self.stride.bit_length() - 1
        for _ in range(halvings):
            height, width = -(-height // 2), -(-width // 2)
        return height, width

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
        x = self.layer1(routed)
        return self.layer4(self.layer3(self.layer2(x)))


def load_imagenet(resnet: nn.Module, path: str | Path) -> None:
    """Load a torchvision ImageNet state dict (local file) into ``resnet``; ``fc.*`` is ignored."""
    path = Path(path)
    if not path.is_file():
        raise SfclError(f"missing pretrained weights {path}: expected a torchvision ResNet state-dict file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a user error here
        raise SfclError(f"pretrained weights {path} cannot be read ({type(err).__name__})") from None
    if not isinstance(state, dict):
        raise SfclError(f"pretrained weights {path}: expected a state dict")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = {k: v for k, v in resnet.state_dict().items() if not k.startswith("fc.")}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        sample = (missing + unexpected + wrong)[:3]
        raise SfclError(f"pretrained weights {path} do not fit this ResNet depth "
                        f"({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} mis-shaped, e.g. {sample})")
    resnet.load_state_dict(state, strict=False)
