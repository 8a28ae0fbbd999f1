"""Re-evaluate trained checkpoints with CFAM's frequency embedding appended to the retrieval feature.

``model.cfam.retrieval_weight`` w only changes the eval-mode descriptor ([e / |e| ; w · f / |f|], e the
BN-neck feature, f the embedding L_cfc trains), so one trained model can be scored at several w without
retraining. Each checkpoint is evaluated on the split its config names (``data.eval_split``: the
``benchmarks/sfcl_study.py`` runs use the *validation* identities, where w is chosen), at every
``--weights`` value, and with O_fre zeroed at test (the frequency branch's weight in the descriptor):

    .venv/bin/python benchmarks/retrieval_weight.py /tmp/val/e7vnir_s*/last.pt --weights 0 1 2 3 --out outputs/w.json

Prints one JSON object: per checkpoint and weight the mAP, R1 and the zeroed-O_fre mAP, and the means.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from sfcl.data.loaders import load_dataset  # noqa: E402
from sfcl.engine.checkpoint import model_from_checkpoint  # noqa: E402
from sfcl.errors import SfclError  # noqa: E402
from sfcl.evaluation.extract import evaluate_model  # noqa: E402
from sfcl.models.reid import frequency_disabled  # noqa: E402


def score(checkpoint: str, weights: list[float]) -> dict[str, dict[str, float]]:
    """{weight: {mAP, r1, zeroed_mAP}} for one checkpoint (CPU, the checkpoint's eval settings)."""
    model, cfg = model_from_checkpoint(checkpoint)
    if model.cfam is None:
        raise SfclError(f"{checkpoint} has no CFAM: no frequency embedding to append")
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    dataset = load_dataset(cfg)
    protocol = (cfg.eval.protocols or list(dataset.protocols[:1]))[0]
    cfg.eval.protocols = [protocol]
    rows = {}
    for weight in weights:
        model.cfam.cfg.retrieval_weight = weight
        full = evaluate_model(model, dataset, cfg, torch.device("cpu"), progress=False)[protocol]
        with frequency_disabled(model):
            zeroed = evaluate_model(model, dataset, cfg, torch.device("cpu"), progress=False)[protocol]
        rows[f"{weight:g}"] = {"mAP": full["mAP"], "r1": full["r1"], "zeroed_mAP": zeroed["mAP"]}
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="last.pt / best.pt of CFAM or SFCL runs")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    if any(w < 0 for w in args.weights):
        parser.error("--weights must be >= 0")
    torch.set_num_threads(args.threads)
    runs = {path: score(path, args.weights) for path in args.checkpoints}
    means = {f"{w:g}": {key: sum(r[f"{w:g}"][key] for r in runs.values()) / len(runs) for key in ("mAP", "r1", "zeroed_mAP")}
             for w in args.weights}
    report = {"runs": runs, "mean": means}
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return report


if __name__ == "__main__":
    try:
        main()
    except SfclError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
