"""Time the vectorised evaluation against the reference functions, every protocol and size, ties included.

For each protocol at its real size (SYSU-MM01 all-search single- and multi-shot: 3803 infrared
queries against 301 / 3010 gallery images; RegDB: 2060 x 2060; LLCM: 1800 x 540 and 7166 x 3803)
and for two kinds of distances (continuous random values, and the same rounded to 0.1: heavy
exact ties), the script scores one distance matrix with sfcl and with the reference, checks
that CMC, mAP and mINP agree, and prints seconds and the speed-up.

The references are the community functions themselves when you point at your own checkouts
(nothing of them ships with sfcl): ``--agw`` the AGW baseline's ``eval_metrics.py``
(mangye16/Cross-Modal-Re-ID-baseline: ``eval_sysu``, ``eval_regdb``), ``--llcm`` the LLCM
authors' ``DEEN/eval_metrics.py`` (ZYK100/LLCM: ``eval_llcm``). Without them the baseline is
our own per-query twin (``tests/reference/ref_eval.py``). The references rank with numpy's
default (unstable) ``argsort``, so with exact ties their order inside a tie is
implementation-defined; for the tied rows the script also runs them with a stable ``argsort``
(the order sfcl defines: gallery order inside a tie) and checks agreement against that.

    .venv/bin/python benchmarks/eval_speed.py [--repeats 3] [--agw PATH] [--llcm PATH] [--only sysu,regdb,llcm]

It also times k-reciprocal re-ranking (``sfcl eval --rerank``) of one SYSU-MM01 trial at both sizes.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reference.ref_eval import reference_eval  # noqa: E402

from sfcl.evaluation.metrics import evaluate_ranking  # noqa: E402
from sfcl.evaluation.rerank import k_reciprocal_distance  # noqa: E402

# name, family, query x gallery, identities, query cams, gallery cams, our rule
CASES = (
    ("SYSU all-search single-shot", "sysu", 3803, 301, 96, (3, 6), (1, 2, 4, 5), "drop-cam3-cam2"),
    ("SYSU all-search multi-shot", "sysu", 3803, 3010, 96, (3, 6), (1, 2, 4, 5), "drop-cam3-cam2"),
    ("RegDB", "regdb", 2060, 2060, 206, (2,), (1,), "keep-all"),
    ("LLCM (i2v size)", "llcm", 1800, 540, 351, tuple(range(1, 10)), tuple(range(1, 10)), "drop-same-camera"),
    ("LLCM (v2i size)", "llcm", 7166, 3803, 351, tuple(range(1, 10)), tuple(range(1, 10)), "drop-same-camera"),
)


def problem(num_q: int, num_g: int, num_ids: int, q_cams: tuple, g_cams: tuple, ties: bool, seed: int = 0):
    """A random distance matrix with every gallery identity present and queries of those identities."""
    rng = np.random.default_rng(seed)
    g_pids = np.repeat(np.arange(num_ids), int(np.ceil(num_g / num_ids)))[:num_g]
    q_pids = rng.integers(0, num_ids, num_q)
    dist = rng.random((num_q, num_g)).astype(np.float32)
    if ties:
        dist = np.round(dist, 1)  # eleven distinct values: nearly every item ties with a true match
    return dist, q_pids, g_pids, rng.choice(q_cams, num_q), rng.choice(g_cams, num_g)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - tic)
    return min(times)


def load_module(path: str, name: str, stable: bool):
    """Load a reference ``eval_metrics.py``; ``stable`` gives it a numpy whose argsort is stable."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if stable:
        shim = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
        shim.argsort = lambda a, axis=-1: np.argsort(a, axis=axis, kind="stable")
        module.np = shim
    return module


def reference(family: str, agw, llcm):
    """(label, fn(dist, q_pids, g_pids, q_cams, g_cams) -> (cmc, mAP, mINP)) for a protocol family."""
    if family == "sysu" and agw is not None:
        return "AGW eval_sysu", agw.eval_sysu
    if family == "regdb" and agw is not None:
        return "AGW eval_regdb", lambda d, qp, gp, qc, gc: agw.eval_regdb(d, qp, gp)
    if family == "llcm" and llcm is not None:
        return "LLCM eval_llcm", llcm.eval_llcm
    return "sfcl loop twin", lambda d, qp, gp, qc, gc: reference_eval(d, qp, gp, qc, gc, family)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of sfcl (best of); the reference runs once")
    parser.add_argument("--device", default="cpu", help="torch device for sfcl")
    parser.add_argument("--agw", default=None, help="path to the AGW baseline's eval_metrics.py")
    parser.add_argument("--llcm", default=None, help="path to the LLCM authors' DEEN/eval_metrics.py")
    parser.add_argument("--only", default="sysu,regdb,llcm", help="comma-separated protocol families")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the real sizes (a quick look)")
    parser.add_argument("--no-rerank", action="store_true", help="skip timing the k-reciprocal re-ranking")
    args = parser.parse_args(argv)
    families = set(args.only.split(","))
    modules = {stable: (load_module(args.agw, f"agw{stable}", stable) if args.agw else None,
                        load_module(args.llcm, f"llcm{stable}", stable) if args.llcm else None)
               for stable in (False, True)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print("| protocol | query x gallery | distances | reference | reference (s) | sfcl (s) | speed-up | max diff |")
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for name, family, num_q, num_g, num_ids, q_cams, g_cams, rule in CASES:
        if family not in families:
            continue
        num_q, num_g = max(num_ids // 4, int(num_q * args.scale)), max(num_ids // 4, int(num_g * args.scale))
        num_ids = min(num_ids, num_g)
        for ties in (False, True):
            dist, q_pids, g_pids, qc, gc = problem(num_q, num_g, num_ids, q_cams, g_cams, ties)
            tensors = [torch.as_tensor(a, device=args.device) for a in (dist, q_pids, g_pids, qc, gc)]
            ours = evaluate_ranking(*tensors, rule=rule)
            label, ref_fn = reference(family, *modules[ties])
            tic = time.perf_counter()
            ref = ref_fn(dist, q_pids, g_pids, qc, gc)
            t_ref = time.perf_counter() - tic
            diff = max(float(np.abs(np.asarray(ref[0])[:len(ours[0])] - ours[0]).max()),
                       abs(ref[1] - ours[1]), abs(ref[2] - ours[2]))
            if diff > 1e-5:
                raise SystemExit(f"{name}: sfcl and {label} disagree by {diff:.2e}")
            t_ours = best_of(lambda t=tensors: evaluate_ranking(*t, rule=rule), args.repeats)
            kind = "ties (0.1 steps)" if ties else "continuous"
            shown = f"{label} (stable argsort)" if ties and label != "sfcl loop twin" else label
            print(f"| {name} | {num_q} x {num_g} | {kind} | {shown} | {t_ref:.3f} | {t_ours:.4f} | "
                  f"{t_ref / t_ours:.1f}x | {diff:.1e} |", flush=True)
    if "sysu" in families and not args.no_rerank:
        print("\n| k-reciprocal re-ranking (k1 20, k2 6, λ 0.3) | query x gallery | feature dim | seconds per trial |")
        print("|---|---:|---:|---:|")
        for name, num_g in (("SYSU single-shot", 301), ("SYSU multi-shot", 3010)):
            num_q, dim = max(24, int(3803 * args.scale)), 2048
            num_g = max(24, int(num_g * args.scale))
            gen = torch.Generator().manual_seed(0)
            centres = torch.randn(96, dim, generator=gen)
            feats = centres[torch.randint(0, 96, (num_q + num_g,), generator=gen)] + torch.randn(num_q + num_g, dim,
                                                                                                    generator=gen)
            q, g = feats[:num_q].to(args.device), feats[num_q:].to(args.device)
            seconds = best_of(lambda q=q, g=g: k_reciprocal_distance(q, g), 1)
            print(f"| {name} | {num_q} x {num_g} | {dim} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
