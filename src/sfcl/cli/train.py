"""``sfcl train``: one experiment from a YAML config."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_train(args: argparse.Namespace) -> int:
    from sfcl.config import load_config
    from sfcl.engine.trainer import train
    from sfcl.evaluation.protocols import format_table

    cfg = load_config(args.config, args.overrides)
    results = train(cfg, resume=args.resume)
    if results.get("final"):
        print(format_table(results["final"]))
    print(f"results: {Path(cfg.train.output_dir) / 'results.json'}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from a YAML config (overrides: section.key=value)")
    p.add_argument("config", help="YAML experiment file, e.g. configs/sysu_base.yaml")
    p.add_argument("overrides", nargs="*", help="e.g. train.epochs=5 data.root=/data/SYSU-MM01")
    p.add_argument("--resume", default=None, help="continue from a last.pt checkpoint")
    p.set_defaults(func=_cmd_train, on_interrupt="checkpoints are written atomically; continue with "
                                               "`sfcl train CONFIG --resume OUT/last.pt`")
