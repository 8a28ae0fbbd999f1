"""Fixed descriptors: raw pixels and HOG (scikit-image, Dalal-Triggs parameters)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from sfcl.data.base import Sample
from sfcl.evaluation.baselines import hog_features, raw_pixel_features


def _write(path, grey: np.ndarray) -> Sample:
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)).save(path)
    return Sample(path=str(path), pid=1, cam=1, modality="vis", label=-1)


def test_hog_shape_norm_and_contrast_invariance(tmp_path):
    rng = np.random.default_rng(0)
    pattern = rng.uniform(40, 160, size=(128, 64))
    stripes = np.tile(np.where(np.arange(64) % 16 < 8, 50.0, 200.0), (128, 1))
    samples = [_write(tmp_path / "a.png", pattern), _write(tmp_path / "b.png", 0.5 * pattern + 60),
               _write(tmp_path / "c.png", stripes), _write(tmp_path / "d.png", stripes.T[:64].repeat(2, 0)[:128, :64])]
    feats = hog_features(samples)
    assert feats.shape == (4, 3780) and feats.dtype == torch.float32
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(4))
    cos = feats @ feats.T
    assert cos[0, 1] > 0.97, "HOG is block-normalised: an affine change of contrast keeps the descriptor"
    assert cos[2, 3] < 0.5, "vertical and horizontal stripes have different orientation histograms"
    assert hog_features([]).shape == (0, 3780)
    assert raw_pixel_features(samples).shape == (4, 512)
