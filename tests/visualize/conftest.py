"""Shared fixtures: a small SynthVI (12 ids x 6 cams x 2 images, 64 x 32), a 1-epoch tiny checkpoint on it,
and ``run_cli`` (the real ``sfcl`` top level, in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfcl.data.synthvi import synthesize
from sfcl.engine.trainer import train
from tests.cli_helpers import run_cli  # noqa: F401  (the visualize tests import it from here)
from tests.engine.conftest import tiny_config


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """Every visualize test runs its tiny models on one thread (tests/conftest.py)."""


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    return synthesize(tmp_path_factory.mktemp("viz-src") / "synthvi", num_ids=12, seed=2, images_per_cam=2,
                      height=64, width=32)


@pytest.fixture(scope="session")
def checkpoint(synth, tmp_path_factory) -> Path:
    """ResNet-18 at 32x16 trained one epoch (one batch of 4 ids x 2 images per modality) on ``synth``: last.pt."""
    out = tmp_path_factory.mktemp("viz-run") / "run"
    train(tiny_config(synth, out, "train.epochs=1", "train.batches_per_epoch=1"))
    return out / "last.pt"
