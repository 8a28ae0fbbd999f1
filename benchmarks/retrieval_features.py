"""Which feature of a trained CFAM / SFCL model retrieves best, on SynthVI's *validation* identities.

Scores checkpoints trained with ``data.eval_split=val`` (e.g. by ``benchmarks/sfcl_study.py``)
with their retrieval embedding replaced, at test time only, by another feature of the same forward:

- ``default``: the model's BN-neck embedding (of GeM(X), of GeM(relu(X + γ·O_fre)) or of SFIM's O_sf);
- ``features``: the pre-BN feature the neck reads;
- ``gem_x``: GeM(X), the backbone's map alone;
- ``gem_ofre``: GeM(relu(O_fre)), the frequency branch alone;
- ``gem_x_plus_ofre``: GeM(relu(X + O_fre)), the paper's plain sum;
- ``frequency``: the frequency embedding L_cfc trains (``ModelOutput.frequency``);
- ``cat``: ``[e / |e| ; w · v / |v|]`` with e the default embedding and v GeM(relu(O_fre));
- ``cat_frequency``: the same with v the frequency embedding: ``model.cfam.retrieval_weight`` w;
- ``cat_features``: the same with v the pre-BN feature (the control: is any second view enough?).

``--weights`` gives the w of the ``cat*`` kinds; ``--zeroed`` also scores each kind with O_fre (and
the frequency embedding) zeroed at test. With several checkpoints the means are printed too.

    .venv/bin/python benchmarks/retrieval_features.py /tmp/val/sfcl_s*/last.pt --kinds default,cat_frequency \\
        --weights 1 2 3 --zeroed
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from sfcl.data.loaders import load_dataset  # noqa: E402
from sfcl.engine.checkpoint import model_from_checkpoint  # noqa: E402
from sfcl.evaluation.extract import evaluate_model  # noqa: E402
from sfcl.models.reid import ModelOutput, ReIDModel, append_descriptor, frequency_disabled  # noqa: E402

KINDS = ("default", "features", "gem_x", "gem_ofre", "gem_x_plus_ofre", "frequency", "cat", "cat_frequency",
         "cat_features")
NEEDS_CFAM = ("gem_ofre", "gem_x_plus_ofre", "frequency", "cat", "cat_frequency")
APPENDED = {"cat": "gem_ofre", "cat_frequency": "frequency", "cat_features": "features"}  # cat kind -> its v


def retrieval_embedding(model: ReIDModel, output: ModelOutput, kind: str, weight: float = 1.0) -> torch.Tensor:
    """The embedding ``kind`` (see the module docstring) of one forward's ``output``; ``weight`` is the cat kinds' w."""
    if kind not in KINDS:
        raise ValueError(f"unknown retrieval feature {kind!r} (valid: {', '.join(KINDS)})")
    if kind in NEEDS_CFAM and output.frequency_map is None:
        raise ValueError(f"retrieval feature {kind!r} needs CFAM's O_fre; this model has no CFAM")
    if kind in APPENDED:
        return append_descriptor(output.embedding, retrieval_embedding(model, output, APPENDED[kind]), weight)
    if kind == "default":
        return output.embedding
    if kind == "features":
        return output.features
    if kind == "frequency":
        return output.frequency
    if kind == "gem_x":
        return model.pool(output.feature_map)
    o_fre = output.frequency_map.to(output.feature_map.dtype)
    if kind == "gem_x_plus_ofre":
        return model.pool(F.relu(output.feature_map + o_fre))
    return model.pool(F.relu(o_fre))  # gem_ofre


class _Retrieval(torch.nn.Module):
    """The trained model with its embedding swapped for ``kind`` (evaluation only)."""

    def __init__(self, model: ReIDModel, kind: str, weight: float = 1.0) -> None:
        super().__init__()
        self.model, self.kind, self.weight = model, kind, weight

    def forward(self, images: torch.Tensor, modality: torch.Tensor) -> ModelOutput:
        output = self.model(images, modality)
        output.embedding = retrieval_embedding(self.model, output, self.kind, self.weight)
        return output


def score_checkpoint(path: str, kinds: list[str], weights: list[float], zeroed: bool, trials: int | None) -> dict:
    """{label: {r1, mAP[, zeroed_mAP]}} for one val checkpoint; labels are kinds, ``cat*`` ones with ``@w``."""
    model, cfg = model_from_checkpoint(path, "cpu")
    if cfg.data.eval_split != "val":
        raise ValueError(f"{path}: trained with data.eval_split={cfg.data.eval_split}; "
                         "choose features on a run scored on the val ids")
    if model.cfam is not None:
        model.cfam.cfg.retrieval_weight = 0.0  # ``default`` is the BN-neck embedding alone
    if trials is not None:
        cfg.eval.num_trials = trials
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    dataset = load_dataset(cfg)
    protocol = cfg.eval.protocols[0]
    scores = {}
    for kind in kinds:
        if kind in NEEDS_CFAM and model.cfam is None:
            continue
        for weight in weights if kind.startswith("cat") else [1.0]:
            label = f"{kind}@{weight:g}" if kind.startswith("cat") else kind
            scored = _Retrieval(model, kind, weight)
            result = evaluate_model(scored, dataset, cfg, torch.device("cpu"), progress=False)[protocol]
            scores[label] = {"r1": result["r1"], "mAP": result["mAP"]}
            if zeroed and model.cfam is not None:
                with frequency_disabled(model):
                    scores[label]["zeroed_mAP"] = evaluate_model(scored, dataset, cfg, torch.device("cpu"),
                                                                 progress=False)[protocol]["mAP"]
            print(f"{Path(path).parent.name} {label:18s} " + "  ".join(f"{k} {v:6.2f}" for k, v in scores[label].items()),
                  flush=True)
    return scores


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="last.pt of runs trained with data.eval_split=val")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated subset of {', '.join(KINDS)}")
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0], help="w of the cat kinds")
    parser.add_argument("--zeroed", action="store_true", help="also score with O_fre zeroed at test")
    parser.add_argument("--trials", type=int, default=None, help="gallery trials (default: the run's eval.num_trials)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="also write the JSON report here")
    args = parser.parse_intermixed_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        parser.error(f"--kinds: unknown {unknown} (valid: {', '.join(KINDS)})" if unknown else "--kinds: none given")
    if any(w < 0 for w in args.weights):
        parser.error("--weights must be >= 0")
    torch.set_num_threads(args.threads)
    try:
        runs = {path: score_checkpoint(path, kinds, args.weights, args.zeroed, args.trials) for path in args.checkpoints}
    except ValueError as error:
        parser.error(str(error))
    labels = next(iter(runs.values()))
    mean = {label: {key: sum(r[label][key] for r in runs.values()) / len(runs) for key in labels[label]}
            for label in labels if all(label in r for r in runs.values())}
    report = {"checkpoints": list(runs), "val": runs, "mean": mean}
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return report


if __name__ == "__main__":
    main()
