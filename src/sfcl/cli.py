"""The ``sfcl`` console script: parses, calls one library function, prints.

User mistakes surface as :class:`~sfcl.errors.SfclError`: one line on stderr
and exit code 2. Bugs still raise tracebacks.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from sfcl.errors import SfclError


def _cmd_synth(args: argparse.Namespace) -> int:
    from sfcl.data.synthvi import synthesize

    out = synthesize(
        args.out, num_ids=args.ids, seed=args.seed, images_per_cam=args.images_per_cam,
        height=args.height, width=args.width, workers=args.workers, progress=True,
    )
    print(f"SynthVI written to {out} (SYSU-MM01 layout)")
    return 0


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


def _cmd_eval(args: argparse.Namespace) -> int:
    from sfcl.evaluation.protocols import evaluate, format_table

    if (args.checkpoint is None) == (args.features is None):
        raise SfclError("sfcl eval: give exactly one of --checkpoint PATH or --features FILE")
    if args.features is not None:
        from sfcl.evaluation.features import load_features

        feats, samples = load_features(args.features)
        names = args.protocol or ["sysu-all-single"]
        results = {name: evaluate(name, feats, samples, num_trials=args.trials) for name in names}
    else:
        from sfcl.engine.trainer import evaluate_model, load_dataset, model_from_checkpoint, resolve_device

        device = resolve_device(args.device)
        model, cfg = model_from_checkpoint(args.checkpoint, device)
        if args.data_root is not None:
            cfg.data.root = args.data_root
        if args.protocol:
            cfg.eval.protocols = args.protocol
        cfg.eval.num_trials = args.trials
        results = evaluate_model(model, load_dataset(cfg), cfg, device)
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"results: {args.json}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from sfcl.demo import run_demo

    run_demo(Path(args.out), num_ids=args.ids, epochs=args.epochs, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sfcl", description="Occluded visible-infrared person re-identification (SFCL).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="synthesise SynthVI, train a small model on the CPU, evaluate, print the table")
    p.add_argument("--out", default="outputs/demo", help="working folder (dataset, run, results)")
    p.add_argument("--ids", type=int, default=None, help="SynthVI identities (default: the demo's)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo config's)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("synth", help="write the SynthVI synthetic dataset in the SYSU-MM01 layout")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--ids", type=int, default=120, help="number of identities (SYSU-MM01 has 491)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images-per-cam", type=int, default=6)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=_cmd_synth)

    from sfcl.cli_occlusion import add_occlusion_parsers

    add_occlusion_parsers(sub)  # sfcl occlude, sfcl sol build|export|info

    p = sub.add_parser("train", help="train a model from a YAML config (overrides: section.key=value)")
    p.add_argument("config", help="YAML experiment file, e.g. configs/sysu_base.yaml")
    p.add_argument("overrides", nargs="*", help="e.g. train.epochs=5 data.root=/data/SYSU-MM01")
    p.add_argument("--resume", default=None, help="continue from a last.pt checkpoint")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="run an evaluation protocol on a checkpoint or on saved features")
    p.add_argument("--checkpoint", default=None, help="checkpoint written by sfcl train")
    p.add_argument("--features", default=None, help=".pt/.npz features file (feats, pids, cams, modalities)")
    p.add_argument("--data-root", default=None, help="dataset folder (default: the checkpoint config's)")
    p.add_argument("--protocol", action="append", default=None, help="protocol name; repeat for several")
    p.add_argument("--trials", type=int, default=10, help="gallery trials (SYSU-MM01, LLCM)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.set_defaults(func=_cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except SfclError as err:
        print(f"sfcl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sfcl: interrupted (checkpoints are written atomically; continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
