"""``sfcl demo``: Occ-SynthVI end to end on the CPU."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_demo(args: argparse.Namespace) -> int:
    from sfcl.demo import run_demo

    run_demo(Path(args.out), num_ids=args.ids, epochs=args.epochs, seed=args.seed,
             occluded=not args.no_occlusion, overrides=args.overrides)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthesise and occlude SynthVI, train a small model on the CPU, evaluate, print the table")
    p.add_argument("--out", default="outputs/demo", help="working folder (dataset, run, results)")
    p.add_argument("--ids", type=int, default=None, help="SynthVI identities (default 360, 36 of them test)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo config's)")
    p.add_argument("--seed", type=int, default=0, help="SynthVI, occlusion and training seed")
    p.add_argument("--no-occlusion", action="store_true", help="use plain SynthVI instead of Occ-SynthVI")
    p.add_argument("overrides", nargs="*", help="demo config overrides, e.g. train.batches_per_epoch=10")
    p.set_defaults(func=_cmd_demo,
                   on_interrupt="the data built so far is kept: rerun the same command (training rows start again)")
