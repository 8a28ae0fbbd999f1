"""``sfcl occlude`` and ``sfcl sol``: thin parsers over ``sfcl.occlusion`` (parse, call one function, print).

``sfcl.cli.build_parser`` registers them with ``add_parsers(sub)``.
"""

from __future__ import annotations

import argparse

from sfcl.data import dataset_names
from sfcl.errors import SfclError


def _cmd_occlude(args: argparse.Namespace) -> int:
    from sfcl.occlusion.build import DEFAULT_RATIO, occlude_dataset, rebuild_from_manifest

    if args.from_manifest is not None:
        given = [f"--{k}" for k in ("dataset", "splits", "ratio", "seed", "trial")
                 if getattr(args, k) is not None]
        if given:
            raise SfclError(f"sfcl occlude --from-manifest takes its {', '.join(given)} from the manifest: "
                            "expected only --src, --out, --workers and --library")
        result = rebuild_from_manifest(args.from_manifest, args.src, args.out, workers=args.workers,
                                       library=args.library, progress=True)
    else:
        missing = [f"--{k}" for k in ("dataset", "seed") if getattr(args, k) is None]
        if missing:
            raise SfclError(f"sfcl occlude: {' and '.join(missing)} required (or --from-manifest MANIFEST)")
        result = occlude_dataset(args.dataset, args.src, args.out, splits=args.splits or "train,query,gallery",
                                 ratio=DEFAULT_RATIO if args.ratio is None else args.ratio, seed=args.seed,
                                 workers=args.workers, library=args.library, trial=args.trial, progress=True)
    print(f"occluded {result.placed} images ({result.skipped} already done), copied {result.copied} files "
          f"into {result.out}; manifest {result.manifest}")
    if result.mismatched:
        print(f"warning: {len(result.mismatched)} images differ from the manifest's sha256 (other Pillow/OpenCV "
              f"build); first: {result.mismatched[0]}")
    if args.grid is not None:
        from sfcl.occlusion.grid import render_grid

        print(f"grid: {render_grid(args.src, result.out, args.grid)}")
    return 0


def _cmd_sol_build(args: argparse.Namespace) -> int:
    from sfcl.occlusion.segment import SamSegmenter, YoloSegDetector, build_sol

    detector = YoloSegDetector(args.detector, device=args.device)
    segmenter = None if args.segmenter is None else SamSegmenter(args.segmenter, args.sam_type, args.device)
    library = build_sol(args.images, args.out, detector, segmenter, min_score=args.min_score, scene=args.scene,
                        progress=True)
    print(f"{len(library.occluders)} occluders in {len(library.categories())} categories written to {args.out}")
    return 0


def _cmd_sol_export(args: argparse.Namespace) -> int:
    from sfcl.occlusion.library import write_library
    from sfcl.occlusion.procedural import builtin_library

    library = builtin_library()
    write_library(library, args.out)
    print(f"built-in library ({len(library.occluders)} occluders) written to {args.out}")
    return 0


def _cmd_sol_info(args: argparse.Namespace) -> int:
    from sfcl.occlusion.procedural import load_library

    library = load_library(args.library)
    print(f"{library.name}: {len(library.occluders)} occluders, digest {library.digest[:16]}")
    for category in library.categories():
        infos = [o.info for o in library.occluders if o.info.category == category]
        attrs = sorted({(i.scene, i.body_part, i.size_class) for i in infos})
        print(f"  {category:14s} {len(infos):4d}  " + "; ".join("/".join(a) for a in attrs))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``occlude`` and ``sol {build,export,info}`` on the ``sfcl`` subparsers."""
    p = sub.add_parser("occlude", help="build the occluded copy of a dataset (Occ-SYSU-MM01 etc.: source layout + manifest)")
    p.add_argument("--dataset", choices=dataset_names(), default=None,
                   help="layout of --src (required, unless --from-manifest)")
    p.add_argument("--src", required=True, help="the original dataset root")
    p.add_argument("--out", required=True, help="output folder (same layout as --src)")
    p.add_argument("--splits", default=None, help="comma-separated subset of train,query,gallery (default: all)")
    p.add_argument("--ratio", type=float, default=None, help="fraction of those splits' images occluded (default 1)")
    p.add_argument("--seed", type=int, default=None,
                   help="the occlusion draw: the benchmark is a function of it (required, unless --from-manifest)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (the output does not depend on it)")
    p.add_argument("--library", default=None, help="SOL folder (default: the built-in procedural library)")
    p.add_argument("--trial", type=int, default=None, help="RegDB: occlude by this trial's split lists only")
    p.add_argument("--from-manifest", default=None, help="rebuild the exact dataset a manifest describes")
    p.add_argument("--grid", default=None, help="also write a before/after picture grid to this PNG")
    p.set_defaults(func=_cmd_occlude, on_interrupt="finished images are kept: rerun the same command to continue the build")

    p = sub.add_parser("sol", help="the Semantic Occlusion Library: build from images, export, inspect")
    sol = p.add_subparsers(dest="sol_command", required=True, help="what to do")
    b = sol.add_parser("build", help="extract occluders with YOLOv8-seg + SAM from local weight files")
    b.add_argument("--images", required=True, help="folder of surveillance images")
    b.add_argument("--detector", required=True, help="YOLOv8-seg weights file, e.g. yolov8x-seg.pt")
    b.add_argument("--segmenter", default=None, help="SAM checkpoint, e.g. sam_vit_h_4b8939.pth "
                                                     "(default: the detector's own masks)")
    b.add_argument("--sam-type", default=None, choices=["vit_h", "vit_l", "vit_b"],
                   help="SAM architecture of --segmenter (default: read from the file name)")
    b.add_argument("--out", required=True, help="SOL folder to write")
    b.add_argument("--min-score", type=float, default=0.5, help="drop detections below this confidence")
    b.add_argument("--scene", default=None, choices=["indoor", "outdoor", "any"], help="override class defaults")
    b.add_argument("--device", default="cpu", help="torch device for the detector and SAM")
    b.set_defaults(func=_cmd_sol_build)
    e = sol.add_parser("export", help="write the built-in procedural library as a SOL folder")
    e.add_argument("--out", required=True, help="SOL folder to write")
    e.set_defaults(func=_cmd_sol_export)
    i = sol.add_parser("info", help="validate a SOL folder and list its categories")
    i.add_argument("library", nargs="?", default="builtin", help="SOL folder, or builtin")
    i.set_defaults(func=_cmd_sol_info)
