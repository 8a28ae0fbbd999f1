"""Which feature of a trained CFAM / SFCL model retrieves best, on SynthVI's *validation* identities.

Scores one checkpoint trained with ``data.eval_split=val`` (e.g. by ``benchmarks/sfcl_study.py``)
with its retrieval embedding replaced, at test time only, by another feature of the same forward:

- ``default``: the model's own embedding (BN neck of GeM(X), of GeM(relu(X + γ·O_fre)) or of SFIM's O_sf);
- ``gem_x``: GeM(X), the backbone's map alone;
- ``gem_ofre``: GeM(relu(O_fre)), the frequency branch alone;
- ``gem_x_plus_ofre``: GeM(relu(X + O_fre)), the paper's plain sum;
- ``cat``: the unit default embedding and the unit GeM(relu(O_fre)), concatenated.

Does O_fre carry identity, and does it add anything to what the model already retrieves with?

    .venv/bin/python benchmarks/retrieval_features.py /tmp/val/sfcl_s0/last.pt --trials 3
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
from sfcl.models.reid import ModelOutput, ReIDModel  # noqa: E402

KINDS = ("default", "gem_x", "gem_ofre", "gem_x_plus_ofre", "cat")


def retrieval_embedding(model: ReIDModel, output: ModelOutput, kind: str) -> torch.Tensor:
    """The (B, D) or (B, 2D) embedding ``kind`` (see the module docstring) of one forward's ``output``."""
    if kind == "default":
        return output.embedding
    if kind == "gem_x":
        return model.pool(output.feature_map)
    if kind not in KINDS:
        raise ValueError(f"unknown retrieval feature {kind!r} (valid: {', '.join(KINDS)})")
    if output.frequency_map is None:
        raise ValueError(f"retrieval feature {kind!r} needs CFAM's O_fre; this model has no CFAM")
    o_fre = output.frequency_map.to(output.feature_map.dtype)
    if kind == "gem_x_plus_ofre":
        return model.pool(F.relu(output.feature_map + o_fre))
    frequency = model.pool(F.relu(o_fre))
    if kind == "gem_ofre":
        return frequency
    return torch.cat([F.normalize(output.embedding, dim=1), F.normalize(frequency, dim=1)], dim=1)  # cat


class _Retrieval(torch.nn.Module):
    """The trained model with its embedding swapped for ``kind`` (evaluation only)."""

    def __init__(self, model: ReIDModel, kind: str) -> None:
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, images: torch.Tensor, modality: torch.Tensor) -> ModelOutput:
        output = self.model(images, modality)
        output.embedding = retrieval_embedding(self.model, output, self.kind)
        return output


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="last.pt of a run trained with data.eval_split=val")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated subset of {', '.join(KINDS)}")
    parser.add_argument("--trials", type=int, default=None, help="gallery trials (default: the run's eval.num_trials)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        parser.error(f"--kinds: unknown {unknown} (valid: {', '.join(KINDS)})" if unknown else "--kinds: none given")
    torch.set_num_threads(args.threads)
    model, cfg = model_from_checkpoint(args.checkpoint, "cpu")
    if cfg.data.eval_split != "val":
        parser.error(f"{args.checkpoint}: trained with data.eval_split={cfg.data.eval_split}; "
                     "choose features on a run scored on the val ids")
    if args.trials is not None:
        cfg.eval.num_trials = args.trials
    dataset = load_dataset(cfg)
    protocol = cfg.eval.protocols[0]
    model.eval()
    report = {"checkpoint": str(args.checkpoint), "protocol": protocol, "trials": cfg.eval.num_trials, "val": {}}
    for kind in kinds:
        scores = evaluate_model(_Retrieval(model, kind), dataset, cfg, torch.device("cpu"))[protocol]
        report["val"][kind] = {"r1": scores["r1"], "mAP": scores["mAP"]}
        print(f"{kind:16s} R1 {scores['r1']:6.2f}  mAP {scores['mAP']:6.2f}", flush=True)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
