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
        from sfcl.data.loaders import load_dataset
        from sfcl.engine.checkpoint import model_from_checkpoint
        from sfcl.engine.runtime import resolve_device
        from sfcl.evaluation.extract import evaluate_model

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

    run_demo(Path(args.out), num_ids=args.ids, epochs=args.epochs, seed=args.seed,
             occluded=not args.no_occlusion, overrides=args.overrides)
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:
    from sfcl.profiling import format_profile, profile

    table = profile(args.configs, args.override, num_classes=args.classes, batch=args.batch, dtype=args.dtype,
                    device=args.device, latency=not args.no_latency, warmup=args.warmup, repeats=args.repeats,
                    size=args.size)
    print(format_profile(table))
    if args.json:
        from sfcl.fileio import atomic_write

        atomic_write(Path(args.json), json.dumps(table, indent=2).encode())
        print(f"profile written to {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sfcl", description="Occluded visible-infrared person re-identification (SFCL).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="synthesise and occlude SynthVI, train a small model on the CPU, evaluate, print the table")
    p.add_argument("--out", default="outputs/demo", help="working folder (dataset, run, results)")
    p.add_argument("--ids", type=int, default=None, help="SynthVI identities (default 360, 36 of them test)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo config's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-occlusion", action="store_true", help="use plain SynthVI instead of Occ-SynthVI")
    p.add_argument("overrides", nargs="*", help="demo config overrides, e.g. train.batches_per_epoch=10")
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
    from sfcl.cli_visualize import add_visualize_parsers

    add_visualize_parsers(sub)  # sfcl visualize swap|spectra|ranks, sfcl query
    from sfcl.cli_robustness import add_robustness_parsers

    add_robustness_parsers(sub)  # sfcl robustness

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

    from sfcl.cli_visualize import _size  # HEIGHTxWIDTH argument type, shared with sfcl visualize

    p = sub.add_parser("profile", help="params, FLOPs and latency of configs, beside the paper's ablation table")
    p.add_argument("configs", nargs="+", help="YAML experiment files, e.g. configs/sysu_*.yaml")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="config override applied to every config; repeat for several")
    p.add_argument("--size", type=_size, default=None, help="input HEIGHTxWIDTH (default: the config's data size)")
    p.add_argument("--batch", type=int, default=64, help="latency batch size")
    p.add_argument("--dtype", default="float32", choices=["float32", "bf16", "fp16"],
                   help="autocast dtype of the latency run (bf16/fp16 on CUDA only)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10, help="timed batches; the median is reported")
    p.add_argument("--classes", type=int, default=395, help="identity classes (the classifier is not counted)")
    p.add_argument("--no-latency", action="store_true", help="params and FLOPs only")
    p.add_argument("--json", default=None, help="write {config: {params_m, gflops, latency_ms, ...}} here")
    p.set_defaults(func=_cmd_profile)
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
