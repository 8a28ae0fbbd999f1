"""Rank-list pictures: a query tile, then the top-k gallery tiles with coloured borders and captions.

The layout of torchreid's ``visualize_ranked_results`` (read to understand, not
copied): one row per query, the query first, a wider gap, then the ranked
gallery images left to right. A border is green for the query's identity, red
for another identity, grey when identities are unknown (``sfcl query``).
Pixels are drawn with OpenCV on uint8 (H, W, 3) RGB arrays.

A row of ``k`` gallery tiles of ``height x width`` with border ``b`` is
``CAPTION + height + 2b`` pixels high and ``(k + 1)(width + 2b) + QUERY_GAP + (k - 1) GAP`` wide.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

GREEN: tuple[int, int, int] = (0, 170, 0)
RED: tuple[int, int, int] = (215, 25, 25)
GREY: tuple[int, int, int] = (150, 150, 150)
QUERY: tuple[int, int, int] = (40, 90, 200)
CAPTION = 16  # px of caption bar above each tile
GAP = 4
QUERY_GAP = 14
ROW_GAP = 8


def tile(rgb: np.ndarray, height: int, width: int, colour: tuple[int, int, int], border: int) -> np.ndarray:
    """Resize uint8 (h, w, 3) to (height, width) and frame it: (height + 2 border, width + 2 border, 3)."""
    shrink = rgb.shape[0] >= height
    resized = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return cv2.copyMakeBorder(resized, border, border, border, border, cv2.BORDER_CONSTANT, value=colour)


def caption(text: str, width: int) -> np.ndarray:
    """A white (CAPTION, width, 3) bar with ``text`` in small dark type, cut to fit."""
    bar = np.full((CAPTION, width, 3), 255, np.uint8)
    scale = 0.34
    while text and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width - 2:
        text = text[:-1]
    cv2.putText(bar, text, (1, CAPTION - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 1, cv2.LINE_AA)
    return bar


def rank_row(query: np.ndarray, gallery: Sequence[np.ndarray], captions: Sequence[str],
             colours: Sequence[tuple[int, int, int]], query_caption: str = "query",
             height: int = 128, width: int = 64, border: int = 4) -> np.ndarray:
    """One row: query tile, then ``len(gallery)`` tiles; returns uint8 (H, W, 3) (see module docstring)."""
    if not (len(gallery) == len(captions) == len(colours)):
        raise ValueError(f"{len(gallery)} gallery images, {len(captions)} captions, {len(colours)} colours")
    tile_w = width + 2 * border

    def column(rgb: np.ndarray, text: str, colour: tuple[int, int, int]) -> np.ndarray:
        return np.concatenate([caption(text, tile_w), tile(rgb, height, width, colour, border)], axis=0)

    column_h = CAPTION + height + 2 * border
    parts = [column(query, query_caption, QUERY), np.full((column_h, QUERY_GAP, 3), 255, np.uint8)]
    for index, (rgb, text, colour) in enumerate(zip(gallery, captions, colours)):
        if index:
            parts.append(np.full((column_h, GAP, 3), 255, np.uint8))
        parts.append(column(rgb, text, colour))
    return np.concatenate(parts, axis=1)


def stack_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Rows of possibly different widths, top to bottom, white-padded on the right, ROW_GAP apart."""
    width = max(row.shape[1] for row in rows)
    padded = []
    for index, row in enumerate(rows):
        if index:
            padded.append(np.full((ROW_GAP, width, 3), 255, np.uint8))
        padded.append(np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255))
    return np.concatenate(padded, axis=0)
