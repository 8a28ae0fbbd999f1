"""Fixed (untrained) feature extractors: the floor a trained model must clear.

``raw_pixel_features`` is the raw-pixel baseline reported for SynthVI: each
image resized to 32x16, converted to grey (so colour cannot help or hurt across
modalities), mean-centred and L2-normalised.
"""

from __future__ import annotations

import numpy as np
import torch

from sfcl.data.base import Sample
from sfcl.data.dataset import read_image


def raw_pixel_features(samples: list[Sample], height: int = 32, width: int = 16) -> torch.Tensor:
    """(N, height*width) float32 grey-pixel features of ``samples`` in order."""
    rows = []
    for sample in samples:
        grey = read_image(sample.path).convert("L").resize((width, height))
        vector = np.asarray(grey, dtype=np.float32).reshape(-1)
        vector = vector - vector.mean()
        rows.append(vector / max(float(np.linalg.norm(vector)), 1e-12))
    return torch.from_numpy(np.stack(rows)) if rows else torch.empty(0, height * width)
