"""``sfcl profile``: parameters, FLOPs and latency of models, beside the paper's ablation table.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` (matrix
products, convolutions, attention: 2 FLOPs per multiply-add) plus two formulas it
lacks, registered here:

* **FFT**: ``5·N·log2(N)`` FLOPs per complex transform of N points (the classic
  radix-2 Cooley–Tukey count); a real-input (``rfft``) or real-output (``irfft``)
  transform counts half of that, ``2.5·N·log2(N)``. A transform over several dims
  counts N = the product of their sizes, once per batch/channel slice.
* **Selective scan**: VMamba's ``9·B·L·D·N (+ B·D·L)`` per scan
  (:func:`sfcl.models.selective_scan.selective_scan_flops`), tallied by
  :func:`~sfcl.models.selective_scan.count_scan_flops`, since the scan is element-wise
  work (or a CUDA kernel) the counter does not see.

Latency is the median over repeats of one forward pass of a batch in eval mode,
divided by the batch size, after warm-up; CUDA events time it on a GPU.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sfcl.config import Config, load_config
from sfcl.errors import SfclError
from sfcl.models.selective_scan import count_scan_flops

aten = torch.ops.aten

# The paper's ablation table (Occ-SYSU-MM01, ResNet-50, 288x144; latency per image on their GPU).
PAPER = {
    "base": {"params_m": 23.55, "gflops": 9.21, "latency_ms": 0.40},
    "cfam": {"params_m": 60.85, "gflops": 14.36, "latency_ms": 0.91},
    "cfam_sfim": {"params_m": 70.50, "gflops": 22.26, "latency_ms": 1.25},
    "sfcl": {"params_m": 70.50, "gflops": 22.26, "latency_ms": 1.25},
}
DTYPES = {"float32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def fft_flops(points: int, transforms: int, real: bool) -> int:
    """FLOPs of ``transforms`` FFTs of ``points`` points each: 5·N·log2 N (complex), half for real."""
    if points <= 1:
        return 0
    per = 5.0 * points * math.log2(points)
    return int(round(transforms * (per / 2 if real else per)))


def _transform_flops(shape, dim, real: bool) -> int:
    points = math.prod(int(shape[d]) for d in dim)
    return fft_flops(points, math.prod(int(v) for v in shape) // max(points, 1), real)


def _r2c(x_shape, dim, *args, out_shape=None, **kwargs) -> int:
    return _transform_flops(x_shape, dim, real=True)


def _c2r(x_shape, dim, *args, out_shape=None, **kwargs) -> int:
    return _transform_flops(out_shape, dim, real=True)  # N = the real output's size


def _c2c(x_shape, dim, *args, out_shape=None, **kwargs) -> int:
    return _transform_flops(x_shape, dim, real=False)


# Keyed by overload packet: FlopCounterMode looks formulas up by ``func._overloadpacket``.
FFT_FORMULAS = {aten._fft_r2c: _r2c, aten._fft_c2r: _c2r, aten._fft_c2c: _c2c}


def count_flops(model: nn.Module, images: torch.Tensor, modality: torch.Tensor) -> int:
    """FLOPs of one eval-mode forward pass of ``model(images, modality)`` (see the module doc)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), count_scan_flops() as scans, \
                FlopCounterMode(display=False, custom_mapping=FFT_FORMULAS) as counter:
            model(images, modality)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) + scans[0]


def measure_latency(model: nn.Module, images: torch.Tensor, modality: torch.Tensor, warmup: int = 3,
                    repeats: int = 10) -> float:
    """Median milliseconds per image of an eval-mode forward pass (CUDA events on a GPU)."""
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if images.is_cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                model(images, modality)
                end.record()
                torch.cuda.synchronize()
                elapsed = start.elapsed_time(end)
            else:
                tic = time.perf_counter()
                model(images, modality)
                elapsed = (time.perf_counter() - tic) * 1000
            if i >= warmup:
                times.append(elapsed)
    return statistics.median(times) / images.shape[0]


@dataclass
class ProfileRow:
    """One row of the table: params without the identity classifier, FLOPs of one image
    (``gmacs`` = matrix/conv FLOPs / 2 plus the FFT and scan formulas / 2), ms/image."""

    params_m: float
    gflops: float
    gmacs: float
    latency_ms: float | None
    batch: int
    dtype: str
    device: str
    height: int
    width: int


def config_key(cfg: Config) -> str:
    """The ablation row a config is: base, cfam, cfam_sfim or sfcl (FAD loss on)."""
    m, loss = cfg.model, cfg.loss
    if not m.cfam.enabled:
        return "base"
    if not m.sfim.enabled:
        return "cfam"
    return "sfcl" if (loss.cfc_weight or loss.csc_weight) else "cfam_sfim"


def profile_config(cfg: Config, num_classes: int = 395, batch: int = 64, dtype: str = "float32",
                   device: str = "auto", latency: bool = True, warmup: int = 3, repeats: int = 10,
                   size: tuple[int, int] | None = None) -> ProfileRow:
    """Params (M, without the identity classifier), GFLOPs per image and ms/image for ``cfg.model``
    at ``size`` (H, W), by default the config's ``data.height x data.width``."""
    from sfcl.engine.runtime import resolve_device  # noqa: PLC0415
    from sfcl.models import build_model  # noqa: PLC0415

    if dtype not in DTYPES:
        raise SfclError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    if batch < 1 or repeats < 1 or warmup < 0:
        raise SfclError(f"profile: expected batch >= 1, repeats >= 1, warmup >= 0, got {batch}, {repeats}, {warmup}")
    dev = resolve_device(device)
    if dtype != "float32" and dev.type != "cuda":
        raise SfclError(f"dtype {dtype}: reduced-precision latency is measured on CUDA only; use float32 on the CPU")
    size = size or (cfg.data.height, cfg.data.width)
    model = build_model(cfg.model, num_classes, size).to(dev)
    params = model.num_parameters() / 1e6
    one = torch.randn(1, 3, *size, device=dev)
    flops = count_flops(model, one, torch.ones(1, dtype=torch.long, device=dev))
    ms = None
    if latency:
        images = torch.randn(batch, 3, *size, device=dev)
        modality = torch.arange(batch, device=dev) % 2
        with torch.autocast(device_type=dev.type, dtype=DTYPES[dtype], enabled=dtype != "float32"):
            ms = measure_latency(model, images, modality, warmup, repeats)
    return ProfileRow(round(params, 2), round(flops / 1e9, 3), round(flops / 2e9, 3),
                      None if ms is None else round(ms, 3), batch, dtype, str(dev), *size)


def profile(configs: list[str | Path], overrides: list[str] | None = None, **kwargs) -> dict[str, dict]:
    """``{config name: row}`` for each YAML config (see :func:`profile_config`), plus ``row``,
    the paper's ablation row it corresponds to."""
    table = {}
    for path in configs:
        cfg = load_config(path, overrides or [])
        if cfg.name in table:
            raise SfclError(f"config {path}: the name {cfg.name!r} is profiled twice")
        table[cfg.name] = {**asdict(profile_config(cfg, **kwargs)), "row": config_key(cfg)}
    return table


def format_profile(table: dict[str, dict]) -> str:
    """Markdown table: ours beside the paper's row of the same ablation configuration.

    The paper's figures are for ResNet-50 at 288 x 144; a row at another size or depth
    is still shown beside them, so read its size column."""
    lines = ["| config | row | size | params (M) | paper | GFLOPs | paper | GMACs | ms/image | paper | batch | dtype "
             "| device |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for name, r in table.items():
        paper = PAPER.get(r["row"], {})
        ms = "-" if r["latency_ms"] is None else f"{r['latency_ms']:.3f}"
        lines.append(f"| {name} | {r['row']} | {r['height']}x{r['width']} | {r['params_m']:.2f} | "
                     f"{paper.get('params_m', '-')} | {r['gflops']:.4g} | {paper.get('gflops', '-')} | "
                     f"{r['gmacs']:.4g} | {ms} | {paper.get('latency_ms', '-')} | {r['batch']} | {r['dtype']} | "
                     f"{r['device']} |")
    return "\n".join(lines)
