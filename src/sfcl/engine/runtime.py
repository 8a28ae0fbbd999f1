"""Run-time helpers every command shares: seeding, the device, autocast."""

from __future__ import annotations

import random
from contextlib import nullcontext

import numpy as np
import torch

from sfcl.errors import SfclError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SfclError("config key train.device is cuda but no CUDA device is available")
    return torch.device(name)


def autocast_context(device: torch.device, amp: str):
    """bf16/fp16 autocast on CUDA; ``off`` (and any CPU run) is full float32."""
    if amp == "off" or device.type != "cuda":
        return nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)
