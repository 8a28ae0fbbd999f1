"""Training throughput (images/s) of one config on one device.

Times ``Trainer.step`` (forward, losses, backward, optimizer; AMP, channels_last
and ``torch.compile`` as the config says) on batches of the config's shape:
``2 * data.num_ids * data.num_instances`` images of ``data.height x data.width``,
visible half then infrared half, aligned by identity. By default the batches are
random tensors, so the figure is the model's, not the disk's; ``--loader`` reads
real batches from ``data.root`` through the training DataLoader instead (decode +
augmentation included).

    # CPU, the demo's small Base
    .venv/bin/python benchmarks/train_speed.py configs/demo_synthvi.yaml
    # GPU, full-size Base at 288x144 with bf16 autocast
    .venv/bin/python benchmarks/train_speed.py configs/sysu_base.yaml train.device=cuda train.amp=bf16

Overrides are the ``section.key=value`` of ``sfcl train``. Prints one line per
setting and, with ``--json PATH``, writes the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from sfcl.config import load_config  # noqa: E402
from sfcl.data.base import ReIDDataset, Sample  # noqa: E402
from sfcl.engine.trainer import Trainer  # noqa: E402

CLASSES = {"sysu": 395, "regdb": 206, "llcm": 713}  # training identities of the real datasets


def stand_in_dataset(name: str, num_classes: int, per_modality: int) -> ReIDDataset:
    """Records only (no image is ever read): sizes the classifier and feeds the sampler."""
    train = [Sample(path=f"<synthetic {c}/{m}/{i}>", pid=c, cam=1 if m == "vis" else 3, modality=m, label=c)
             for c in range(num_classes) for m in ("vis", "nir") for i in range(per_modality)]
    return ReIDDataset(name, "<synthetic>", train, [], num_classes)


def random_batch(cfg, num_classes: int, generator: torch.Generator):
    p, k = cfg.data.num_ids, cfg.data.num_instances
    ids = torch.randperm(num_classes, generator=generator)[:p].repeat_interleave(k)
    labels = torch.cat([ids, ids])
    images = torch.randn(2 * p * k, 3, cfg.data.height, cfg.data.width, generator=generator)
    modality = torch.cat([torch.zeros(p * k, dtype=torch.long), torch.ones(p * k, dtype=torch.long)])
    return images, labels, labels.clone(), torch.zeros_like(labels), modality


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(trainer: Trainer, batches, warmup: int, steps: int) -> dict:
    device = trainer.device
    trainer.train_model.train()
    it = iter(batches)
    for _ in range(warmup):
        trainer.step(next(it))
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tic = time.perf_counter()
    images = 0
    for _ in range(steps):
        batch = next(it)
        trainer.step(batch)
        images += batch[0].shape[0]
    synchronize(device)
    seconds = time.perf_counter() - tic
    out = {"images_per_s": images / seconds, "s_per_step": seconds / steps, "steps": steps,
           "batch": images // steps}
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def backbone_label(cfg) -> str:
    """The backbone as a reader names it: ``ResNet-50`` or ``MobileNetV2`` (``model.backbone``)."""
    if cfg.model.backbone == "resnet":
        return f"ResNet-{cfg.model.depth}"
    return {"mobilenet_v2": "MobileNetV2"}.get(cfg.model.backbone, cfg.model.backbone)  # other registered names as is


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("overrides", nargs="*", help="section.key=value")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (allocator, cudnn, compile)")
    ap.add_argument("--loader", action="store_true", help="real batches from data.root through the DataLoader")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on the CPU")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_intermixed_args(argv)  # options before or after the section.key=value items

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(args.config, [*args.overrides, f"train.output_dir={tmp}", "train.progress=false"])
        if cfg.train.device == "cuda":
            torch.backends.cudnn.benchmark = True
        if args.loader:
            trainer = Trainer(cfg)
            batches = (b for _ in range(10**9) for b in trainer.loader)
        else:
            classes = CLASSES.get(cfg.data.name, 395)
            trainer = Trainer(cfg, dataset=stand_in_dataset(cfg.data.name, classes, cfg.data.num_instances))
            gen = torch.Generator().manual_seed(0)
            batches = (random_batch(cfg, classes, gen) for _ in range(10**9))
        result = measure(trainer, batches, args.warmup, args.steps)
        if trainer.writer is not None:
            trainer.writer.close()

    device = trainer.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    setting = {
        "config": str(args.config), "overrides": args.overrides, "device": name, "torch": torch.__version__,
        "python": platform.python_version(), "backbone": backbone_label(cfg), "input": f"{cfg.data.height}x{cfg.data.width}",
        "amp": cfg.train.amp if device.type == "cuda" else "off", "channels_last": cfg.train.channels_last,
        "compile": cfg.train.compile, "data": "DataLoader" if args.loader else "random tensors",
    }
    print(f"{name} | {setting['backbone']} {setting['input']} batch {result['batch']} | amp {setting['amp']} "
          f"| channels_last {cfg.train.channels_last} | compile {cfg.train.compile} | {setting['data']}: "
          f"{result['images_per_s']:.1f} images/s ({result['s_per_step']:.3f} s/step)"
          + (f", peak {result['peak_memory_gib']:.1f} GiB" if "peak_memory_gib" in result else ""))
    if args.json:
        args.json.write_text(json.dumps({**setting, **result}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
