"""The dataset a config names, and its training loader (cross-modal identity batches)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from sfcl.config import Config, DataConfig
from sfcl.data import build_dataset, dataset_spec
from sfcl.data.base import ReIDDataset
from sfcl.data.dataset import ImageDataset
from sfcl.data.samplers import CrossModalIdentitySampler
from sfcl.data.transforms import build_transforms
from sfcl.errors import SfclError
from sfcl.modality import INDEX, MODALITIES

OPTION_KEYS: tuple[str, ...] = ("trial", "eval_split")  # data.* keys only some datasets' loaders take


def load_dataset(cfg: Config) -> ReIDDataset:
    """The dataset of ``cfg.data``, loaded with the ``data.*`` options its spec takes (e.g. RegDB's
    ``trial``; ``eval_split: val`` on the SYSU layout trains on exp/train_id.txt only and evaluates on
    exp/val_id.txt, for choosing settings without the test identities). An option set away from its
    default for a dataset that does not take it is an error, not ignored."""
    spec = dataset_spec(cfg.data.name)
    defaults = DataConfig()
    for key in OPTION_KEYS:
        value = getattr(cfg.data, key)
        if key not in spec.options and value != getattr(defaults, key):
            raise SfclError(f"config key data.{key}: {value!r} does not apply to dataset {spec.name} "
                            f"({spec.title} takes {', '.join('data.' + k for k in spec.options) or 'no options'})")
    return build_dataset(spec.name, cfg.data.root, **{key: getattr(cfg.data, key) for key in spec.options})


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
