"""Image files, read and written in one place: suffixes, checked decoding, deterministic encoding.

Every image sfcl reads (dataset images in training and evaluation, occluder PNGs,
user images for ``sfcl query`` / ``visualize``, sources of the occlusion builder) is
opened by :func:`open_image`: fully loaded, and a missing, truncated or unknown file
is one :class:`~sfcl.errors.SfclError` naming it. Every image sfcl writes goes
through :func:`encode_image` with the format its suffix names (:data:`FORMATS`).

JPEG quality, the one lossy setting, is named here per product, and each value is
part of that product's bytes (changing one changes every file written with it):

* :data:`SYNTHVI_JPEG_QUALITY` (90): SynthVI's source images, like a camera's JPEGs;
* :data:`OCCLUSION_JPEG_QUALITY` (95): occluded copies of a dataset's JPEGs, high so the
  re-encoding adds little loss on top of the source's own compression.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from sfcl.errors import SfclError

FORMATS: dict[str, str] = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF",
                           ".tiff": "TIFF"}
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")  # what folders of images are searched for
SYNTHVI_JPEG_QUALITY = 90
OCCLUSION_JPEG_QUALITY = 95


def open_image(source: str | Path | bytes, path: str | Path | None = None, what: str = "image",
               expected: str = "a valid image file") -> Image.Image:
    """``source`` (a file, or its bytes with ``path`` naming it) as a fully loaded PIL image.

    Unreadable → ``SfclError("unreadable {what} {path}: expected {expected} (reason)")``.
    """
    name = path if path is not None else source
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            img.load()
            return _detach(img)
    except Exception as exc:  # Pillow raises many types for corrupt files (OSError, SyntaxError, struct.error...)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SfclError(f"unreadable {what} {name}: expected {expected} ({reason})") from None


def _detach(img: Image.Image) -> Image.Image:
    """The loaded pixels, independent of the (about to close) file."""
    out = img.copy()
    out.format = img.format
    return out


def decode_image(data: bytes, path: Path | str) -> tuple[np.ndarray, str]:
    """Decode image bytes to uint8 (H, W, 3) RGB or (H, W) grey; returns (pixels, mode ``RGB``/``L``).

    Modes other than ``L`` and ``RGB`` are converted to RGB; images under 2x2 px are refused.
    """
    im = open_image(data, path, expected="a JPEG, PNG or BMP file")
    mode = "L" if im.mode == "L" else "RGB"
    pixels = np.asarray(im if im.mode == mode else im.convert(mode), dtype=np.uint8).copy()
    if min(pixels.shape[:2]) < 2:
        raise SfclError(f"image {path} is {pixels.shape[1]}x{pixels.shape[0]} px: expected at least 2x2")
    return pixels, mode


def header_problem(path: Path | str) -> str | None:
    """Why the image file ``path`` cannot be used, judged from its header only (fast: no pixels are
    decoded), or ``None``: missing, empty, not an image Pillow knows, or under 2x2 px."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for corrupt files
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None if min(width, height) >= 2 else f"{width}x{height} px, expected at least 2x2"


def check_images(paths, what: str = "image", progress: bool = True) -> int:
    """Read the header of every file in ``paths`` (with a progress bar) so that a corrupt image is
    reported before hours of work, not when it is first decoded; returns the count checked.

    Unusable files → one ``SfclError`` naming the first by path, its reason, and how many more there are.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    paths = list(paths)
    with ThreadPoolExecutor(max_workers=8) as pool:  # file opens wait on the disk, not the CPU
        problems = list(tqdm(pool.map(header_problem, paths, chunksize=64), total=len(paths), unit="img",
                             desc=f"checking {len(paths)} images", disable=not progress, leave=False))
    bad = [(path, reason) for path, reason in zip(paths, problems) if reason is not None]
    if bad:
        more = f"; {len(bad) - 1} more unusable images" if len(bad) > 1 else ""
        raise SfclError(f"unreadable {what} {bad[0][0]}: expected a valid image file ({bad[0][1]}){more}")
    return len(paths)


def image_format(path: Path | str) -> str:
    """Pillow format name for ``path``'s extension (an output keeps its source's format)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise SfclError(f"image {path}: unsupported extension {suffix!r}: expected one of {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def encode_image(pixels: np.ndarray, mode: str, fmt: str, jpeg_quality: int = OCCLUSION_JPEG_QUALITY) -> bytes:
    """Encode uint8 pixels (``L``: (H, W); ``RGB``: (H, W, 3); ``RGBA``) as ``fmt``; deterministic for a
    given Pillow. JPEG at ``jpeg_quality``; PNG without timestamp chunks, so the bytes are a function of
    the pixels."""
    buf = io.BytesIO()
    image = Image.fromarray(pixels, mode)
    if fmt == "JPEG":
        image.save(buf, format="JPEG", quality=jpeg_quality)
    elif fmt == "PNG":
        image.save(buf, format="PNG", optimize=False, compress_level=6)
    else:
        image.save(buf, format=fmt)
    return buf.getvalue()
