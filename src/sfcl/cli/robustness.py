"""``sfcl robustness``: a thin parser over :func:`sfcl.analysis.robustness.robustness_curve`.

``sfcl.cli.build_parser`` registers it with ``add_parsers(sub)``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sfcl.data import dataset_names

DEFAULT_RATIOS = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7"


def _cmd_robustness(args: argparse.Namespace) -> int:
    from sfcl.analysis.robustness import CHART_NAME, RESULTS_NAME, format_curves, robustness_curve

    curves = robustness_curve(args.checkpoint, args.dataset, args.data_root, args.out, ratios=args.ratios,
                              protocol=args.protocol, seed=args.seed, workers=args.workers, trial=args.trial,
                              num_trials=args.trials, device=args.device)
    print(format_curves(curves))
    print(f"{Path(args.out) / RESULTS_NAME} and {Path(args.out) / CHART_NAME} written")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``robustness`` on the ``sfcl`` subparsers."""
    p = sub.add_parser("robustness", help="R1/mAP of checkpoints against the occlusion ratio of query and gallery")
    p.add_argument("--checkpoint", action="append", required=True,
                   help="checkpoint written by sfcl train (repeat for several lines on the chart)")
    p.add_argument("--dataset", default="sysu", choices=dataset_names(), help="layout of --data-root")
    p.add_argument("--data-root", required=True, help="the clean dataset folder (SynthVI works)")
    p.add_argument("--out", required=True, help="folder for ratio_*/ builds, robustness.json and robustness.png")
    p.add_argument("--ratios", default=DEFAULT_RATIOS,
                   help=f"comma-separated ratios in [0, 1] (default {DEFAULT_RATIOS})")
    p.add_argument("--protocol", default=None, help="default: each checkpoint config's first protocol")
    p.add_argument("--trials", type=int, default=None, help="gallery trials (default: the checkpoint config's)")
    p.add_argument("--trial", type=int, default=None, help="RegDB split trial (1..10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the occlusion draw and placement")
    p.add_argument("--workers", type=int, default=1, help="processes for the occlusion builds")
    p.add_argument("--device", default="auto", help="torch device: auto (CUDA when present), cpu, cuda, cuda:1")
    p.set_defaults(func=_cmd_robustness)
