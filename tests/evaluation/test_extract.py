"""extract_features: order and shape, and the flip test (``eval.flip``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sfcl.config import ModelConfig
from sfcl.data.base import Sample
from sfcl.evaluation.extract import extract_features
from sfcl.models import build_model


@pytest.fixture
def images(tmp_path) -> list[Sample]:
    """Three random images and the mirror of the first, in both modalities."""
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (64, 32, 3), dtype=np.uint8) for _ in range(3)]
    arrays.append(arrays[0][:, ::-1])
    samples = []
    for i, array in enumerate(arrays):
        path = tmp_path / f"{i}.png"  # lossless: the mirror must be exact
        Image.fromarray(np.ascontiguousarray(array)).save(path)
        samples.append(Sample(str(path), i, 1, "vis" if i % 2 == 0 else "nir"))
    samples[3] = Sample(samples[3].path, 3, 1, "vis")  # same modality as the image it mirrors
    return samples


@pytest.fixture
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(backbone="resnet", depth=18), num_classes=4, input_size=(64, 32)).eval()


def test_flip_sums_the_unit_embeddings_of_image_and_mirror(images, model):
    plain = extract_features(model, images, 64, 32)
    flipped = extract_features(model, images, 64, 32, flip=True)
    assert plain.shape == flipped.shape == (4, model.neck.num_features) and flipped.dtype == torch.float32
    # image 3 is image 0 mirrored: with flip the two get one embedding, without it they differ
    torch.testing.assert_close(F.normalize(flipped[3], dim=0), F.normalize(flipped[0], dim=0), atol=1e-5, rtol=0)
    expected = F.normalize(plain[0], dim=0) + F.normalize(plain[3], dim=0)
    torch.testing.assert_close(flipped[0], expected, atol=1e-5, rtol=0)
    assert not torch.allclose(F.normalize(plain[0], dim=0), F.normalize(plain[3], dim=0), atol=1e-3)
