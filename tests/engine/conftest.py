"""A tiny SynthVI and a tiny training config shared by the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfcl.config import Config, config_from_dict
from sfcl.data.synthvi import synthesize


@pytest.fixture(scope="session")
def tiny_synthvi(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthvi") / "synthvi"
    synthesize(root, num_ids=16, seed=0, images_per_cam=2, height=32, width=16)
    return root


def tiny_config(root: Path, out: Path, *overrides: str) -> Config:
    """ResNet-18 at 32x16, 4 ids x 2 images per modality, 3 batches an epoch, float32 on the CPU."""
    base = {
        "name": "tiny",
        "data": {"name": "sysu", "root": str(root), "height": 32, "width": 16, "num_ids": 4,
                 "num_instances": 2, "workers": 0, "random_erasing": 0.0, "test_batch_size": 64},
        "model": {"depth": 18},
        "optim": {"name": "adam", "lr": 1e-3, "backbone_lr_mult": 1.0, "warmup_epochs": 0,
                  "schedule": "cosine", "weight_decay": 0.0},
        "train": {"epochs": 2, "seed": 0, "device": "cpu", "batches_per_epoch": 3, "eval_every": 0,
                  "progress": False, "output_dir": str(out)},
        "eval": {"protocols": ["sysu-all-single"], "num_trials": 2},
    }
    return config_from_dict(base, list(overrides))
