"""Shared fixtures: one small SynthVI (SYSU-MM01 layout, 6 ids x 6 cams x 2 images, 64 x 32) and its occluded copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfcl.data.synthvi import synthesize
from sfcl.occlusion.build import occlude_dataset

from .util import SMALL


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    return synthesize(tmp_path_factory.mktemp("occ-src") / "synthvi", seed=5, **SMALL)


@pytest.fixture(scope="session")
def occluded(synth, tmp_path_factory) -> Path:
    """The reference build: seed 3, all splits, ratio 1, one worker."""
    return occlude_dataset("sysu", synth, tmp_path_factory.mktemp("occ-ref") / "out", seed=3, workers=1).out
