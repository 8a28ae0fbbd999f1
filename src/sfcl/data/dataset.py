"""Torch dataset over :class:`Sample` records.

``ImageDataset[i]`` returns ``(image (3,H,W) float32, label, pid, cam,
modality_index)`` with modality_index 0 = vis, 1 = nir. Images are always read
as 3-channel RGB (infrared too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.functional import to_tensor

from sfcl.data.base import Sample
from sfcl.errors import SfclError
from sfcl.imageio import open_image
from sfcl.modality import INDEX

Transform = Callable | dict | None


def read_image(path: str) -> Image.Image:
    """Open ``path`` as a fully loaded RGB PIL image; unreadable → :class:`SfclError`."""
    return open_image(path).convert("RGB")


class ImageDataset(Dataset):
    """Images of ``samples`` through ``transform``.

    ``transform``: None (plain ``to_tensor``), one callable for all images, or a
    dict ``{"vis": t, "nir": t}`` chosen by the sample's modality. It is a public
    attribute and may be replaced after construction.
    """

    def __init__(self, samples: Sequence[Sample], transform: Transform = None) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def _transform_for(self, modality: str) -> Callable | None:
        t = self.transform
        if isinstance(t, dict):
            if modality not in t:
                raise SfclError(f"transform dict has no key {modality!r}: expected keys 'vis' and 'nir'")
            return t[modality]
        return t

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int, int, int]:
        s = self.samples[index]
        img = read_image(s.path)
        t = self._transform_for(s.modality)
        x = t(img) if t is not None else to_tensor(img)
        return x, s.label, s.pid, s.cam, INDEX[s.modality]
