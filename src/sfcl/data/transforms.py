"""Train / test image transforms (torchvision), AGW recipe plus CAJ channel augmentation.

Train: Resize((h,w)) → Pad(10) → RandomCrop((h,w)) → RandomHorizontalFlip →
[ChannelAugmentation, visible only, if ``channel_aug``] → ToTensor →
Normalize(ImageNet) → RandomErasing(p) if p > 0.
Test: Resize((h,w)) → ToTensor → Normalize(ImageNet).
Output: float32 tensor (3, h, w).
"""

from __future__ import annotations

import torch
from PIL import Image
from torchvision import transforms as T

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


class ChannelAugmentation:
    """CAJ-style channel augmentation of a visible PIL image.

    With probability ``p`` the image is replaced by either one randomly chosen
    RGB channel replicated to 3 channels (R, G or B, each 1/4) or its grayscale
    (ITU-R 601 luma, 1/4) replicated to 3 channels; otherwise unchanged.
    Randomness comes from the global torch RNG, so ``torch.manual_seed``
    controls it (and DataLoader workers get distinct streams).
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def __call__(self, img: Image.Image) -> Image.Image:
        if torch.rand(()).item() >= self.p:
            return img
        img = img.convert("RGB")
        choice = int(torch.randint(0, 4, ()).item())
        single = img.convert("L") if choice == 3 else img.getchannel(choice)
        return Image.merge("RGB", (single, single, single))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


def build_transforms(height: int = 288, width: int = 144, train: bool = True, modality: str = "vis",
                     random_erasing: float = 0.5, channel_aug: bool = True) -> T.Compose:
    """Return the transform for one modality; see module docstring for the pipeline."""
    size = (int(height), int(width))
    norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if not train:
        return T.Compose([T.Resize(size), *norm])
    steps: list = [T.Resize(size), T.Pad(10), T.RandomCrop(size), T.RandomHorizontalFlip()]
    if channel_aug and modality == "vis":
        steps.append(ChannelAugmentation())
    steps += norm
    if random_erasing > 0:
        steps.append(T.RandomErasing(p=random_erasing))
    return T.Compose(steps)
