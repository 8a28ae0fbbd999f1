"""Feature extraction for evaluation: one image at a time through the model, batched.

Every test image passes alone through its own modality's stem (no paired image
of the other modality is needed); features are the model's ``embedding``
(post-BN neck), returned in the order of ``samples``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from sfcl.config import Config
from sfcl.data.base import ReIDDataset, Sample
from sfcl.data.dataset import ImageDataset
from sfcl.data.transforms import build_transforms
from sfcl.errors import SfclError
from sfcl.evaluation.protocols import evaluate
from sfcl.modality import MODALITIES


def test_loader(samples: list[Sample], height: int, width: int, batch_size: int = 128,
                workers: int = 0) -> DataLoader:
    """Test-time loader of ``samples`` in order: (images, label, pid, cam, modality) batches."""
    transform = {m: build_transforms(height, width, train=False, modality=m) for m in MODALITIES}
    return DataLoader(ImageDataset(samples, transform), batch_size=batch_size, shuffle=False, num_workers=workers)


@torch.no_grad()
def extract_features(
    model: nn.Module,
    samples: list[Sample],
    height: int,
    width: int,
    batch_size: int = 128,
    workers: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
    channels_last: bool = False,
    flip: bool = False,
) -> torch.Tensor:
    """Return float32 embeddings (N, D) of ``samples`` (N images) in their order.

    ``flip`` (``eval.flip``): each embedding is the sum of the L2-normalised embeddings of the
    image and its horizontal mirror (fast-reid's flip test); scoring normalises it again.
    """
    loader = test_loader(samples, height, width, batch_size, workers)
    was_training = model.training
    model.eval()
    chunks = []
    bar = tqdm(total=len(samples), desc="extracting features", unit="img", disable=not progress, leave=False)
    for images, _label, _pid, _cam, modality in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        modality = modality.to(device)
        embedding = model(images, modality).embedding.float()
        if flip:
            mirrored = model(images.flip(3), modality).embedding.float()
            embedding = F.normalize(embedding, dim=1) + F.normalize(mirrored, dim=1)
        chunks.append(embedding.cpu())
        bar.update(len(images))
    bar.close()
    model.train(was_training)
    features = torch.cat(chunks) if chunks else torch.empty(0, 0)
    assert features.shape[0] == len(samples), (features.shape, len(samples))
    return features


def evaluate_model(model: nn.Module, dataset: ReIDDataset, cfg: Config, device: torch.device,
                   progress: bool | None = None) -> dict[str, dict]:
    """Extract test features once (a progress bar unless ``progress`` or ``cfg.train.progress`` is off)
    and run every configured protocol; percent metrics per protocol."""
    protocols = cfg.eval.protocols or list(dataset.protocols[:1])
    for name in protocols:
        if name not in dataset.protocols:
            raise SfclError(f"protocol {name} does not apply to dataset {dataset.name} (valid: {', '.join(dataset.protocols)})")
    feats = extract_features(
        model, dataset.test, cfg.data.height, cfg.data.width, batch_size=cfg.data.test_batch_size,
        workers=cfg.data.workers, device=device, channels_last=cfg.train.channels_last, flip=cfg.eval.flip,
        progress=cfg.train.progress if progress is None else progress,
    )
    return {
        name: evaluate(name, feats.to(device), dataset.test, num_trials=cfg.eval.num_trials, meta=dataset.meta,
                       rerank=rerank_setting(cfg))
        for name in protocols
    }


def rerank_setting(cfg: Config) -> tuple[int, int, float] | None:
    """``eval.rerank``'s (k1, k2, λ), or None when re-ranking is off."""
    e = cfg.eval
    return (e.rerank_k1, e.rerank_k2, e.rerank_lambda) if e.rerank else None
