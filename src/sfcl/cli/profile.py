"""``sfcl profile``: params, FLOPs and latency beside the paper's table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sfcl.cli.args import size


def _cmd_profile(args: argparse.Namespace) -> int:
    from sfcl.analysis.profiling import format_profile, profile

    table = profile(args.configs, args.override, num_classes=args.classes, batch=args.batch, dtype=args.dtype,
                    device=args.device, latency=not args.no_latency, warmup=args.warmup, repeats=args.repeats,
                    size=args.size)
    print(format_profile(table))
    if args.json:
        from sfcl.fileio import atomic_write

        atomic_write(Path(args.json), json.dumps(table, indent=2).encode())
        print(f"profile written to {args.json}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="params, FLOPs and latency of configs, beside the paper's ablation table")
    p.add_argument("configs", nargs="+", help="YAML experiment files, e.g. configs/sysu_*.yaml")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="config override applied to every config; repeat for several")
    p.add_argument("--size", type=size, default=None, help="input HEIGHTxWIDTH (default: the config's data size)")
    p.add_argument("--batch", type=int, default=64, help="latency batch size")
    p.add_argument("--dtype", default="float32", choices=["float32", "bf16", "fp16"],
                   help="autocast dtype of the latency run (bf16/fp16 on CUDA only)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--warmup", type=int, default=3, help="untimed passes before the timed ones")
    p.add_argument("--repeats", type=int, default=10, help="timed batches; the median is reported")
    p.add_argument("--classes", type=int, default=395, help="identity classes (the classifier is not counted)")
    p.add_argument("--no-latency", action="store_true", help="params and FLOPs only")
    p.add_argument("--json", default=None, help="write {config: {params_m, gflops, latency_ms, ...}} here")
    p.set_defaults(func=_cmd_profile)
