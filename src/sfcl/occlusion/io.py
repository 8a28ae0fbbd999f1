"""File I/O for the occlusion builder: atomic writes, hashes; decoding and encoding from :mod:`sfcl.imageio`.

Every file is written through :mod:`sfcl.fileio` (a temporary name ending in
``TMP_SUFFIX`` in the destination folder, then a rename), so an interrupted build never leaves
a half-written image under its final name; a resumed build deletes leftovers.
Encoders are deterministic: the same pixels give the same bytes (same Pillow).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from sfcl.fileio import TMP_SUFFIX, atomic_copy
from sfcl.fileio import atomic_write as _atomic_write
from sfcl.imageio import OCCLUSION_JPEG_QUALITY as JPEG_QUALITY
from sfcl.imageio import decode_image, encode_image, image_format

__all__ = ["JPEG_QUALITY", "TMP_SUFFIX", "atomic_copy", "atomic_write", "decode_image", "encode_image", "encode_png",
           "image_format", "save_png", "sha256_bytes"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write a regenerable file atomically (no fsync; see :func:`sfcl.fileio.atomic_write`)."""
    _atomic_write(path, data, durable=False)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_png(rgba: np.ndarray) -> bytes:
    """Lossless RGBA PNG (no timestamp chunks, so the bytes are a function of the pixels)."""
    return encode_image(rgba, "RGBA", "PNG")


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB (H, W, 3) or RGBA uint8 array as PNG, atomically."""
    atomic_write(path, encode_image(image, "RGBA" if image.shape[-1] == 4 else "RGB", "PNG"))
