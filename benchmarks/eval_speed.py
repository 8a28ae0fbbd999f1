"""Time the vectorised SYSU-MM01 evaluation against the per-query loop reference.

Sizes of the real protocol: 3803 infrared queries of 96 test identities against
a single-shot gallery of 301 images and a multi-shot gallery of 3010. Both
implementations score the same random distance matrix; the script checks they
agree, then prints seconds and the ratio.

    .venv/bin/python benchmarks/eval_speed.py [--repeats 3] [--device cpu] [--agw PATH/eval_metrics.py]

``--agw`` also times the community reference itself (the AGW baseline's
``eval_metrics.py`` from your own checkout of mangye16/Cross-Modal-Re-ID-baseline;
nothing of it ships with sfcl) and reports the largest difference to ours.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reference.ref_eval import reference_eval  # noqa: E402

from sfcl.evaluation.metrics import evaluate_ranking  # noqa: E402


def eval_sysu(*tensors):
    """Ours under SYSU-MM01's rule (AGW's eval_sysu)."""
    return evaluate_ranking(*tensors, rule="drop-cam3-cam2")


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


def load_agw(path: str):
    spec = importlib.util.spec_from_file_location("agw_eval_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.eval_sysu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--agw", default=None, help="path to the AGW baseline's eval_metrics.py")
    args = parser.parse_args()
    agw = load_agw(args.agw) if args.agw else None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    extra = " AGW eval_sysu (s) | speed-up vs AGW | max diff vs AGW |" if agw else ""
    print("| setting | gallery | our loop twin (s) | sfcl vectorised (s) | speed-up |" + extra)
    print("|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if agw else ""))
    for name, num_g in (("single-shot", 301), ("multi-shot", 3010)):
        dist, q_pids, g_pids, q_cams, g_cams = problem(num_g)
        tensors = [torch.as_tensor(a, device=args.device) for a in (dist, q_pids, g_pids, q_cams, g_cams)]
        fast = eval_sysu(*tensors)
        slow = reference_eval(dist, q_pids, g_pids, q_cams, g_cams, "sysu")
        assert np.allclose(fast[0], slow[0], atol=1e-6) and abs(fast[1] - slow[1]) < 1e-6
        t_fast = best_of(lambda: eval_sysu(*tensors), args.repeats)
        t_slow = best_of(lambda: reference_eval(dist, q_pids, g_pids, q_cams, g_cams, "sysu"), 1)
        row = f"| {name} | 3803 x {num_g} | {t_slow:.3f} | {t_fast:.4f} | {t_slow / t_fast:.1f}x |"
        if agw:
            ref = agw(dist, q_pids, g_pids, q_cams, g_cams)
            diff = max(float(np.abs(ref[0] - fast[0]).max()), abs(ref[1] - fast[1]), abs(ref[2] - fast[2]))
            t_agw = best_of(lambda: agw(dist, q_pids, g_pids, q_cams, g_cams), 1)
            row += f" {t_agw:.3f} | {t_agw / t_fast:.1f}x | {diff:.1e} |"
        print(row)


if __name__ == "__main__":
    main()
