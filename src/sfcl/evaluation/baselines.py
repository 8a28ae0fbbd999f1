"""Fixed (untrained) feature extractors: the floor a trained model must clear.

``raw_pixel_features`` is the raw-pixel baseline reported for SynthVI: each
image resized to 32x16, converted to grey (so colour cannot help or hurt across
modalities), mean-centred and L2-normalised. ``hog_features`` is the
Dalal-Triggs HOG (scikit-image; 64x128 window, 8x8 cells, 2x2-cell blocks, 9 bins: 3780
values) of the grey image, L2-normalised: the classic fixed person descriptor.
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


HOG_SIZE = (64, 128)  # (width, height): Dalal and Triggs' person window


def hog_features(samples: list[Sample]) -> torch.Tensor:
    """(N, 3780) float32 HOG descriptors of ``samples`` in order: scikit-image's ``hog`` of the grey
    image resized to 64x128 (9 orientations, 8x8-pixel cells, 2x2-cell blocks, L2-Hys), L2-normalised."""
    from skimage.feature import hog

    rows = []
    for sample in samples:
        grey = np.asarray(read_image(sample.path).convert("L").resize(HOG_SIZE), dtype=np.float32) / 255.0
        vector = hog(grey, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                     block_norm="L2-Hys", feature_vector=True).astype(np.float32)
        rows.append(vector / max(float(np.linalg.norm(vector)), 1e-12))
    return torch.from_numpy(np.stack(rows)) if rows else torch.empty(0, 3780)
