"""Time the vectorised SYSU-MM01 evaluation against the per-query loop reference.

Sizes of the real protocol: 3803 infrared queries of 96 test identities against
a single-shot gallery of 301 images and a multi-shot gallery of 3010. Both
implementations score the same random distance matrix; the script checks they
agree, then prints seconds and the ratio.

    .venv/bin/python benchmarks/eval_speed.py [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sfcl.evaluation.metrics import eval_sysu  # noqa: E402
from tests.reference.ref_eval import reference_eval  # noqa: E402


def problem(num_g: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    num_q, num_ids = 3803, 96
    q_pids = rng.integers(0, num_ids, num_q)
    q_cams = rng.choice([3, 6], num_q)
    g_pids = np.repeat(np.arange(num_ids), int(np.ceil(num_g / num_ids)))[:num_g]
    g_cams = rng.choice([1, 2, 4, 5], num_g)
    return rng.random((num_q, num_g)).astype(np.float32), q_pids, g_pids, q_cams, g_cams


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - tic)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print("| setting | gallery | reference loop (s) | sfcl vectorised (s) | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, num_g in (("single-shot", 301), ("multi-shot", 3010)):
        dist, q_pids, g_pids, q_cams, g_cams = problem(num_g)
        tensors = [torch.as_tensor(a, device=args.device) for a in (dist, q_pids, g_pids, q_cams, g_cams)]
        fast = eval_sysu(*tensors)
        slow = reference_eval(dist, q_pids, g_pids, q_cams, g_cams, "sysu")
        assert np.allclose(fast[0], slow[0], atol=1e-6) and abs(fast[1] - slow[1]) < 1e-6
        t_fast = best_of(lambda: eval_sysu(*tensors), args.repeats)
        t_slow = best_of(lambda: reference_eval(dist, q_pids, g_pids, q_cams, g_cams, "sysu"), 1)
        print(f"| {name} | 3803 x {num_g} | {t_slow:.3f} | {t_fast:.4f} | {t_slow / t_fast:.1f}x |")


if __name__ == "__main__":
    main()
