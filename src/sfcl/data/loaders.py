"""The dataset a config names, and its training loader (cross-modal identity batches)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from sfcl.config import Config
from sfcl.data import build_dataset
from sfcl.data.base import ReIDDataset
from sfcl.data.dataset import ImageDataset
from sfcl.data.samplers import CrossModalIdentitySampler
from sfcl.data.transforms import build_transforms
from sfcl.errors import SfclError
from sfcl.modality import INDEX, MODALITIES


def load_dataset(cfg: Config) -> ReIDDataset:
    """The dataset of ``cfg.data``; ``eval_split: val`` (SYSU layout) trains on exp/train_id.txt only
    and evaluates on exp/val_id.txt, for choosing settings without the test identities."""
    kwargs = {"trial": cfg.data.trial} if cfg.data.name == "regdb" else {}
    if cfg.data.eval_split == "val":
        if cfg.data.name != "sysu":
            raise SfclError(f"config key data.eval_split: val needs the SYSU layout's exp/val_id.txt, "
                            f"dataset is {cfg.data.name}")
        kwargs["eval_split"] = "val"
    return build_dataset(cfg.data.name, cfg.data.root, **kwargs)


def build_train_loader(cfg: Config, dataset: ReIDDataset, rank: int = 0,
                       world_size: int = 1) -> tuple[DataLoader, CrossModalIdentitySampler]:
    """DataLoader whose batches are [visible half | infrared half], aligned by identity; ``rank`` of
    ``world_size`` takes its share of every batch (DDP)."""
    transforms = {
        m: build_transforms(
            cfg.data.height, cfg.data.width, train=True, modality=m,
            random_erasing=cfg.data.random_erasing, channel_aug=cfg.data.channel_aug,
            pad=cfg.data.pad, grey_lut=cfg.data.grey_lut,
        )
        for m in MODALITIES
    }
    samples = dataset.train
    sampler = CrossModalIdentitySampler(
        labels=[s.label for s in samples],
        modalities=[INDEX[s.modality] for s in samples],
        num_ids=cfg.data.num_ids,
        num_instances=cfg.data.num_instances,
        seed=cfg.train.seed,
        num_batches=cfg.train.batches_per_epoch,
        rank=rank,
        world_size=world_size,
    )
    loader = DataLoader(
        ImageDataset(samples, transforms),
        batch_sampler=sampler,
        num_workers=cfg.data.workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
    return loader, sampler
