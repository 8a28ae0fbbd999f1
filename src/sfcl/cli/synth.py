"""``sfcl synth``: write SynthVI (SYSU-MM01 layout)."""

from __future__ import annotations

import argparse


def _cmd_synth(args: argparse.Namespace) -> int:
    from sfcl.data.synthvi import synthesize

    out = synthesize(
        args.out, num_ids=args.ids, seed=args.seed, images_per_cam=args.images_per_cam,
        height=args.height, width=args.width, workers=args.workers, progress=True,
    )
    print(f"SynthVI written to {out} (SYSU-MM01 layout)")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write the SynthVI synthetic dataset in the SYSU-MM01 layout")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--ids", type=int, default=120, help="number of identities (SYSU-MM01 has 491)")
    p.add_argument("--seed", type=int, default=0, help="the dataset is a function of it")
    p.add_argument("--images-per-cam", type=int, default=6, help="images of each identity in each camera")
    p.add_argument("--height", type=int, default=128, help="image height in pixels")
    p.add_argument("--width", type=int, default=64, help="image width in pixels")
    p.add_argument("--workers", type=int, default=2, help="worker processes (the output does not depend on it)")
    p.set_defaults(func=_cmd_synth, on_interrupt="finished identities are kept: rerun the same command to continue")
