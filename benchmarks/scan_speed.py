"""Time the selective scan: sfcl's torch path against the sequential loop (and the kernel).

Shapes as SS2D uses them: u, delta (B, D, L), A (D, N), B and C (B, G, N, L) with
G = 4 directions, Δ through softplus with a bias. For each length the script prints
forward and forward+backward seconds (best of ``--repeats``), the speed-up over the
sequential loop of ``tests/reference/ref_scan.py``, the bytes autograd keeps for the
backward pass, and (``--rss``) the peak resident memory a fresh process adds for one
forward+backward. Candidates:

* ``loop``: the recurrence step by step (the test oracle), autograd through it;
* ``autograd-doubling``: a Hillis–Steele scan over the whole sequence with autograd through
  every doubling step (the design sfcl did not keep; defined here only to compare);
* ``sfcl chunk=T``: ``selective_scan(backend="torch", chunk_size=T)``: blocked two-level scan,
  own backward that recomputes the states (``chunk=auto``: the default, ceil(sqrt(L)));
* ``mamba_ssm``: the CUDA kernel, when importable and ``--device cuda``;
* ``--also REV``: the torch path of ``selective_scan.py`` as of git revision REV (an earlier design).

Timings are interleaved (each round times every candidate once) and the best round is kept,
so a busy shared machine slows all candidates alike.

    .venv/bin/python benchmarks/scan_speed.py [--batch 8] [--dim 256] [--state 16] [--lengths 90 162]
        [--chunks 0 8 24] [--device cpu] [--repeats 5] [--rss] [--also REV ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
from tests.reference.ref_scan import reference_selective_scan  # noqa: E402

from sfcl.models.selective_scan import selective_scan  # noqa: E402

GROUPS = 4


def make_inputs(batch: int, dim: int, state: int, length: int, device: str, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    kw = dict(u=r(batch, dim, length), delta=r(batch, dim, length) - 2.0,
              A=-torch.arange(1, state + 1, dtype=torch.float32).repeat(dim, 1), B=r(batch, GROUPS, state, length),
              C=r(batch, GROUPS, state, length), D=torch.ones(dim), delta_bias=r(dim) * 0.1)
    return {k: v.to(device).requires_grad_(True) for k, v in kw.items()}


def autograd_doubling(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False):
    """Whole-sequence Hillis–Steele with autograd through every step (comparison only)."""
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    repeat = u.shape[1] // B.shape[1]
    Bx, Cx = B.repeat_interleave(repeat, dim=1), C.repeat_interleave(repeat, dim=1)  # (b, D, N, L)
    a = torch.exp(delta[:, :, None, :] * A[None, :, :, None])
    h = (delta * u)[:, :, None, :] * Bx
    step = 1
    while step < u.shape[-1]:
        h = torch.cat([h[..., :step], h[..., step:] + a[..., step:] * h[..., :-step]], dim=-1)
        a = torch.cat([a[..., :step], a[..., step:] * a[..., :-step]], dim=-1)
        step *= 2
    y = (h * Cx).sum(2)
    return y + D[None, :, None] * u if D is not None else y


def from_revision(rev: str):
    """``selective_scan`` of src/sfcl/models/selective_scan.py at git revision ``rev``."""
    source = subprocess.run(["git", "show", f"{rev}:src/sfcl/models/selective_scan.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(f"selective_scan_{rev}")
    exec(compile(source, f"{rev}:selective_scan.py", "exec"), module.__dict__)
    return module.selective_scan


def candidates(chunks: list[int], device: str, also: list[str] = ()) -> dict:
    fns = {"loop": reference_selective_scan, "autograd-doubling": autograd_doubling}
    for rev in also:
        fns[f"rev {rev}"] = (lambda f: lambda **kw: f(**kw, backend="torch"))(from_revision(rev))
    for chunk in chunks:
        fns[f"sfcl chunk={chunk or 'auto'}"] = (
            lambda c: lambda **kw: selective_scan(**kw, backend="torch", chunk_size=c or None))(chunk)
    if device.startswith("cuda"):
        try:
            import mamba_ssm  # noqa: F401
            fns["mamba_ssm"] = lambda **kw: selective_scan(**kw, backend="mamba_ssm")
        except ImportError:
            pass
    return fns


def run_once(fn, kw: dict, backward: bool) -> None:
    if backward:
        fn(**kw, delta_softplus=True).square().mean().backward()
    else:
        with torch.no_grad():
            fn(**kw, delta_softplus=True)


def seconds(fn, kw: dict, backward: bool) -> float:
    if kw["u"].is_cuda:
        torch.cuda.synchronize()
    tic = time.perf_counter()
    run_once(fn, kw, backward)
    if kw["u"].is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - tic


def best_rounds(fns: dict, kw: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Best (forward, forward+backward) seconds per candidate over interleaved rounds."""
    best = {name: [float("inf"), float("inf")] for name in fns}
    for round_ in range(repeats + 1):  # round 0 warms up
        for name, fn in fns.items():
            for slot, backward in enumerate((False, True)):
                took = seconds(fn, kw, backward)
                if round_:
                    best[name][slot] = min(best[name][slot], took)
    return {name: (f, b) for name, (f, b) in best.items()}


def saved_bytes(fn, kw: dict) -> int:
    """Bytes of the distinct storages autograd keeps for the backward pass of one call."""
    storages: dict[int, int] = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(**kw, delta_softplus=True)
    return sum(storages.values())


def peak_rss_mb(name: str, args: argparse.Namespace, length: int) -> float:
    """Peak resident memory (MB) that one forward+backward adds, measured in a fresh process."""
    cmd = [sys.executable, __file__, "--child", name, "--lengths", str(length), "--batch", str(args.batch),
           "--dim", str(args.dim), "--state", str(args.state), "--chunks", *map(str, args.chunks),
           "--also", *args.also]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()[-1])


def child(args: argparse.Namespace) -> None:
    kw = make_inputs(args.batch, args.dim, args.state, args.lengths[0], "cpu")
    fn = candidates(args.chunks, "cpu", args.also)[args.child]
    run_once(fn, make_inputs(1, GROUPS, args.state, 3, "cpu"), True)  # load lazily initialised kernels
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark (Linux)
    before = _status_kb("VmRSS")
    run_once(fn, kw, True)
    print((_status_kb("VmHWM") - before) / 1024)


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--state", type=int, default=16)
    ap.add_argument("--lengths", type=int, nargs="+", default=[90, 162])
    ap.add_argument("--chunks", type=int, nargs="+", default=[0, 8, 24], help="chunk sizes; 0 = the default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--also", nargs="*", default=[], help="git revisions whose torch scan to time as well")
    ap.add_argument("--rss", action="store_true", help="also measure peak RSS per candidate (CPU, subprocesses)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args)
        return 0
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"B={args.batch} D={args.dim} N={args.state} G={GROUPS}")
    header = "| L | candidate | forward (s) | vs loop | fwd+bwd (s) | vs loop | saved for backward (MB) |"
    header += " peak RSS fwd+bwd (MB) |" if args.rss else ""
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for length in args.lengths:
        kw = make_inputs(args.batch, args.dim, args.state, length, args.device)
        fns = candidates(args.chunks, args.device, args.also)
        times = best_rounds(fns, kw, args.repeats)
        base_f, base_b = times["loop"]
        for name, fn in fns.items():
            fwd, both = times[name]
            row = (f"| {length} | {name} | {fwd:.4f} | {base_f / fwd:.1f}x | {both:.4f} | {base_b / both:.1f}x "
                   f"| {saved_bytes(fn, kw) / 2**20:.1f} |")
            if args.rss:
                row += f" {peak_rss_mb(name, args, length):.0f} |"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
