"""What each part of SFCL does to training, on SynthVI's *validation* identities.

Trains one config (``data.eval_split=val``: training on exp/train_id.txt, query and
gallery from exp/val_id.txt, so no setting is chosen on the test identities) and
reports, as JSON on stdout and in ``--out/study.json``:

- val R1 / mAP / mINP (sysu-all-single), and with O_fre zeroed at test time;
- each loss term per epoch (its scale), and the mean gradient norm per module
  (backbone stems / shared trunk, CFAM, SFIM, gate, neck + classifier) over logged steps;
- the frequency branch's state: O_fre's RMS against X, γ·O_fre's share (CFAM row),
  the frequency embeddings' mean pairwise cosine, cos(retrieval feature, GeM(X)).

    .venv/bin/python benchmarks/sfcl_study.py --data outputs/demo/occ_synthvi \\
        --config configs/demo_synthvi_sfcl.yaml --out outputs/study/sfcl model.cfam.train_partner=batch

``--gem-contrast W`` is a control: it adds ``W · L_cfc`` computed on GeM(X), the Base's own
retrieval feature, instead of CFAM's frequency embeddings (same InfoNCE, temperature and
warm-up as ``loss.*``): does a cross-modal contrast through the backbone help at all here?
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from sfcl.config import load_config  # noqa: E402
from sfcl.engine.trainer import Trainer  # noqa: E402
from sfcl.evaluation.extract import evaluate_model  # noqa: E402
from sfcl.evaluation.frequency import frequency_report  # noqa: E402
from sfcl.losses.fad import frequency_contrastive_loss  # noqa: E402
from sfcl.models.reid import frequency_disabled  # noqa: E402

MODULES = ("backbone.stems", "backbone.shared", "cfam", "sfim", "frequency_gate", "neck", "classifier")


class StudyTrainer(Trainer):
    """A Trainer that records each module's gradient norm every ``grad_every`` steps."""

    grad_every = 10

    def step(self, batch):
        total, terms = super().step(batch)
        self._steps = getattr(self, "_steps", 0) + 1
        if self._steps % self.grad_every == 1:
            norms = {}
            for name, param in self.model.named_parameters():
                if param.grad is None:
                    continue
                key = next((m for m in MODULES if name.startswith(m)), name.split(".")[0])
                norms[key] = norms.get(key, 0.0) + float(param.grad.detach().double().pow(2).sum())
            self.grad_log = getattr(self, "grad_log", []) + [{k: v ** 0.5 for k, v in norms.items()}]
        return total, terms


class GemContrast(torch.nn.Module):
    """The objective plus ``weight · L_cfc`` on GeM(X) (the ``--gem-contrast`` control), ramped as FAD is."""

    def __init__(self, objective: torch.nn.Module, pool: torch.nn.Module, weight: float) -> None:
        super().__init__()
        self.objective, self.pool, self.weight = objective, pool, weight

    def forward(self, output, labels, modality=None, gather=None, progress=None):
        total, terms = self.objective(output, labels, modality=modality, gather=gather, progress=progress)
        cfg = self.objective.cfg
        contrast = frequency_contrastive_loss(self.pool(output.feature_map), labels, modality, cfg.cfc_temperature)
        total = total + self.objective.fad_ramp(progress) * self.weight * contrast
        terms.update(gem_cfc=float(contrast.detach()), total=float(total.detach()))
        return total, terms


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", required=True, help="a SynthVI / Occ-SynthVI folder (SYSU layout)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--gem-contrast", type=float, default=0.0,
                        help="control: add this weight times L_cfc on GeM(X) (the retrieval feature) to the loss")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args(argv)  # options before or after the section.key=value items
    cfg = load_config(args.config, [f"data.root={args.data}", "data.eval_split=val", f"train.output_dir={args.out}",
                                    "train.progress=false", *args.overrides])
    tic = time.time()
    trainer = StudyTrainer(cfg)
    if args.gem_contrast:
        trainer.objective = GemContrast(trainer.objective, trainer.model.pool, args.gem_contrast)
    results = trainer.fit()
    seconds = time.time() - tic
    protocol = cfg.eval.protocols[0]
    report = {"config": args.config, "overrides": args.overrides, "gem_contrast": args.gem_contrast,
              "train_seconds": results["train_seconds"],
              "val": results["final"][protocol]}
    if trainer.model.cfam is not None:
        with frequency_disabled(trainer.model):
            zeroed = evaluate_model(trainer.model, trainer.dataset, cfg, trainer.device)[protocol]
        report["val_zeroed_o_fre"] = zeroed
        report["zeroed_o_fre_map_drop"] = report["val"]["mAP"] - zeroed["mAP"]
        report["frequency"] = frequency_report(trainer.model, trainer.dataset.test, cfg.data.height, cfg.data.width,
                                               device=trainer.device)
    report["loss_terms"] = [{k: v for k, v in r.items() if k not in ("lr", "seconds")} for r in results["history"]]
    logs = getattr(trainer, "grad_log", [])
    if logs:
        keys = sorted({k for entry in logs for k in entry})
        third = max(1, len(logs) // 3)
        report["grad_norm_first_third"] = {k: sum(e.get(k, 0.0) for e in logs[:third]) / third for k in keys}
        report["grad_norm_last_third"] = {k: sum(e.get(k, 0.0) for e in logs[-third:]) / third for k in keys}
    report["wall_seconds"] = seconds
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "study.json").write_text(json.dumps(report, indent=2))
    summary = {k: report[k] for k in ("val", "zeroed_o_fre_map_drop", "frequency") if k in report}
    print(json.dumps({"val_mAP": report["val"]["mAP"], "val_r1": report["val"]["r1"], **summary}, indent=1))
    return report


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())
    main()
