"""The SFCL ablation on Occ-SynthVI: Base, +CFAM, +CFAM+SFIM, SFCL, several seeds each.

Synthesises SynthVI and occludes every split (``sfcl.demo.prepare_data``, as
``sfcl demo``), then trains each of the four ablation configs once per seed on
the same data (the seed is the training seed: initialisation, sampling,
augmentation), evaluates sysu-all-single and writes, under ``--out``:

- ``ablation.json``: every run's R1/mAP and each row's mean and std over seeds;
- ``ablation.md``: the table (mean ± std, sample std over seeds);
- ``ablation.png``: a bar chart of R1 and mAP per row with std error bars.

    # the CPU proxy: the demo's data (360 ids, 36 test) and the demo configs at their own size
    .venv/bin/python benchmarks/ablation_synthvi.py --out outputs/ablation
    # a quick look
    .venv/bin/python benchmarks/ablation_synthvi.py --out outputs/ablation_small --ids 60 --epochs 3 --batches 20

``--epochs 0`` / ``--batches 0`` (the default) keep the configs' values. Rows with CFAM are
also scored with O_fre zeroed at test time (``zeroed_mAP``: does the frequency branch carry weight?). Trailing
``section.key=value`` items override every config. A run whose ``results.json``
was written with the same config is reused, so an interrupted study resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from sfcl.config import Config, load_config  # noqa: E402
from sfcl.data.sysu import load_sysu  # noqa: E402
from sfcl.demo import prepare_data  # noqa: E402
from sfcl.engine.trainer import Trainer  # noqa: E402
from sfcl.evaluation.extract import evaluate_model  # noqa: E402
from sfcl.models.reid import frequency_disabled  # noqa: E402

PROTOCOL = "sysu-all-single"
ROWS: dict[str, str] = {
    "Base": "demo_synthvi.yaml",
    "+CFAM": "demo_synthvi_cfam.yaml",
    "+CFAM+SFIM": "demo_synthvi_cfam_sfim.yaml",
    "SFCL (+CFAM+SFIM+FAD)": "demo_synthvi_sfcl.yaml",
}
CHART_SIZE: tuple[int, int] = (1000, 500)  # width, height in pixels
log = logging.getLogger("ablation")


def run_config(row: str, seed: int, args: argparse.Namespace, data: Path) -> Config:
    """The row's config for one seed with the study's size and output folder."""
    items = [f"data.root={data}", f"train.seed={seed}", f"eval.protocols=[{PROTOCOL}]",
             f"train.output_dir={Path(args.out) / 'runs' / ROWS[row].removesuffix('.yaml') / f'seed{seed}'}",
             f"data.workers={args.workers}", f"eval.num_trials={args.trials}", "train.progress=false",
             "train.eval_every=0"]
    if args.epochs > 0:
        items.append(f"train.epochs={args.epochs}")
    if args.batches > 0:
        items.append(f"train.batches_per_epoch={args.batches}")
    return load_config(ROOT / "configs" / ROWS[row], items + list(args.overrides))


def train_once(cfg: Config, dataset) -> dict:
    """Train (or reuse a finished run of the same config); returns ``{r1, mAP, train_seconds}``."""
    done = Path(cfg.train.output_dir) / "results.json"
    zeroed_file = done.with_name("zeroed_o_fre.json")
    if done.is_file():
        previous = json.loads(done.read_text())
        if previous.get("config") == cfg.to_dict() and previous.get("final"):
            log.info("reusing %s", done)
            zeroed = json.loads(zeroed_file.read_text()) if zeroed_file.is_file() else None
            return summary(previous, zeroed)
    trainer = Trainer(cfg, dataset=dataset)
    results = trainer.fit()
    zeroed = None
    if trainer.model.cfam is not None:
        with frequency_disabled(trainer.model):
            zeroed = evaluate_model(trainer.model, dataset, cfg, trainer.device)[PROTOCOL]
        zeroed_file.write_text(json.dumps(zeroed, indent=2))
    return summary(results, zeroed)


def summary(results: dict, zeroed: dict | None = None) -> dict:
    final = results["final"][PROTOCOL]
    row = {"r1": final["r1"], "mAP": final["mAP"], "train_seconds": results["train_seconds"]}
    if zeroed is not None:
        row["zeroed_mAP"] = zeroed["mAP"]
    return row


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(runs: dict[str, list[dict]]) -> dict[str, dict]:
    rows = {}
    for row, items in runs.items():
        r1, r1_std = mean_std([r["r1"] for r in items])
        m_ap, m_ap_std = mean_std([r["mAP"] for r in items])
        rows[row] = {"config": ROWS[row], "runs": items, "r1": r1, "r1_std": r1_std, "mAP": m_ap, "mAP_std": m_ap_std}
    return rows


def markdown_table(rows: dict[str, dict], seeds: list[int]) -> str:
    lines = [f"| row | config | R1 (mean ± std, {len(seeds)} seeds) | mAP (mean ± std) | mAP per seed "
             "| mAP, O_fre zeroed at test | train s / run |",
             "|---|---|---:|---:|---|---:|---:|"]
    for row, r in rows.items():
        seconds = statistics.fmean(run["train_seconds"] for run in r["runs"])
        per_seed = " / ".join(f"{run['mAP']:.2f}" for run in r["runs"])
        zeroed = [run["zeroed_mAP"] for run in r["runs"] if "zeroed_mAP" in run]
        zeroed_text = f"{statistics.fmean(zeroed):.2f}" if zeroed else "–"
        lines.append(f"| {row} | `{r['config']}` | {r['r1']:.2f} ± {r['r1_std']:.2f} | "
                     f"{r['mAP']:.2f} ± {r['mAP_std']:.2f} | {per_seed} | {zeroed_text} | {seconds:.0f} |")
    return "\n".join(lines) + "\n"


def bar_chart(rows: dict[str, dict], path: Path, title: str) -> Path:
    """Grouped bars (R1, mAP) per ablation row with std error bars and the means written on top; CHART_SIZE px."""
    from matplotlib.figure import Figure

    from sfcl.fileio import save_figure

    dpi = 100
    fig = Figure(figsize=(CHART_SIZE[0] / dpi, CHART_SIZE[1] / dpi))
    ax = fig.subplots()
    names = list(rows)
    for offset, key, colour in ((-0.2, "r1", "#4C72B0"), (0.2, "mAP", "#DD8452")):
        bars = ax.bar([x + offset for x in range(len(names))], [rows[n][key] for n in names], width=0.4,
                      yerr=[rows[n][f"{key}_std"] for n in names], capsize=4, color=colour,
                      label="R1" if key == "r1" else "mAP")
        ax.bar_label(bars, fmt="%.1f", padding=2, fontsize=8)
    ax.set_xticks(list(range(len(names))), names)
    ax.set_ylabel("percent (mean ± std over seeds)")
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, path, dpi)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="outputs/ablation", help="data, runs and results go here")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    ap.add_argument("--epochs", type=int, default=0, help="epochs per run (0: the configs' own)")
    ap.add_argument("--batches", type=int, default=0, help="batches per epoch (0: the configs' own)")
    ap.add_argument("--ids", type=int, default=360, help="SynthVI identities (36 of them held out for test)")
    ap.add_argument("--data-seed", type=int, default=0, help="seed of SynthVI and its occlusion")
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of the rows")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    ap.add_argument("--trials", type=int, default=10, help="gallery trials of the protocol")
    ap.add_argument("overrides", nargs="*", help="section.key=value applied to every config")
    args = ap.parse_intermixed_args(argv)  # options before or after the section.key=value items
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.row_list = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in args.row_list if r not in ROWS]
    if unknown or not args.seed_list:
        ap.error(f"--rows: unknown {unknown} (valid: {', '.join(ROWS)})" if unknown else "--seeds: none given")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    out = Path(args.out)
    tic = time.time()
    data = prepare_data(out, args.ids, args.data_seed, occluded=True)
    dataset = load_sysu(data)
    runs: dict[str, list[dict]] = {}
    for row in args.row_list:
        for seed in args.seed_list:
            result = train_once(run_config(row, seed, args, data), dataset)
            runs.setdefault(row, []).append({"seed": seed, **result})
            log.info("%s seed %d: R1 %.2f mAP %.2f (%.0f s)", row, seed, result["r1"], result["mAP"],
                     result["train_seconds"])
    rows = aggregate(runs)
    wall = time.time() - tic
    settings = {"ids": args.ids, "data_seed": args.data_seed, "seeds": args.seed_list, "epochs": args.epochs,
                "batches": args.batches, "overrides": list(args.overrides), "protocol": PROTOCOL,
                "trials": args.trials, "wall_seconds": wall, "threads": torch.get_num_threads(),
                "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "torch": torch.__version__}
    (out / "ablation.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=2))
    table = markdown_table(rows, args.seed_list)
    (out / "ablation.md").write_text(table)
    bar_chart(rows, out / "ablation.png", f"Occ-SynthVI ({args.ids} ids), {PROTOCOL}, {len(args.seed_list)} seeds")
    print(table)
    print(f"wall {wall / 60:.1f} min; ablation.json, ablation.md, ablation.png in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
