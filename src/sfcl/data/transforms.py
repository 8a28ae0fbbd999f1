"""Train / test image transforms (torchvision), AGW recipe plus CAJ channel augmentation.

Train: Resize((h,w)) → Pad(pad) → RandomCrop((h,w)) → RandomHorizontalFlip →
[ChannelAugmentation, visible only, if ``channel_aug``] → [RandomGreyLUT(p), both
modalities, if ``grey_lut`` > 0] → ToTensor → Normalize(ImageNet) → RandomErasing(p) if p > 0.
``pad`` defaults to AGW's 10 px at width 144, scaled to the width (2 px at 32): a fixed 10 px
on a 32-px-wide crop made 24 % of every crop black padding (RESULTS.md, "Recipe").
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


class RandomGreyLUT:
    """With probability ``p``, map every channel through one random smooth grey-level curve.

    The curve is piecewise linear through ``knots`` random levels in [0, 255] (not monotone),
    the same for all channels: shapes and edges stay, absolute intensities and their order
    are scrambled. Infrared intensity does not follow visible colour, so a feature that keys
    on absolute intensity cannot match across modalities; applied to both modalities.
    Randomness from the global torch RNG.
    """

    def __init__(self, p: float = 0.3, knots: int = 5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"grey_lut probability must be in [0, 1], got {p}")
        self.p, self.knots = float(p), int(knots)
        position = torch.linspace(0, self.knots - 1, 256)  # grey level -> place among the knots, fixed
        self._low = position.floor().long().clamp(max=self.knots - 2)
        self._frac = position - self._low

    def table(self) -> list[int]:
        """A random 256-entry look-up table."""
        levels = torch.rand(self.knots) * 255.0
        curve = levels[self._low] * (1 - self._frac) + levels[self._low + 1] * self._frac
        return curve.round().clamp(0, 255).to(torch.uint8).tolist()

    def __call__(self, img: Image.Image) -> Image.Image:
        if torch.rand(()).item() >= self.p:
            return img
        img = img.convert("RGB")
        return img.point(self.table() * 3)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p}, knots={self.knots})"


def crop_padding(width: int, pad: int | None = None) -> int:
    """``pad`` if given, else AGW's 10 px at width 144 scaled to ``width``."""
    if pad is None:
        return int(round(10 * width / 144))
    if pad < 0:
        raise ValueError(f"crop padding must be >= 0, got {pad}")
    return int(pad)


def build_transforms(height: int = 288, width: int = 144, train: bool = True, modality: str = "vis",
                     random_erasing: float = 0.5, channel_aug: bool = True, pad: int | None = None,
                     grey_lut: float = 0.0) -> T.Compose:
    """Return the transform for one modality; see module docstring for the pipeline."""
    size = (int(height), int(width))
    norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if not train:
        return T.Compose([T.Resize(size), *norm])
    steps: list = [T.Resize(size)]
    padding = crop_padding(size[1], pad)
    if padding:
        steps += [T.Pad(padding), T.RandomCrop(size)]
    steps.append(T.RandomHorizontalFlip())
    if channel_aug and modality == "vis":
        steps.append(ChannelAugmentation())
    if grey_lut > 0:
        steps.append(RandomGreyLUT(grey_lut))
    steps += norm
    if random_erasing > 0:
        steps.append(T.RandomErasing(p=random_erasing))
    return T.Compose(steps)
