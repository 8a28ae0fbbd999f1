"""Build a SOL from surveillance images: YOLOv8-seg detection + SAM masks (``sfcl sol build``).

Paper: "YOLOv8-seg detects surveillance objects and SAM extracts pixel-level
masks"; each occluder gets the attribute tuple (category, scene, body part,
size class). :func:`build_sol` works on any object with the :class:`Detector`
and :class:`Segmenter` interfaces; :class:`YoloSegDetector` and
:class:`SamSegmenter` wrap ``ultralytics`` and ``segment-anything`` (optional
extra ``sfcl[sol]``, imported only when they are constructed) and load weights
from local files only; nothing is downloaded. Without a segmenter the
detector's own instance masks are used.

Detector classes (COCO names, as YOLOv8 reports them) map to SOL attributes
through :data:`COCO_TO_SOL`; other classes are ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from sfcl.errors import SfclError
from sfcl.imageio import IMAGE_SUFFIXES, decode_image
from sfcl.occlusion.library import (
    SCENES,
    Occluder,
    OccluderInfo,
    OcclusionLibrary,
    check_library_folder,
    make_library,
    write_library,
)

log = logging.getLogger(__name__)
MIN_PIXELS = 64

# COCO class -> (category, scene, body_part, size_class)
COCO_TO_SOL: dict[str, tuple[str, str, str, str]] = {
    "person": ("pedestrian", "any", "side", "large"),
    "bicycle": ("bicycle", "outdoor", "lower", "medium"),
    "motorcycle": ("motorcycle", "outdoor", "lower", "large"),
    "car": ("car", "outdoor", "lower", "large"),
    "bus": ("car", "outdoor", "lower", "large"),
    "truck": ("car", "outdoor", "lower", "large"),
    "traffic light": ("traffic_sign", "outdoor", "full", "large"),
    "stop sign": ("traffic_sign", "outdoor", "full", "large"),
    "parking meter": ("pole", "outdoor", "full", "medium"),
    "fire hydrant": ("hydrant", "outdoor", "lower", "small"),
    "bench": ("bench", "any", "lower", "medium"),
    "chair": ("chair", "indoor", "lower", "medium"),
    "backpack": ("bag", "any", "lower", "small"),
    "handbag": ("bag", "any", "lower", "small"),
    "suitcase": ("bag", "any", "lower", "small"),
    "umbrella": ("umbrella", "any", "upper", "medium"),
    "potted plant": ("foliage", "any", "lower", "medium"),
}


@dataclass(frozen=True)
class Detection:
    """One detected object: class name, score, box (x0, y0, x1, y1) px, optional bool mask (H, W)."""

    label: str
    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray | None = None


class Detector(Protocol):
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Objects in uint8 RGB ``image`` (H, W, 3)."""


class Segmenter(Protocol):
    def segment(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[np.ndarray]:
        """One bool mask (H, W) per box prompt on uint8 RGB ``image`` (H, W, 3)."""


def _require_weights(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SfclError(f"missing {what} weights {path}: expected a local file (sfcl never downloads weights)")
    return path


def _import(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SfclError(f"{module} is not installed: expected `pip install 'sfcl[sol]'` ({extra}) "
                        "for sfcl sol build") from None


class YoloSegDetector:
    """``ultralytics`` YOLOv8-seg from a local ``.pt`` file; masks at the image's resolution."""

    def __init__(self, weights: str | Path, device: str = "cpu", conf: float = 0.25):
        path = _require_weights(weights, "YOLOv8-seg")
        ultralytics = _import("ultralytics", "ultralytics>=8")
        self.model = ultralytics.YOLO(str(path))
        self.device, self.conf = device, conf

    def detect(self, image: np.ndarray) -> list[Detection]:
        bgr = np.ascontiguousarray(image[..., ::-1])
        res = self.model.predict(bgr, conf=self.conf, device=self.device, retina_masks=True, verbose=False)[0]
        if res.boxes is None or len(res.boxes) == 0:
            return []
        boxes = res.boxes.xyxy.cpu().numpy()
        classes, scores = res.boxes.cls.cpu().numpy().astype(int), res.boxes.conf.cpu().numpy()
        masks = res.masks.data.cpu().numpy() > 0.5 if res.masks is not None else [None] * len(boxes)
        return [Detection(str(res.names[c]), float(s), tuple(float(v) for v in b), m)
                for b, c, s, m in zip(boxes, classes, scores, masks)]


class SamSegmenter:
    """``segment-anything`` from a local checkpoint; model type from ``model_type`` or the file name."""

    def __init__(self, weights: str | Path, model_type: str | None = None, device: str = "cpu"):
        path = _require_weights(weights, "SAM")
        model_type = model_type or next((t for t in ("vit_h", "vit_l", "vit_b") if t in path.name), None)
        if model_type not in ("vit_h", "vit_l", "vit_b"):
            raise SfclError(f"SAM model type of {path} unknown: expected --sam-type vit_h|vit_l|vit_b "
                            "(or the official file name, e.g. sam_vit_b_01ec64.pth)")
        sam_lib = _import("segment_anything", "segment-anything>=1.0")
        sam = sam_lib.sam_model_registry[model_type](checkpoint=str(path))
        sam.to(device)
        self.predictor = sam_lib.SamPredictor(sam)

    def segment(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[np.ndarray]:
        self.predictor.set_image(image)
        out = []
        for box in boxes:
            masks, _, _ = self.predictor.predict(box=np.asarray(box, np.float32), multimask_output=False)
            out.append(np.asarray(masks[0], bool))
        return out


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted); none raises :class:`SfclError`."""
    if not folder.is_dir():
        raise SfclError(f"missing folder {folder}: expected surveillance images for sfcl sol build")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SfclError(f"no images in {folder}: expected {', '.join(IMAGE_SUFFIXES)} files")
    return files


def cut_out(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """RGBA crop (h, w, 4) of ``image`` to ``mask``'s bounding box, alpha = mask; ``None`` if too small."""
    if mask.shape != image.shape[:2] or int(mask.sum()) < MIN_PIXELS:
        return None
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    win = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    alpha = (mask[win] * 255).astype(np.uint8)[..., None]
    return np.ascontiguousarray(np.concatenate([image[win], alpha], axis=2))


def _occluders_of(image: np.ndarray, detections: list[Detection], segmenter: Segmenter | None,
                  where: str) -> list[tuple[Detection, np.ndarray]]:
    if not detections:
        return []
    if segmenter is not None:
        masks = segmenter.segment(image, [d.box for d in detections])
    elif all(d.mask is not None for d in detections):
        masks = [d.mask for d in detections]
    else:
        raise SfclError(f"{where}: the detector gave no masks and no segmenter was given: expected --segmenter")
    return [(d, rgba) for d, m in zip(detections, masks) if (rgba := cut_out(image, np.asarray(m, bool))) is not None]


def build_sol(images: str | Path, out: str | Path, detector: Detector, segmenter: Segmenter | None = None,
              min_score: float = 0.5, scene: str | None = None,
              classes: dict[str, tuple[str, str, str, str]] | None = None, progress: bool = False) -> OcclusionLibrary:
    """Detect, segment and cut out occluders from every image under ``images``; write a SOL folder at ``out``.

    Ids are ``<category>_<n:04d>`` in image order then detection order. ``scene``
    (indoor/outdoor/any) overrides the class default when the user knows the
    cameras. Returns the library as written.
    """
    if scene is not None and scene not in SCENES:
        raise SfclError(f"scene={scene!r}: expected one of {', '.join(SCENES)}")
    classes = COCO_TO_SOL if classes is None else classes
    check_library_folder(out)
    root = Path(images)
    files = list_images(root)
    from tqdm import tqdm

    occluders: list[Occluder] = []
    counts: dict[str, int] = {}
    for path in tqdm(files, desc="sol build", unit="img", disable=not progress):
        pixels, _ = decode_image(path.read_bytes(), path)
        image = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
        kept = [d for d in detector.detect(image) if d.label in classes and d.score >= min_score]
        for det, rgba in _occluders_of(image, kept, segmenter, str(path)):
            category, default_scene, part, size = classes[det.label]
            n = counts.get(category, 0)
            counts[category] = n + 1
            source = f"{path.relative_to(root).as_posix()} {det.label} {det.score:.2f}"
            occluders.append(Occluder(OccluderInfo(f"{category}_{n:04d}", category, scene or default_scene, part,
                                                   size, source), rgba))
    if not occluders:
        raise SfclError(f"no occluders found in {root} (classes {', '.join(sorted(classes))}, score >= "
                        f"{min_score}): expected surveillance images with such objects")
    library = make_library(str(out), occluders)
    write_library(library, out)
    log.info("SOL with %d occluders (%s) written to %s", len(occluders),
             ", ".join(f"{c} {n}" for c, n in sorted(counts.items())), out)
    return library
