"""Image and file I/O for the occlusion builder: atomic writes, decoding, encoding.

Every file is written through :mod:`sfcl.fileio` (a temporary name ending in
``TMP_SUFFIX`` in the destination folder, then a rename), so an interrupted build never leaves
a half-written image under its final name; a resumed build deletes leftovers.
Encoders are deterministic: the same pixels give the same bytes (same Pillow).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from sfcl.errors import SfclError
from sfcl.fileio import TMP_SUFFIX, atomic_copy
from sfcl.fileio import atomic_write as _atomic_write

__all__ = ["TMP_SUFFIX", "atomic_copy", "atomic_write", "decode_image", "encode_image", "encode_png", "save_png"]

JPEG_QUALITY = 95
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def atomic_write(path: Path, data: bytes) -> None:
    """Write a regenerable file atomically (no fsync; see :func:`sfcl.fileio.atomic_write`)."""
    _atomic_write(path, data, durable=False)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_image(data: bytes, path: Path | str) -> tuple[np.ndarray, str]:
    """Decode image bytes to uint8 (H, W, 3) RGB or (H, W) grey; returns (pixels, mode ``RGB``/``L``).

    Modes other than ``L`` and ``RGB`` are converted to RGB. Corrupt or
    unknown files raise :class:`SfclError` naming ``path``.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            mode = "L" if im.mode == "L" else "RGB"
            pixels = np.asarray(im if im.mode == mode else im.convert(mode), dtype=np.uint8).copy()
    except Exception:  # PIL raises many types for corrupt files
        raise SfclError(f"unreadable image {path}: expected a JPEG, PNG or BMP file") from None
    if min(pixels.shape[:2]) < 2:
        raise SfclError(f"image {path} is {pixels.shape[1]}x{pixels.shape[0]} px: expected at least 2x2")
    return pixels, mode


def image_format(path: Path | str) -> str:
    """Pillow format name for ``path``'s extension (the output keeps the source's format)."""
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise SfclError(f"image {path}: unsupported extension {suffix!r}: expected one of "
                        f"{', '.join(sorted(_FORMATS))}")
    return _FORMATS[suffix]


def encode_image(pixels: np.ndarray, mode: str, fmt: str) -> bytes:
    """Encode uint8 pixels (``L``: (H, W); ``RGB``: (H, W, 3)); JPEG at quality :data:`JPEG_QUALITY`."""
    buf = io.BytesIO()
    image = Image.fromarray(pixels, mode)
    if fmt == "JPEG":
        image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buf, format=fmt)
    return buf.getvalue()


def encode_png(rgba: np.ndarray) -> bytes:
    """Lossless RGBA PNG (no timestamp chunks, so the bytes are a function of the pixels)."""
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB (H, W, 3) or RGBA uint8 array as PNG, atomically."""
    buf = io.BytesIO()
    Image.fromarray(image, "RGBA" if image.shape[-1] == 4 else "RGB").save(buf, format="PNG")
    atomic_write(path, buf.getvalue())
