"""Two gloo processes on the CPU optimise exactly what one process does on the same global batch.

BatchNorm is put in eval mode in both runs: per-rank batch statistics are the
one thing DDP does not share (SyncBatchNorm is CUDA-only in torch), and it is
not what this test is about. Everything else is the real engine: the sampler's
rank split, the cross-rank feature gather of the triplet loss, DDP's gradient
averaging.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from sfcl.data.transforms import build_transforms
from sfcl.engine.distributed import cleanup_distributed
from sfcl.engine.trainer import Trainer

from .conftest import tiny_config

STEPS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_steps(root: str, out: str, result: str | None) -> None:
    torch.set_num_threads(1)
    # SGD, not Adam: Adam's normalised step turns float round-off in near-zero gradients into
    # full-size updates, which would hide what this test compares
    trainer = Trainer(tiny_config(Path(root), Path(out), f"train.batches_per_epoch={STEPS}", "optim.name=sgd",
                                  "optim.lr=0.05"))
    for module in trainer.model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    test_transform = {m: build_transforms(32, 16, train=False, modality=m) for m in ("vis", "nir")}
    trainer.loader.dataset.transform = test_transform  # no random augmentation: same pixels either way
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.sampler.set_epoch(0)
    for batch in trainer.loader:
        trainer.step(batch)
    if result is not None:
        torch.save({"before": before, "after": trainer.model.state_dict()}, result)


def _worker(rank: int, world_size: int, port: int, root: str, out: str, result: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    try:
        _run_steps(root, out, result if rank == 0 else None)
    finally:
        cleanup_distributed()


def test_two_processes_match_one(tiny_synthvi, tmp_path):
    single = tmp_path / "single.pt"
    _run_steps(str(tiny_synthvi), str(tmp_path / "one"), str(single))
    double = tmp_path / "ddp.pt"
    mp.spawn(_worker, args=(2, _free_port(), str(tiny_synthvi), str(tmp_path / "two"), str(double)), nprocs=2)
    expected, got = torch.load(single), torch.load(double)
    moved = 0
    for key, value in expected["after"].items():
        torch.testing.assert_close(got["after"][key], value, rtol=1e-3, atol=1e-4,
                                   msg=lambda m, key=key: f"{key}: {m}")
        if value.is_floating_point():
            moved = max(moved, float((value - expected["before"][key]).abs().max()))
    assert moved > 1e-2  # the steps changed the weights far beyond the tolerance


@pytest.mark.slow
def test_torchrun_end_to_end(tiny_synthvi, tmp_path):
    """`torchrun --nproc_per_node 2 -m sfcl.cli train` runs; rank 0 alone writes the run folder."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    cfg = tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=1")
    from sfcl.config import save_config

    save_config(cfg, tmp_path / "tiny.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", str(_free_port()), "-m", "sfcl.cli",
         "train", str(tmp_path / "tiny.yaml")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "results.json").is_file()
    assert "sysu-all-single" in proc.stdout
