"""Image input for the visualisation and query commands: checked reading, modality by content, gallery listing.

A user gives single image files here (``sfcl visualize swap``, ``sfcl query``), so
every read is checked and a mistake is a one-line :class:`~sfcl.errors.SfclError`
(a missing, unreadable or truncated file). Pixels are read by the one rule of the
whole toolkit (training, evaluation, query, pictures): any pixel mode becomes RGB,
a grey image broadcast to three channels, alpha dropped; the modality of an image
is where it comes from (its camera folder, or ``--modality``), never its pixels.

Only the amplitude/phase swap picture also checks content: its visible image must be
in colour and its infrared one grey (``L``, or RGB with three equal channels as
SYSU-MM01 and SynthVI store them). "Grey" is a mean absolute deviation of the
channels from their mean below :data:`GREY_TOLERANCE` (0-255 scale); JPEG keeps a
grey image exactly grey, SynthVI's visible images are at 12 or more.
``--gallery-modality auto`` of ``sfcl query`` uses the same test to pick a stem.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from sfcl.data.dataset import read_image
from sfcl.errors import SfclError
from sfcl.fileio import atomic_write, check_png_name
from sfcl.imageio import IMAGE_SUFFIXES, encode_image
from sfcl.modality import parse_modality

GREY_TOLERANCE = 2.0
MODALITY_WORDS = {"vis": "a colour visible", "nir": "a grey infrared"}


def read_rgb(path: str | Path, modality: str | None = None) -> np.ndarray:
    """Read ``path`` as uint8 (H, W, 3) RGB, by the rule training uses (:func:`sfcl.data.dataset.read_image`):
    any pixel mode becomes RGB, a grey image broadcast to 3 channels, alpha dropped. The modality of
    an image is where it comes from (its camera, or ``--modality``), never its pixels.

    ``modality`` ``"vis"`` / ``"nir"`` also checks the image is colour / grey, for the pictures that
    need it (the amplitude/phase swap); ``None`` checks nothing more.
    """
    path = Path(path)
    if not path.is_file():
        raise SfclError(f"missing image {path}: expected a JPEG or PNG file")
    rgb = np.asarray(read_image(str(path)), dtype=np.uint8).copy()
    if modality is not None:
        check_modality(rgb, modality, path)
    return rgb


def is_grey(rgb: np.ndarray) -> bool:
    """True when the channels of uint8 (H, W, 3) ``rgb`` are (nearly) equal: an infrared-looking image."""
    return colourfulness(rgb) < GREY_TOLERANCE


def colourfulness(rgb: np.ndarray) -> float:
    """Mean absolute deviation of the channels from their mean, 0-255 scale (0 for a grey image)."""
    values = rgb.astype(np.float32)
    return float(np.abs(values - values.mean(axis=2, keepdims=True)).mean())


def modality_of(rgb: np.ndarray) -> str:
    """``"nir"`` for a grey image, ``"vis"`` for a colour one."""
    return "nir" if is_grey(rgb) else "vis"


def check_modality(rgb: np.ndarray, modality: str, path: str | Path) -> None:
    """Raise :class:`SfclError` when the content of ``path`` does not fit ``modality`` (``vis``/``nir``)."""
    parse_modality(modality)
    found = modality_of(rgb)
    if found != modality:
        what = "grey" if found == "nir" else f"in colour (channel spread {colourfulness(rgb):.1f})"
        raise SfclError(f"image {path} is {what}: expected {MODALITY_WORDS[modality]} image")


def list_images(folder: str | Path) -> list[Path]:
    """Every .jpg/.jpeg/.png file under ``folder`` (recursive, sorted; hidden files and folders skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SfclError(f"missing gallery folder {folder}: expected a folder of .jpg/.png images")
    found = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    if not found:
        raise SfclError(f"no images under {folder}: expected .jpg/.jpeg/.png files (searched recursively)")
    return sorted(found)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the bytes of ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def to_unit(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [0, 1]."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write uint8 (H, W, 3) ``rgb`` to ``path`` as PNG, atomically; returns the path."""
    check_png_name(path)
    atomic_write(path, encode_image(rgb, "RGB", "PNG"), durable=False)
    return Path(path)
