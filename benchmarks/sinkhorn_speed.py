"""Time the batched CFS Sinkhorn against a Python loop over POT, the natural user call.

64 problems of 162 x 162 bins (an 18 x 9 spectrum), D = 64 channel amplitudes
per bin, marginals from spectral energy, cost normalised by its mean; the
same epsilon, tolerance, iteration cap and check schedule for both. The script
checks the plans agree, then prints seconds and the ratio.

    .venv/bin/python benchmarks/sinkhorn_speed.py [--problems 64] [--bins 162] [--device cpu] [--repeats 3]

POT >= 0.9.6 also has a batched solver (``ot.batch``); it is timed when present.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np
import ot
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from sfcl.models.sinkhorn import sinkhorn_log, spectral_cost, spectral_marginal  # noqa: E402


def problems(batch: int, bins: int, dims: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    amp_nir = torch.rand(batch, bins, dims, generator=g, dtype=torch.float64) ** 2
    amp_vis = torch.rand(batch, bins, dims, generator=g, dtype=torch.float64) ** 2
    cost = spectral_cost(amp_vis, amp_nir).double()
    cost = cost / cost.mean(dim=(1, 2), keepdim=True)
    return cost, spectral_marginal(amp_nir).double(), spectral_marginal(amp_vis).double()


def best_of(fn, repeats: int, device: torch.device) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        tic = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - tic)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--bins", type=int, default=162)
    ap.add_argument("--dims", type=int, default=64)
    ap.add_argument("--epsilon", type=float, default=0.05)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    cost, a, b = problems(args.problems, args.bins, args.dims)
    kw = dict(max_iter=args.max_iter, tol=args.tol)

    cost_np, a_np, b_np = cost.numpy(), a.numpy(), b.numpy()
    loop_s, pot_plans = best_of(lambda: [ot.bregman.sinkhorn_log(a_np[k], b_np[k], cost_np[k], args.epsilon,
                                                                 numItermax=args.max_iter, stopThr=args.tol, warn=False)
                                         for k in range(args.problems)], args.repeats, torch.device("cpu"))
    rows = [("POT sinkhorn_log, loop over problems (float64 numpy)", loop_s)]
    for dtype in (torch.float64, torch.float32):
        c, x, y = cost.to(device, dtype), a.to(device, dtype), b.to(device, dtype)
        seconds, res = best_of(lambda: sinkhorn_log(c, x, y, args.epsilon, **kw), args.repeats, device)
        diff = float(np.abs(res.plan.double().cpu().numpy() - np.stack(pot_plans)).max())
        rows.append((f"sfcl sinkhorn_log, batched ({str(dtype).replace('torch.', '')}, {device.type}); "
                     f"max |plan diff| vs POT {diff:.1e}", seconds))
    try:
        solver = getattr(importlib.import_module("ot.batch"), "solve_batch", None)
    except ImportError:
        solver = None
    if solver is not None:
        try:
            seconds, _ = best_of(lambda: solver(M=cost, reg=args.epsilon, a=a, b=b, max_iter=args.max_iter,
                                                tol=args.tol, reg_type="entropy"), args.repeats, torch.device("cpu"))
            rows.append(("POT ot.batch.solve_batch (torch float64, cpu)", seconds))
        except TypeError as err:  # its signature moved between POT releases
            print(f"(ot.batch.solve_batch not timed: {err})")
    print(f"{args.problems} problems of {args.bins} x {args.bins}, eps {args.epsilon}, tol {args.tol}, "
          f"max_iter {args.max_iter}, {torch.get_num_threads()} threads, POT {ot.__version__}, torch {torch.__version__}")
    for name, seconds in rows:
        print(f"{seconds:8.3f} s  {loop_s / seconds:7.1f}x  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
