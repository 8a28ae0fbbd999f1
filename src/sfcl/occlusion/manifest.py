"""The occlusion manifest: JSON Lines, a header then one record per occluded image.

With the original dataset and the occluder library, the manifest rebuilds the
occluded dataset byte for byte (``sfcl occlude --from-manifest``), so a
benchmark is shared without redistributing anyone's images. Line 1::

    {"format": "sfcl-occlusion-manifest", "version": 1, "dataset": "sysu",
     "splits": ["train", "query", "gallery"], "ratio": 1.0, "seed": 0, "trial": null,
     "library": "builtin", "library_digest": "...", "source_images": 30071,
     "source_fingerprint": "...", "placements": 30071, "jpeg_quality": 95}

then one line per occluded image, sorted by ``path``::

    {"path": "cam3/0001/0001.jpg", "splits": ["query"], "modality": "nir", "pid": 1, "cam": 3,
     "scene": "indoor", "size": [288, 144], "source_sha256": "...", "occluder": "pole_003",
     "category": "pole", "rule": "full", "scale": 0.4121, "box": [40, 0, 99, 288], "flip": false,
     "feather": 1.02, "smooth": 0.8, "seed": 0,
     "calibration": {"method": "gray-norm-hist-blur", "sigma": 0.8, "rank_sigma": 1.0, "norm": [12.0, 201.0],
                     "target_mean": 87.2, "occluder_mean": 90.1},
     "coverage": 0.2043, "output_sha256": "..."}

Rendering reads ``path``, ``modality``, ``occluder``, ``box``, ``flip``,
``feather`` and ``smooth``; the rest documents the placement and lets a rebuild
check its inputs (``source_sha256``) and outputs (``output_sha256``).
Lines are ``json.dumps(..., sort_keys=True)``; floats round-trip exactly.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from sfcl.errors import SfclError
from sfcl.fileio import read_text_file
from sfcl.occlusion.io import atomic_write
from sfcl.occlusion.placement import Placement

FORMAT = "sfcl-occlusion-manifest"
VERSION = 1
NAME = "occlusion_manifest.jsonl"
HEADER_KEYS: tuple[str, ...] = ("dataset", "splits", "ratio", "seed", "trial", "library_digest",
                                "source_images", "source_fingerprint")
_RENDER_KEYS: dict[str, type | tuple[type, ...]] = {
    "path": str, "modality": str, "source_sha256": str, "occluder": str, "box": list, "flip": bool,
    "feather": (int, float), "output_sha256": str,
}


def dumps(obj: dict) -> str:
    return json.dumps(obj, sort_keys=True)


def placement_fields(p: Placement) -> dict:
    """The record fields that describe ``p``."""
    return {"occluder": p.occluder, "category": p.category, "rule": p.rule, "scale": p.scale,
            "box": list(p.box), "flip": p.flip, "feather": p.feather, "smooth": p.smooth}


def placement_of(rec: dict) -> Placement:
    """The :class:`Placement` a record describes (inverse of :func:`placement_fields`)."""
    return Placement(rec["occluder"], rec.get("category", ""), rec.get("rule", ""), float(rec.get("scale", 0.0)),
                     tuple(int(v) for v in rec["box"]), bool(rec["flip"]), float(rec["feather"]),
                     None if rec.get("smooth") is None else float(rec["smooth"]))


def write_manifest(path: Path, header: dict, records: list[dict]) -> None:
    """Write header + records (sorted by path) atomically."""
    head = {"format": FORMAT, "version": VERSION, **header, "placements": len(records)}
    lines = [dumps(head)] + [dumps(r) for r in sorted(records, key=lambda r: r["path"])]
    atomic_write(path, ("\n".join(lines) + "\n").encode())


def _check_record(rec: object, where: str) -> dict:
    if not isinstance(rec, dict):
        raise SfclError(f"{where}: expected a JSON object")
    for key, kind in _RENDER_KEYS.items():
        if not isinstance(rec.get(key), kind):
            raise SfclError(f"{where}: missing or malformed {key!r}: expected the fields sfcl occlude writes")
    box = rec["box"]
    if len(box) != 4 or not all(isinstance(v, int) for v in box) or box[2] <= box[0] or box[3] <= box[1]:
        raise SfclError(f"{where}: box {box}: expected [x0, y0, x1, y1] integers with x1 > x0, y1 > y0")
    rel = PurePosixPath(rec["path"])
    if rel.is_absolute() or ".." in rel.parts:
        raise SfclError(f"{where}: path {rec['path']!r}: expected a path relative to the dataset root")
    if rec["modality"] not in ("vis", "nir") or rec["feather"] <= 0:
        raise SfclError(f"{where}: modality {rec['modality']!r} / feather {rec['feather']}: expected vis|nir, > 0")
    return rec


def read_manifest(path: str | Path) -> tuple[dict, list[dict]]:
    """Parse and check a manifest; returns (header, records). Problems raise :class:`SfclError` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise SfclError(f"missing manifest {path}: expected the {NAME} written by sfcl occlude")
    lines = [ln for ln in read_text_file(path, f"the {NAME} written by sfcl occlude (JSON Lines)").splitlines() if ln.strip()]
    try:
        parsed = [json.loads(ln) for ln in lines]
    except ValueError as err:
        raise SfclError(f"unparsable manifest {path} ({err}): expected JSON Lines") from None
    if not parsed or not isinstance(parsed[0], dict) or parsed[0].get("format") != FORMAT:
        raise SfclError(f"{path} line 1: expected a header with format {FORMAT!r}")
    header = parsed[0]
    if header.get("version", 0) > VERSION:
        raise SfclError(f"{path}: manifest version {header.get('version')}: this sfcl reads up to {VERSION}")
    missing = [k for k in HEADER_KEYS if k not in header]
    if missing:
        raise SfclError(f"{path} line 1: header lacks {', '.join(missing)}: expected the header sfcl occlude writes")
    records = [_check_record(rec, f"{path} line {i}") for i, rec in enumerate(parsed[1:], 2)]
    if len({r["path"] for r in records}) != len(records):
        raise SfclError(f"{path}: an image path appears twice: expected one record per occluded image")
    return header, records
