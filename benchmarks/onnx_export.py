"""ONNX export of the demo Base and full SFCL models: export time, file size, CPU latency of a batch
(PyTorch vs onnxruntime, best of N) and the max |embedding difference| between the two.

Each model is built untrained (``model.pretrained = None``); its identity-initialised parts (CFAM's and
SFIM's zero output layers, CFAM's empty prototypes) get small random values so the frequency branch
reaches the embedding, as after training. Checkpoints and .onnx files go to ``--out``.

    .venv/bin/python benchmarks/onnx_export.py [--out outputs/onnx_export] [--batch 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from sfcl.config import load_config  # noqa: E402
from sfcl.engine.checkpoint import model_from_checkpoint, save_checkpoint  # noqa: E402
from sfcl.export import OnnxModel, activate_identity_init, export_onnx  # noqa: E402
from sfcl.models import build_model  # noqa: E402

CONFIGS = {"Base": "configs/demo_synthvi.yaml", "SFCL": "configs/demo_synthvi_sfcl.yaml"}
NUM_CLASSES = 100  # the classifier is not in the exported graph


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return min(times)


def measure(name: str, config: str, out: Path, batch: int, repeats: int, threads: int) -> dict:
    cfg = load_config(ROOT / config)
    cfg.model.pretrained = None
    model = activate_identity_init(build_model(cfg.model, NUM_CLASSES, (cfg.data.height, cfg.data.width)))
    checkpoint = out / f"{name.lower()}.pt"
    save_checkpoint(checkpoint, {"config": cfg.to_dict(), "num_classes": NUM_CLASSES, "model": model.state_dict()})
    tic = time.perf_counter()
    onnx_path = export_onnx(checkpoint, out / f"{name.lower()}.onnx")
    export_s = time.perf_counter() - tic
    model, cfg = model_from_checkpoint(checkpoint)
    runtime = OnnxModel(onnx_path, threads=threads)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, cfg.data.height, cfg.data.width, generator=generator)
    modality = torch.arange(batch) % 2
    with torch.no_grad():
        expected = model(images, modality).embedding
        torch_s = best_of(lambda: model(images, modality), repeats)
    got = runtime(images, modality).embedding
    onnx_s = best_of(lambda: runtime(images, modality), repeats)
    return {"model": name, "config": config, "input": f"{cfg.data.height}x{cfg.data.width}", "export_s": export_s,
            "size_mb": onnx_path.stat().st_size / 2**20, "torch_ms": 1000 * torch_s, "onnx_ms": 1000 * onnx_s,
            "max_diff": float((got - expected).abs().max()), "scale": float(expected.abs().max())}


def table(rows: list[dict], batch: int, repeats: int) -> str:
    lines = [f"| model | config | input | export s | .onnx MiB | PyTorch ms / {batch} | onnxruntime ms / {batch} "
             f"| speed-up | max abs diff (max abs embedding) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | `{Path(r['config']).name}` | {r['input']} | {r['export_s']:.1f} | {r['size_mb']:.1f} "
                     f"| {r['torch_ms']:.1f} | {r['onnx_ms']:.1f} | {r['torch_ms'] / r['onnx_ms']:.2f}x "
                     f"| {r['max_diff']:.2g} ({r['scale']:.2g}) |")
    lines.append(f"\nCPU, {torch.get_num_threads()} thread(s) for PyTorch and onnxruntime, best of {repeats}; "
                 f"batch of {batch} images, alternating modalities; torch {torch.__version__}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "onnx_export", help="folder for checkpoints and .onnx files")
    ap.add_argument("--batch", type=int, default=32, help="images per timed batch")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per runtime (the best is reported)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads of both runtimes (1: least "
                    "disturbed by other jobs on a shared machine)")
    ap.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), help="rows to measure")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    rows = [measure(name, CONFIGS[name], args.out, args.batch, args.repeats, args.threads) for name in args.models]
    print(table(rows, args.batch, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
