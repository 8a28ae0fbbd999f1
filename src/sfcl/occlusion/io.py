"""Image and file I/O for the occlusion builder: atomic writes, decoding, encoding.

Every file is written to a temporary name ending in :data:`TMP_SUFFIX` in the
destination folder and renamed into place, so an interrupted build never leaves
a half-written image under its final name; a resumed build deletes leftovers.
Encoders are deterministic: the same pixels give the same bytes (same Pillow).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from sfcl.errors import SfclError

TMP_SUFFIX = ".sfcl-tmp"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp alone gives 0o600
JPEG_QUALITY = 95
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` (bytes only) through a temporary file and a rename."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=TMP_SUFFIX)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
