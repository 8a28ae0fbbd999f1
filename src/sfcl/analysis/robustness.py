"""``sfcl robustness``: R1 / mAP of one or several checkpoints against the occlusion ratio.

The test split (query and gallery) of a clean dataset is re-occluded at each
ratio with the occlusion builder (``occlude_dataset(splits=("query",
"gallery"), ratio=r)``), once per ratio into ``OUT/ratio_0.30/`` etc., each with
its manifest, so the curve can be rebuilt byte for byte; ratio 0 is the clean
data itself. The per-image draw (``is_selected``) is nested: every image
occluded at ratio r is also occluded at any larger ratio, with the same
occluder. A rerun reuses finished builds (the builder skips what is done).

Every checkpoint is scored on every ratio with its own config's input size and
the chosen protocol (``evaluate_model``); results go to ``OUT/robustness.json``
as ``{label: {"0.30": {r1, r5, r10, r20, mAP, mINP}}}`` and one chart
``OUT/robustness.png`` (R1 and mAP against the ratio, one line per checkpoint).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from sfcl.config import Config
from sfcl.data import build_dataset
from sfcl.data.base import ReIDDataset
from sfcl.engine.checkpoint import model_from_checkpoint
from sfcl.engine.runtime import resolve_device
from sfcl.errors import SfclError
from sfcl.evaluation.extract import evaluate_model
from sfcl.fileio import atomic_write

log = logging.getLogger(__name__)
DEFAULT_RATIOS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
TEST_SPLITS: tuple[str, ...] = ("query", "gallery")
METRICS: tuple[str, ...] = ("r1", "r5", "r10", "r20", "mAP", "mINP")
RESULTS_NAME, CHART_NAME = "robustness.json", "robustness.png"
CHART_SIZE: tuple[int, int] = (1100, 450)  # width, height in pixels


@dataclass
class Scored:
    """One checkpoint, loaded once: its label, eval-mode model and config."""

    label: str
    model: torch.nn.Module
    cfg: Config


def ratio_key(ratio: float) -> str:
    """``0.3`` -> ``"0.30"`` (two decimals, or as many as the ratio needs: ``0.125`` -> ``"0.125"``)."""
    return f"{ratio:.2f}" if round(ratio, 2) == ratio else f"{ratio:g}"


def parse_ratios(text: str | list[float] | tuple[float, ...]) -> list[float]:
    """``"0,0.1,0.5"`` -> [0.0, 0.1, 0.5], sorted, deduplicated; each must lie in [0, 1]."""
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        ratios = sorted({round(float(r), 6) for r in items if str(r).strip()})
    except ValueError:
        raise SfclError(f"ratios {text!r}: expected comma-separated numbers, e.g. 0,0.1,0.3") from None
    if not ratios:
        raise SfclError("ratios: none given, expected e.g. 0,0.1,...,0.7")
    bad = [r for r in ratios if not 0.0 <= r <= 1.0]
    if bad:
        raise SfclError(f"ratio {bad[0]}: expected an occlusion ratio in [0, 1]")
    return ratios


def checkpoint_labels(paths: list[str | Path]) -> list[str]:
    """``run/last.pt`` style labels (parent folder / file name), the full path where two would clash."""
    short = [f"{Path(p).parent.name}/{Path(p).name}" for p in paths]
    return [s if short.count(s) == 1 else str(p) for s, p in zip(short, paths)]


def load_checkpoints(paths: list[str | Path], device: torch.device, protocol: str | None,
                     num_trials: int | None) -> list[Scored]:
    if not paths:
        raise SfclError("no --checkpoint given: expected at least one checkpoint written by `sfcl train`")
    scored = []
    for label, path in zip(checkpoint_labels(paths), paths):
        model, cfg = model_from_checkpoint(path, device)
        if protocol is not None:
            cfg.eval.protocols = [protocol]
        if num_trials is not None:
            cfg.eval.num_trials = int(num_trials)
        scored.append(Scored(label, model, cfg))
    return scored


def ratio_root(dataset: str, data_root: Path, out: Path, ratio: float, seed: int, workers: int,
               trial: int | None) -> Path:
    """The dataset root at ``ratio``: the clean data for 0, else an (already or newly) occluded copy."""
    if ratio == 0.0:
        return data_root
    from sfcl.occlusion.build import occlude_dataset

    result = occlude_dataset(dataset, data_root, out / f"ratio_{ratio_key(ratio)}", splits=TEST_SPLITS,
                             ratio=ratio, seed=seed, workers=workers, trial=trial)
    log.info("ratio %.2f: %d test images occluded (%d reused) in %s", ratio, result.placed, result.skipped,
             result.out)
    return Path(result.out)


def load_test_dataset(dataset: str, root: Path, trial: int | None) -> ReIDDataset:
    return build_dataset(dataset, root, **({"trial": trial} if trial is not None else {}))


def score(item: Scored, data: ReIDDataset, device: torch.device) -> dict[str, float]:
    """Metrics (percent) of one checkpoint on one dataset, under its first configured protocol."""
    results = evaluate_model(item.model, data, item.cfg, device)
    metrics = next(iter(results.values()))
    return {key: float(metrics[key]) for key in METRICS}


def robustness_curve(checkpoints: list[str | Path], dataset: str, data_root: str | Path, out: str | Path,
                     ratios: str | list[float] = DEFAULT_RATIOS, protocol: str | None = None, seed: int = 0,
                     workers: int = 1, trial: int | None = None, num_trials: int | None = None,
                     device: str = "auto") -> dict[str, dict[str, dict[str, float]]]:
    """Score every checkpoint at every occlusion ratio; writes the JSON and the chart under ``out``.

    Returns ``{checkpoint label: {ratio "0.30": {r1, r5, r10, r20, mAP, mINP}}}``.
    ``protocol`` / ``num_trials`` default to each checkpoint's own eval config.
    """
    ratio_list = parse_ratios(ratios)
    data_root, out = Path(data_root), Path(out)
    if not data_root.is_dir():
        raise SfclError(f"missing data root {data_root}: expected the clean {dataset} dataset folder")
    dev = resolve_device(device)
    scored = load_checkpoints(list(checkpoints), dev, protocol, num_trials)
    out.mkdir(parents=True, exist_ok=True)
    curves: dict[str, dict[str, dict[str, float]]] = {item.label: {} for item in scored}
    for ratio in ratio_list:
        data = load_test_dataset(dataset, ratio_root(dataset, data_root, out, ratio, seed, workers, trial), trial)
        for item in scored:
            curves[item.label][ratio_key(ratio)] = metrics = score(item, data, dev)
            log.info("%s ratio %.2f: R1 %.2f mAP %.2f", item.label, ratio, metrics["r1"], metrics["mAP"])
    atomic_write(out / RESULTS_NAME, (json.dumps(curves, indent=2) + "\n").encode(), durable=False)
    draw_chart(curves, out / CHART_NAME, title=f"{dataset}: test split occluded at each ratio")
    return curves


def draw_chart(curves: dict[str, dict[str, dict[str, float]]], path: str | Path, title: str = "") -> Path:
    """Two panels, R1 and mAP against the occlusion ratio, one line per checkpoint; CHART_SIZE pixels."""
    from matplotlib.figure import Figure

    from sfcl.fileio import save_figure

    dpi = 100
    fig = Figure(figsize=(CHART_SIZE[0] / dpi, CHART_SIZE[1] / dpi))
    axes = fig.subplots(1, 2)
    for ax, key, name in zip(axes, ("r1", "mAP"), ("Rank-1 (%)", "mAP (%)")):
        for label, rows in curves.items():
            xs = sorted(rows, key=float)
            ax.plot([float(x) for x in xs], [rows[x][key] for x in xs], marker="o", label=label)
        ax.set_xlabel("occlusion ratio of query and gallery")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def format_curves(curves: dict[str, dict[str, dict[str, float]]]) -> str:
    """A plain-text table: one row per (checkpoint, ratio) with R1 and mAP."""
    lines = [f"{'checkpoint':<32} {'ratio':>5} {'R1':>6} {'mAP':>6}"]
    for label, rows in curves.items():
        for ratio in sorted(rows, key=float):
            lines.append(f"{label[-32:]:<32} {ratio:>5} {rows[ratio]['r1']:6.2f} {rows[ratio]['mAP']:6.2f}")
    return "\n".join(lines)
