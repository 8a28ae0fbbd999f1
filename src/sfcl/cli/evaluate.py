"""``sfcl eval``: score a checkpoint or saved features under a protocol."""

from __future__ import annotations

import argparse
import json

from sfcl.errors import SfclError


def _cmd_eval(args: argparse.Namespace) -> int:
    from sfcl.evaluation.protocols import evaluate, format_table

    if (args.checkpoint is None) == (args.features is None):
        raise SfclError("sfcl eval: give exactly one of --checkpoint PATH or --features FILE")
    if args.trials is not None and args.trials < 1:
        raise SfclError(f"sfcl eval --trials {args.trials}: expected at least 1")
    if args.features is not None:
        from sfcl.evaluation.features import load_features

        feats, samples = load_features(args.features)
        names = args.protocol or ["sysu-all-single"]
        trials = 10 if args.trials is None else args.trials
        rerank = (args.k1, args.k2, args.rerank_lambda) if args.rerank else None
        results = {name: evaluate(name, feats, samples, num_trials=trials, rerank=rerank) for name in names}
    else:
        from sfcl.data.loaders import load_dataset
        from sfcl.evaluation.extract import evaluate_model
        from sfcl.export import inference_model

        model, cfg, device = inference_model(args.checkpoint, args.device)  # an .onnx runs in onnxruntime
        if args.data_root is not None:
            cfg.data.root = args.data_root
        if args.protocol:
            cfg.eval.protocols = args.protocol
        if args.trials is not None:
            cfg.eval.num_trials = args.trials
        if args.rerank:
            cfg.eval.rerank, cfg.eval.rerank_k1, cfg.eval.rerank_k2 = True, args.k1, args.k2
            cfg.eval.rerank_lambda = args.rerank_lambda
        results = evaluate_model(model, load_dataset(cfg), cfg, device)
    print(format_table(results))
    if args.json:
        from sfcl.fileio import atomic_write

        atomic_write(args.json, (json.dumps(results, indent=2) + "\n").encode())
        print(f"results: {args.json}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="run an evaluation protocol on a checkpoint or on saved features")
    p.add_argument("--checkpoint", default=None, help="checkpoint written by sfcl train, or an .onnx file written by "
                                                      "sfcl export (run by onnxruntime on the CPU)")
    p.add_argument("--features", default=None, help=".pt/.npz features file (feats, pids, cams, modalities)")
    p.add_argument("--data-root", default=None, help="dataset folder (default: the checkpoint config's)")
    from sfcl.data import DATASETS

    names = [name for spec in DATASETS.values() for name in spec.protocol_names]
    p.add_argument("--protocol", action="append", default=None, choices=names, metavar="NAME",
                   help=f"repeat for several; one of {', '.join(names)} (default: the checkpoint config's "
                        "eval.protocols; sysu-all-single for --features)")
    p.add_argument("--trials", type=int, default=None,
                   help="gallery trials of the sampled-gallery protocols (default: the checkpoint config's "
                        "eval.num_trials; 10 for --features)")
    p.add_argument("--device", default="auto", help="torch device: auto (CUDA when present), cpu, cuda, cuda:1")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--rerank", action="store_true",
                   help="k-reciprocal re-ranking of each trial (Zhong et al. 2017; eval.rerank in a config)")
    p.add_argument("--k1", type=int, default=20, help="re-ranking: k-reciprocal neighbourhood size")
    p.add_argument("--k2", type=int, default=6, help="re-ranking: local query expansion size")
    p.add_argument("--rerank-lambda", type=float, default=0.3, help="re-ranking: weight of the original distance")
    p.set_defaults(func=_cmd_eval)
