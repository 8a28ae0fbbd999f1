"""Render the README's occlusion picture grid: visible/infrared pairs before and after occlusion.

Synthesises a small SynthVI (SYSU-MM01 layout) into a work folder, occludes it
with the built-in library, and writes the grid PNG:

    .venv/bin/python tools/occlusion_grid.py --out docs/images/occlusion_grid.png

``--src DIR --dataset sysu`` uses an existing dataset instead (e.g. the real SYSU-MM01).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from sfcl.data.synthvi import synthesize  # noqa: E402
from sfcl.occlusion.build import occlude_dataset  # noqa: E402
from sfcl.occlusion.grid import render_grid  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images/occlusion_grid.png", help="PNG to write")
    ap.add_argument("--src", default=None, help="existing dataset root (default: synthesise SynthVI)")
    ap.add_argument("--dataset", default="sysu", choices=["sysu", "regdb", "llcm"])
    ap.add_argument("--workdir", default=None, help="where SynthVI and the occluded copy go (default: a temp dir)")
    ap.add_argument("--ids", type=int, default=8, help="SynthVI identities")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--per-row", type=int, default=2)
    ap.add_argument("--tile-height", type=int, default=160, help="tile size in px (width is half)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sfcl-grid-") as tmp:
        work = Path(args.workdir or tmp)
        src = Path(args.src) if args.src else synthesize(work / "synthvi", num_ids=args.ids, seed=args.seed,
                                                         images_per_cam=1, height=288, width=144,
                                                         workers=args.workers)
        occluded = occlude_dataset(args.dataset, src, work / "occluded", seed=args.seed, workers=args.workers)
        png = render_grid(src, occluded.out, args.out, rows=args.rows, per_row=args.per_row,
                          height=args.tile_height, width=args.tile_height // 2)
    print(f"grid written to {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
