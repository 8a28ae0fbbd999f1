"""Time ``sfcl occlude`` on the CPU: images occluded per second at SYSU-MM01 image sizes.

Synthesises a SynthVI source at 288 x 144 (SYSU-MM01's size after the usual
resize) unless ``--src`` is given, builds the occluded copy ``--repeats`` times
into fresh folders with ``--workers`` processes, and reports the best
images/s (wall clock of ``occlude_dataset``: enumeration, pool start-up,
decode, placement, calibration, encode, atomic writes, copies, manifest).
The built-in library is drawn once per process before timing; its cost is
printed separately.

    .venv/bin/python benchmarks/occlude_speed.py --workers 2 [--ids 40 --images-per-cam 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from sfcl.data.synthvi import synthesize  # noqa: E402
from sfcl.occlusion.build import occlude_dataset  # noqa: E402
from sfcl.occlusion.procedural import builtin_library  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=None, help="existing SYSU-layout dataset (default: synthesise SynthVI)")
    ap.add_argument("--ids", type=int, default=40)
    ap.add_argument("--images-per-cam", type=int, default=4)
    ap.add_argument("--height", type=int, default=288)
    ap.add_argument("--width", type=int, default=144)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sfcl-occ-bench-") as tmp:
        src = Path(args.src) if args.src else synthesize(
            Path(tmp) / "synthvi", num_ids=args.ids, images_per_cam=args.images_per_cam, height=args.height,
            width=args.width, workers=args.workers)
        tic = time.perf_counter()
        builtin_library()
        library_s = time.perf_counter() - tic
        times, placed = [], 0
        for k in range(args.repeats):
            out = Path(tmp) / f"occ{k}"
            tic = time.perf_counter()
            result = occlude_dataset("sysu", src, out, seed=0, workers=args.workers)
            times.append(time.perf_counter() - tic)
            placed = result.placed
            shutil.rmtree(out)
    best = min(times)
    report = {"images": placed, "workers": args.workers, "size": f"{args.height}x{args.width}",
              "best_s": round(best, 3), "images_per_s": round(placed / best, 1),
              "all_s": [round(t, 3) for t in times], "library_s": round(library_s, 3)}
    print(f"occluded {placed} images ({report['size']}) with {args.workers} workers: best {best:.2f} s of "
          f"{args.repeats} -> {report['images_per_s']} images/s (library drawn once: {library_s:.2f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
