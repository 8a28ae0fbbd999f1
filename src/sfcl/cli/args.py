"""Argument types shared by several ``sfcl`` commands."""

from __future__ import annotations

import argparse


def size(text: str) -> tuple[int, int]:
    """``HEIGHTxWIDTH`` (e.g. ``288x144``) -> (height, width), each >= 2."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEIGHTxWIDTH, e.g. 288x144") from None
    if height < 2 or width < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: expected at least 2x2")
    return height, width
