"""SOL, the Semantic Occlusion Library: occluders with pixel masks and the attribute tuple.

Paper ("Semantic Occlusion Dataset Construction"): every occluder o_i carries
phi(o_i) = (c_i, s_i^sce, p_i^pt, s_i^siz): category, scene, typical body part
and size class. Here an occluder is an RGBA image whose alpha is its mask.

Folder format (what ``sfcl sol build`` and ``sfcl sol export`` write)::

    <lib>/occluders.jsonl       one JSON object a line:
        {"id": "pole_000", "file": "images/pole_000.png", "category": "pole",
         "scene": "outdoor", "body_part": "full", "size_class": "large", "source": "..."}
    <lib>/images/<id>.png       RGBA, alpha = mask (0 outside, 255 inside)

``scene`` is ``indoor``, ``outdoor`` or ``any`` (the cameras it suits);
``body_part`` is where on a person it typically lands and picks the placement
rule (``upper``: from the top, ``lower``: from the ground, ``full``: full
height, ``side``: at the left or right edge); ``size_class`` is ``small``,
``medium`` or ``large`` (metadata). ``source`` is free text (provenance).

The library's ``digest`` hashes the attributes and the decoded pixels, not the
file bytes or paths, so the built-in library exported to a folder has the same
digest as the one generated in memory; manifests record it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sfcl.errors import SfclError
from sfcl.fileio import read_text_file
from sfcl.imageio import open_image
from sfcl.occlusion.io import atomic_write, encode_png

SCENES: tuple[str, ...] = ("indoor", "outdoor", "any")
BODY_PARTS: tuple[str, ...] = ("upper", "lower", "full", "side")
SIZE_CLASSES: tuple[str, ...] = ("small", "medium", "large")
METADATA = "occluders.jsonl"
IMAGES = "images"
BUILTIN = "builtin"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REQUIRED = ("id", "file", "category", "scene", "body_part", "size_class")
MIN_SIDE = 4


@dataclass(frozen=True)
class OccluderInfo:
    """The attribute tuple of one occluder plus its id and provenance."""

    id: str
    category: str
    scene: str
    body_part: str
    size_class: str
    source: str = ""

    def attributes(self) -> dict[str, str]:
        return {"id": self.id, "category": self.category, "scene": self.scene,
                "body_part": self.body_part, "size_class": self.size_class}


@dataclass(frozen=True)
class Occluder:
    """An occluder: its attributes and its RGBA pixels, uint8 (h, w, 4)."""

    info: OccluderInfo
    rgba: np.ndarray


@dataclass(frozen=True)
class OcclusionLibrary:
    """A loaded SOL: ``name`` (``"builtin"`` or the folder) and occluders sorted by id."""

    name: str
    occluders: tuple[Occluder, ...]
    digest: str

    def by_id(self) -> dict[str, Occluder]:
        return {o.info.id: o for o in self.occluders}

    def categories(self) -> list[str]:
        return sorted({o.info.category for o in self.occluders})

    def for_scene(self, category: str, scene: str) -> list[Occluder]:
        """Occluders of ``category`` usable in ``scene`` (theirs equal or ``any``; ``any`` images take all)."""
        return [o for o in self.occluders if o.info.category == category
                and (scene == "any" or o.info.scene in (scene, "any"))]


def validate_info(info: OccluderInfo, where: str) -> None:
    """Raise :class:`SfclError` naming ``where`` when an attribute is outside its vocabulary."""
    if not _ID_RE.match(info.id):
        raise SfclError(f"{where}: occluder id {info.id!r}: expected letters, digits, '_', '.', '-'")
    if not info.category.strip():
        raise SfclError(f"{where}: empty category: expected a name such as 'pole'")
    for key, allowed in (("scene", SCENES), ("body_part", BODY_PARTS), ("size_class", SIZE_CLASSES)):
        value = getattr(info, key)
        if value not in allowed:
            raise SfclError(f"{where}: {key}={value!r}: expected one of {', '.join(allowed)}")


def validate_rgba(rgba: np.ndarray, where: str) -> None:
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise SfclError(f"{where}: expected an RGBA uint8 image, got shape {rgba.shape} {rgba.dtype}")
    if min(rgba.shape[:2]) < MIN_SIDE:
        raise SfclError(f"{where}: occluder {rgba.shape[1]}x{rgba.shape[0]} px: expected at least "
                        f"{MIN_SIDE} px a side")
    if int(rgba[..., 3].max()) < 128:
        raise SfclError(f"{where}: alpha mask is empty: expected some pixels with alpha >= 128")


def library_digest(occluders: list[Occluder] | tuple[Occluder, ...]) -> str:
    """sha256 over each occluder's attributes, shape and pixels, in id order."""
    h = hashlib.sha256()
    for occ in sorted(occluders, key=lambda o: o.info.id):
        h.update(json.dumps(occ.info.attributes(), sort_keys=True).encode())
        h.update(repr(occ.rgba.shape).encode())
        h.update(np.ascontiguousarray(occ.rgba).tobytes())
    return h.hexdigest()


def make_library(name: str, occluders: list[Occluder]) -> OcclusionLibrary:
    """Validate ``occluders`` (unique ids, attributes, pixels) and wrap them in a library."""
    if not occluders:
        raise SfclError(f"occlusion library {name} is empty: expected at least one occluder")
    seen: set[str] = set()
    for occ in occluders:
        where = f"occluder {occ.info.id} of {name}"
        if occ.info.id in seen:
            raise SfclError(f"{where}: duplicate id: expected unique occluder ids")
        seen.add(occ.info.id)
        validate_info(occ.info, where)
        validate_rgba(occ.rgba, where)
    ordered = tuple(sorted(occluders, key=lambda o: o.info.id))
    return OcclusionLibrary(name, ordered, library_digest(ordered))


def _read_png(path: Path, where: str) -> np.ndarray:
    if not path.is_file():
        raise SfclError(f"missing occluder image {path} ({where}): expected an RGBA PNG")
    im = open_image(path, f"{path} ({where})", what="occluder image", expected="an RGBA PNG")
    if im.mode != "RGBA":
        raise SfclError(f"occluder image {path} has mode {im.mode} ({where}): expected RGBA")
    return np.asarray(im, dtype=np.uint8).copy()


def _parse_line(line: str, meta: Path, lineno: int) -> tuple[OccluderInfo, str]:
    where = f"{meta} line {lineno}"
    try:
        rec = json.loads(line)
    except ValueError:
        raise SfclError(f"unparsable {where}: expected one JSON object a line") from None
    if not isinstance(rec, dict):
        raise SfclError(f"{where}: expected a JSON object")
    missing = [k for k in _REQUIRED if not isinstance(rec.get(k), str)]
    if missing:
        raise SfclError(f"{where}: missing or non-string key(s) {', '.join(missing)}: expected "
                        f"{', '.join(_REQUIRED)}")
    info = OccluderInfo(rec["id"], rec["category"], rec["scene"], rec["body_part"], rec["size_class"],
                        str(rec.get("source", "")))
    validate_info(info, where)
    return info, rec["file"]


def load_library_dir(folder: str | Path) -> OcclusionLibrary:
    """Load and validate a SOL folder (see the module docstring for the format)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SfclError(f"missing occlusion library folder {folder}: expected a folder with {METADATA}")
    meta = folder / METADATA
    if not meta.is_file():
        raise SfclError(f"missing {meta}: expected the SOL metadata file (one JSON object a line)")
    occluders: list[Occluder] = []
    root = folder.resolve()
    for lineno, line in enumerate(read_text_file(meta, "the SOL metadata file (one JSON object a line)").splitlines(), 1):
        if not line.strip():
            continue
        info, rel = _parse_line(line, meta, lineno)
        path = (folder / rel).resolve()
        if root not in path.parents:
            raise SfclError(f"{meta} line {lineno}: file {rel!r} is outside {folder}: expected a relative path")
        occluders.append(Occluder(info, _read_png(path, f"{meta} line {lineno}")))
    return make_library(str(folder), occluders)


def check_library_folder(folder: str | Path) -> Path:
    """A folder a library may be written to: missing, empty, or holding a library; else :class:`SfclError`."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SfclError(f"{folder} is a file: expected a folder for the occlusion library")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / METADATA).is_file():
        raise SfclError(f"{folder} is not empty and holds no {METADATA}: expected a new or empty folder")
    return folder


def record_of(occ: Occluder) -> dict:
    """The metadata line of ``occ`` as written in ``occluders.jsonl``."""
    rec = occ.info.attributes()
    rec["file"] = f"{IMAGES}/{occ.info.id}.png"
    rec["source"] = occ.info.source
    return rec


def write_library(library: OcclusionLibrary | list[Occluder], folder: str | Path) -> Path:
    """Write occluders as a SOL folder (PNG files and ``occluders.jsonl``); returns the folder."""
    occluders = library.occluders if isinstance(library, OcclusionLibrary) else tuple(library)
    folder = check_library_folder(folder)
    (folder / IMAGES).mkdir(parents=True, exist_ok=True)
    lines = []
    for occ in sorted(occluders, key=lambda o: o.info.id):
        atomic_write(folder / IMAGES / f"{occ.info.id}.png", encode_png(occ.rgba))
        lines.append(json.dumps(record_of(occ), sort_keys=True))
    atomic_write(folder / METADATA, ("\n".join(lines) + "\n").encode())
    return folder
