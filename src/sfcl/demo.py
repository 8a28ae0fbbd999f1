"""``sfcl demo``: Occ-SynthVI end to end on the CPU in about ten minutes.

1. synthesise SynthVI (SYSU-MM01 layout) under ``OUT/synthvi`` and occlude
   half of every split's images with the built-in occlusion library (``sfcl occlude``) into
   ``OUT/occ_synthvi`` (Occ-SynthVI, the paper's benchmark construction);
2. score two fixed feature extractors on the SYSU all-search single-shot
   protocol (10 gallery trials): raw pixels and the untrained Base;
3. train the small Base (``configs/demo_synthvi.yaml``) and the small full SFCL
   (``configs/demo_synthvi_sfcl.yaml``: CFAM + SFIM + FAD loss, same backbone,
   recipe and data), one after the other;
4. print the rows side by side and write ``OUT/demo_results.json``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from sfcl.config import Config, load_config
from sfcl.data.synthvi import synthesize
from sfcl.data.sysu import load_sysu
from sfcl.engine.trainer import Trainer, evaluate_model, resolve_device, seed_everything
from sfcl.errors import SfclError
from sfcl.evaluation.baselines import raw_pixel_features
from sfcl.evaluation.protocols import evaluate, format_table
from sfcl.models import build_model

log = logging.getLogger(__name__)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ROWS = {"Base": "demo_synthvi.yaml", "SFCL": "demo_synthvi_sfcl.yaml"}  # row name -> config, trained in order
PROTOCOL = "sysu-all-single"
DEFAULT_IDS = 120
OCCLUSION_RATIO = 0.5  # half of every split's images get an occluder (docs/DESIGN.md, "The demo")


def demo_config(row: str, out: Path, epochs: int | None, seed: int, occluded: bool = True,
                overrides: list[str] | None = None) -> Config:
    """The config of one demo row (``ROWS``), pointed at the demo's data and ``out/run_<row>``."""
    path = CONFIGS / ROWS[row]
    if not path.is_file():
        raise SfclError(f"missing {path}: the demo runs from a checkout of the sfcl repository")
    root = out / ("occ_synthvi" if occluded else "synthvi")
    items = [f"data.root={root}", f"train.output_dir={out / f'run_{row.lower()}'}", f"train.seed={seed}",
             f"eval.protocols=[{PROTOCOL}]"]
    if epochs is not None:
        items.append(f"train.epochs={epochs}")
    return load_config(path, items + list(overrides or []))


def prepare_data(out: Path, num_ids: int, seed: int, occluded: bool, ratio: float = OCCLUSION_RATIO) -> Path:
    """SynthVI under ``out/synthvi`` and, if ``occluded``, Occ-SynthVI under ``out/occ_synthvi``
    (``ratio`` of every split's images occluded by the built-in library).

    Both steps are resumable: a rerun skips the images already written.
    """
    tic = time.time()
    clean = synthesize(out / "synthvi", num_ids=num_ids, seed=seed, workers=2, progress=True)
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


def run_demo(out: Path, num_ids: int | None = None, epochs: int | None = None, seed: int = 0,
             occluded: bool = True, overrides: list[str] | None = None) -> dict:
    """Run the demo and return ``{row name: protocol results}``.

    ``occluded=False`` trains and evaluates on plain SynthVI; ``overrides`` are
    ``section.key=value`` items applied on top of every row's config.
    """
    ids = num_ids or DEFAULT_IDS
    configs = {row: demo_config(row, out, epochs, seed, occluded, overrides) for row in ROWS}
    prepare_data(out, ids, seed, occluded)
    base = configs["Base"]
    dataset = load_sysu(base.data.root)
    rows: dict[str, dict] = {}
    rows["raw pixels (fixed)"] = evaluate(PROTOCOL, raw_pixel_features(dataset.test), dataset.test,
                                          num_trials=base.eval.num_trials)
    device = resolve_device(base.train.device)
    seed_everything(seed)
    untrained = build_model(base.model, dataset.num_classes, (base.data.height, base.data.width)).to(device)
    rows["Base, untrained"] = evaluate_model(untrained, dataset, base, device)[PROTOCOL]
    for row, cfg in configs.items():
        tic = time.time()
        results = Trainer(cfg).fit()
        minutes = (time.time() - tic) / 60
        rows[f"{row}, trained {cfg.train.epochs} ep ({minutes:.1f} min)"] = results["final"][PROTOCOL]
    name = f"Occ-SynthVI (ratio {OCCLUSION_RATIO})" if occluded else "SynthVI"
    print(f"\n{name}, {ids} ids, protocol {PROTOCOL}, {base.eval.num_trials} gallery trials, "
          f"{torch.get_num_threads()} CPU threads")
    print(format_table(rows))
    (out / "demo_results.json").write_text(json.dumps(rows, indent=2))
    return rows
