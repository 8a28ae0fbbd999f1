"""sfcl.imageio: the one image reader/encoder. Round trips, one-line errors, and no second reader in src/."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sfcl.errors import SfclError
from sfcl.imageio import (
    IMAGE_SUFFIXES,
    OCCLUSION_JPEG_QUALITY,
    SYNTHVI_JPEG_QUALITY,
    decode_image,
    encode_image,
    image_format,
    open_image,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "sfcl"


@pytest.mark.parametrize("fmt,mode", [("PNG", "RGB"), ("PNG", "L"), ("BMP", "RGB"), ("PNG", "RGBA")])
def test_lossless_round_trip(fmt, mode):
    rng = np.random.default_rng(0)
    shape = {"L": (9, 7), "RGB": (9, 7, 3), "RGBA": (9, 7, 4)}[mode]
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    data = encode_image(pixels, mode, fmt)
    assert encode_image(pixels, mode, fmt) == data  # deterministic
    img = open_image(data, "x")
    assert img.mode == mode
    np.testing.assert_array_equal(np.asarray(img), pixels)


def test_jpeg_quality_is_the_named_setting():
    yy, xx = np.mgrid[0:32, 0:24]
    pixels = np.stack([yy * 7, xx * 9, (yy + xx) * 4], axis=-1).astype(np.uint8)  # smooth, so JPEG keeps it
    pixels = pixels + np.random.default_rng(1).integers(0, 8, size=pixels.shape, dtype=np.uint8)
    q90 = encode_image(pixels, "RGB", "JPEG", jpeg_quality=SYNTHVI_JPEG_QUALITY)
    q95 = encode_image(pixels, "RGB", "JPEG", jpeg_quality=OCCLUSION_JPEG_QUALITY)
    assert q90 != q95 and len(q95) > len(q90)
    assert encode_image(pixels, "RGB", "JPEG") == q95  # the default is the occlusion setting
    decoded, mode = decode_image(q90, "a.jpg")
    assert mode == "RGB" and decoded.shape == pixels.shape
    assert np.abs(decoded.astype(int) - pixels).mean() < 6  # lossy, but the same image


def test_unreadable_file_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(SfclError) as err:
        open_image(bad, what="occluder image", expected="an RGBA PNG")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"unreadable occluder image {bad}: expected an RGBA PNG (")
    with pytest.raises(SfclError, match="unreadable image missing.png"):
        open_image(tmp_path / "missing.png", path="missing.png")


def test_small_images_and_suffixes_are_refused():
    with pytest.raises(SfclError, match="1x3 px"):
        decode_image(encode_image(np.zeros((3, 1), np.uint8), "L", "PNG"), "thin.png")
    with pytest.raises(SfclError, match="unsupported extension '.gif'"):
        image_format("a.gif")
    assert image_format("A.JPEG") == "JPEG"
    assert set(IMAGE_SUFFIXES) <= {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


def test_no_second_image_reader_or_encoder_in_src():
    """Every read goes through open_image and every write through encode_image."""
    pattern = re.compile(r"Image\.open\(|cv2\.imread|cv2\.imencode|cv2\.imwrite|\bquality=\d")
    offenders = [f"{p.relative_to(SRC)}:{n}" for p in SRC.rglob("*.py") if p.name != "imageio.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []
