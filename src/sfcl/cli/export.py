"""``sfcl export``: a checkpoint's single-image inference model to ONNX, checked with onnxruntime."""

from __future__ import annotations

import argparse


def _cmd_export(args: argparse.Namespace) -> int:
    from sfcl.errors import SfclError
    from sfcl.export import export_onnx

    if args.opset < 18:
        raise SfclError(f"sfcl export --opset {args.opset}: expected at least 18 (the FFTs need ONNX DFT-20 or "
                        "the opset-18 exporter)")
    out = export_onnx(args.checkpoint, args.out, opset=args.opset)
    print(f"onnx: {out} ({out.stat().st_size / 2**20:.1f} MiB; onnxruntime matches PyTorch)")
    return 0


DEFAULT_OPSET = 18  # sfcl.export.DEFAULT_OPSET (kept here so building the parser imports no torch; a test pins both)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint's inference model (images, modality -> embedding) to ONNX")
    p.add_argument("--checkpoint", required=True, help="checkpoint written by sfcl train")
    p.add_argument("--out", required=True, help="ONNX file to write, ending in .onnx (the config is stored in its metadata)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset version")
    p.set_defaults(func=_cmd_export)
