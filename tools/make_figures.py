"""Regenerate the README's result pictures from SynthVI, on the CPU, in a few minutes:

    .venv/bin/python tools/make_figures.py      # writes docs/images/{swap,spectra,ranks,query,robustness}.png

1. synthesise a small SynthVI (SYSU-MM01 layout) and occlude a copy with the built-in library;
2. train the small Base of ``configs/demo_synthvi.yaml`` for a few short epochs (Trainer, as ``sfcl train``),
   once on SynthVI and once on its occluded copy;
3. draw: ``swap.png`` (``sfcl visualize swap`` with the checkpoint), ``spectra.png``
   (``sfcl visualize spectra`` clean vs occluded), ``ranks.png`` (``sfcl visualize ranks``,
   every row in one picture), ``query.png`` (``sfcl query`` of an infrared test image
   against the visible test images of cameras 1 and 2) and ``robustness.png``
   (``sfcl robustness`` of both checkpoints at test-split occlusion ratios 0, 0.1, ..., 0.7).

``--workdir DIR`` keeps the dataset, the run and the cache (default: a temporary folder).

``--demo OUT`` draws from a finished ``sfcl demo --out OUT`` instead (no training): its
SynthVI and Occ-SynthVI, its fine-tuned Base and SFCL checkpoints (rank lists, query and
swap from SFCL; robustness of both), and copies the two runs' ``curves.png`` as
``curves_base.png`` / ``curves_sfcl.png``:

    .venv/bin/python tools/make_figures.py --demo outputs/demo
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PNG_LIMIT = 300_000  # bytes: the README pictures stay small in the repository
NAMES = ("swap", "spectra", "ranks", "query", "robustness")
sys.path.insert(0, str(ROOT / "src"))
from sfcl.analysis.robustness import CHART_NAME, DEFAULT_RATIOS, format_curves, robustness_curve  # noqa: E402
from sfcl.config import load_config  # noqa: E402
from sfcl.data.synthvi import SynthConfig, split_ids, synthesize  # noqa: E402
from sfcl.engine.trainer import Trainer  # noqa: E402
from sfcl.occlusion.build import occlude_dataset  # noqa: E402
from sfcl.visualize.drawing import stack_rows  # noqa: E402
from sfcl.visualize.images import save_png  # noqa: E402
from sfcl.visualize.query import query_gallery  # noqa: E402
from sfcl.visualize.ranks import ranked_results, ranked_row  # noqa: E402
from sfcl.visualize.spectra import format_summary, visualize_spectra  # noqa: E402
from sfcl.visualize.swap import visualize_swap  # noqa: E402


def train_small(data: Path, run: Path, epochs: int, batches: int, seed: int) -> Path:
    """The demo config, shortened; returns the checkpoint."""
    cfg = load_config(ROOT / "configs" / "demo_synthvi.yaml", [
        f"data.root={data}", f"train.output_dir={run}", f"train.epochs={epochs}",
        f"train.batches_per_epoch={batches}", f"train.seed={seed}", "data.workers=0", "eval.num_trials=1",
        "optim.warmup_epochs=0"])
    results = Trainer(cfg).fit()
    final = results["final"]["sysu-all-single"]
    print(f"trained {epochs} x {batches} batches in {results['train_seconds']:.0f} s: "
          f"R1 {final['r1']:.1f} mAP {final['mAP']:.1f} (sysu-all-single, trial 0)")
    return run / "last.pt"


def compact_png(path: Path, limit: int = PNG_LIMIT) -> int:
    """Re-save a PNG above ``limit`` bytes with a 256-colour adaptive palette (dithered); returns its size."""
    from PIL import Image

    if path.stat().st_size > limit:
        with Image.open(path) as image:
            palette = image.convert("RGB").quantize(256, dither=Image.Dither.FLOYDSTEINBERG)
        palette.save(path, format="PNG", optimize=True)
    return path.stat().st_size


def visible_gallery(data: Path, out: Path, test_ids: list[int]) -> Path:
    """Copy the test identities' camera 1 and 2 images into ``out`` (a plain folder tree for sfcl query)."""
    for pid in test_ids:
        for cam in (1, 2):
            src = data / f"cam{cam}" / f"{pid:04d}"
            if src.is_dir():
                shutil.copytree(src, out / f"cam{cam}" / f"{pid:04d}", dirs_exist_ok=True)
    return out


def draw_all(data: Path, occluded: Path, checkpoint: Path, curve_checkpoints: list[Path], test_ids: list[int],
             work: Path, out: Path, seed: int) -> None:
    """The five pictures: swap, spectra, ranks and query from ``checkpoint``; robustness of ``curve_checkpoints``."""
    pid = test_ids[0]
    visualize_swap(data / "cam1" / f"{pid:04d}" / "0001.jpg", data / "cam3" / f"{pid:04d}" / "0001.jpg",
                   out / "swap.png", checkpoint=checkpoint, device="cpu")
    stats = visualize_spectra(data, out / "spectra.png", occluded_root=occluded, max_images=400, size=(128, 64))
    print(format_summary(stats))
    ranked = ranked_results(checkpoint, num_queries=5, topk=8, device="cpu")
    save_png(out / "ranks.png", stack_rows([ranked_row(item) for item in ranked]))
    print(f"ranks: rank-1 correct for {sum(item.matches[0] for item in ranked)} of {len(ranked)} queries")
    gallery = visible_gallery(data, work / "gallery", test_ids)
    result = query_gallery(checkpoint, gallery, data / "cam6" / f"{test_ids[1]:04d}" / "0002.jpg", topk=8,
                           cache_dir=work / "cache", device="cpu", save=out / "query.png")
    print("\n".join(result.lines()[:3]))
    curves = robustness_curve(curve_checkpoints, "sysu", data, work / "robustness", ratios=DEFAULT_RATIOS,
                              seed=seed, workers=2, device="cpu")
    print(format_curves(curves))
    shutil.copyfile(work / "robustness" / CHART_NAME, out / "robustness.png")


def from_demo(demo: Path, out: Path, seed: int) -> int:
    """Draw from ``sfcl demo``'s trained Base and SFCL (see the module docstring)."""
    tic = time.time()
    data, occluded = demo / "synthvi", demo / "occ_synthvi"
    base, sfcl = demo / "run_base" / "last.pt", demo / "run_sfcl" / "last.pt"
    for path in (data, occluded, base, sfcl):
        if not path.exists():
            print(f"error: missing {path}: run `sfcl demo --out {demo}` first", file=sys.stderr)
            return 2
    test_ids = [int(i) for i in (data / "exp" / "test_id.txt").read_text().strip().split(",")]
    with tempfile.TemporaryDirectory(prefix="sfcl-figures-") as tmp:
        draw_all(data, occluded, sfcl, [base, sfcl], test_ids, Path(tmp), out, seed)
    for row in ("base", "sfcl"):
        shutil.copyfile(demo / f"run_{row}" / "curves.png", out / f"curves_{row}.png")
    names = NAMES + ("curves_base", "curves_sfcl")
    sizes = {name: compact_png(out / f"{name}.png") for name in names}
    print(", ".join(f"{name}.png {size // 1000} KB" for name, size in sizes.items()),
          f"written to {out} in {time.time() - tic:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=str(ROOT / "docs" / "images"), help="where the five PNGs go")
    ap.add_argument("--workdir", default=None, help="keep the dataset and run here (default: a temp folder)")
    ap.add_argument("--ids", type=int, default=60, help="SynthVI identities")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batches", type=int, default=20, help="batches per epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--demo", default=None, help="a finished `sfcl demo --out` folder: draw from its trained models")
    args = ap.parse_args(argv)
    out = Path(args.out_dir)
    if args.demo:
        return from_demo(Path(args.demo), out, args.seed)
    tic = time.time()
    with tempfile.TemporaryDirectory(prefix="sfcl-figures-") as tmp:
        work = Path(args.workdir or tmp)
        data = synthesize(work / "synthvi", num_ids=args.ids, seed=args.seed, images_per_cam=4, workers=2)
        occluded = occlude_dataset("sysu", data, work / "occluded", seed=args.seed, workers=2).out
        print(f"SynthVI ({args.ids} ids) and its occluded copy in {time.time() - tic:.0f} s")
        checkpoint = train_small(data, work / "trained_on_synthvi", args.epochs, args.batches, args.seed)
        occluded_checkpoint = train_small(occluded, work / "trained_on_occ_synthvi", args.epochs, args.batches,
                                          args.seed)
        test_ids = split_ids(SynthConfig(num_ids=args.ids, seed=args.seed))["test"]
        draw_all(data, occluded, checkpoint, [checkpoint, occluded_checkpoint], test_ids, work, out, args.seed)
    sizes = {name: compact_png(out / f"{name}.png") for name in NAMES}
    print(", ".join(f"{name}.png {size // 1000} KB" for name, size in sizes.items()),
          f"written to {out} in {time.time() - tic:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
