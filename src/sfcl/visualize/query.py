"""``sfcl query``: rank every image of a gallery folder for one query image, with a feature cache.

The query passes alone through its modality's stem (``--modality``, infrared by
default, as the evaluation's queries); gallery images go through the other
modality's stem by default, or a given one, or ``auto`` (grey images through
the infrared stem, colour ones through the visible stem). Distances are the
evaluation's cosine ranking, shown as ``1 - cos`` (:func:`sfcl.visualize.ranks.cosine_distance`).

Cache: gallery embeddings live in ``<cache_dir>/<sha256 of the checkpoint file>.pt``,
one row per gallery file keyed by ``<sha256 of the file's bytes>:<gallery modality>``.
A checkpoint whose bytes change gets a new cache file; a gallery file whose
bytes change gets a new key, so it is recomputed and unchanged ones are reused
wherever they are (renamed or moved files too). The file is rewritten
atomically when new rows are added and holds only tensors and strings
(``torch.load(weights_only=True)``); an unreadable one is ignored and replaced.
Rows accumulate over galleries queried with one checkpoint.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sfcl.data.base import Sample
from sfcl.errors import SfclError
from sfcl.fileio import atomic_write, check_png_name
from sfcl.modality import MODALITIES, other, parse_modality
from sfcl.visualize.drawing import GREY, rank_row
from sfcl.visualize.images import file_sha256, list_images, modality_of, read_rgb, save_png
from sfcl.visualize.ranks import cosine_distance

log = logging.getLogger(__name__)
CACHE_FORMAT = "sfcl-gallery-cache-v1"
GALLERY_MODALITIES = (*MODALITIES, "auto")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/sfcl/gallery`` (``~/.cache/sfcl/gallery`` when unset)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sfcl" / "gallery"


class FeatureCache:
    """Gallery embeddings of one checkpoint: key -> (D,) float32, backed by one file (see module docstring)."""

    def __init__(self, cache_dir: str | Path, checkpoint_sha256: str) -> None:
        self.checkpoint_sha256 = checkpoint_sha256
        self.path = Path(cache_dir) / f"{checkpoint_sha256}.pt"
        self.entries: dict[str, torch.Tensor] = self._load()

    def _load(self) -> dict[str, torch.Tensor]:
        if not self.path.is_file():
            return {}
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            if state.get("format") != CACHE_FORMAT or state.get("checkpoint_sha256") != self.checkpoint_sha256:
                raise ValueError("not a gallery cache of this checkpoint")
            keys, feats = list(state["keys"]), state["feats"]
            if feats.ndim != 2 or feats.shape[0] != len(keys):
                raise ValueError(f"{len(keys)} keys for features {tuple(feats.shape)}")
        except Exception as err:  # noqa: BLE001 - a cache is disposable: rebuild it
            log.warning("ignoring unreadable feature cache %s (%s); it will be rebuilt", self.path, err)
            return {}
        return dict(zip(keys, feats))

    def save(self) -> None:
        keys = sorted(self.entries)
        payload = {"format": CACHE_FORMAT, "checkpoint_sha256": self.checkpoint_sha256, "keys": keys,
                   "feats": torch.stack([self.entries[k] for k in keys]).float()}
        atomic_write(self.path, lambda handle: torch.save(payload, handle), durable=False)


@dataclass
class QueryResult:
    """The ranking of a gallery for one query.

    Attributes:
        query: the query image path.
        paths: gallery files in ranking order (top-k).
        distances: their ``1 - cos`` distances, ascending.
        computed: gallery images run through the model for this query (0 when all came from the cache).
        gallery_size: number of images in the gallery folder.
    """

    query: Path
    paths: list[Path]
    distances: list[float]
    computed: int
    gallery_size: int

    def lines(self) -> list[str]:
        return [f"{rank:4d}  {dist:.4f}  {path}" for rank, (dist, path) in enumerate(zip(self.distances, self.paths), 1)]


def _embed(model, cfg, samples: list[Sample], device: torch.device) -> torch.Tensor:
    from sfcl.evaluation.extract import extract_features

    return extract_features(model, samples, cfg.data.height, cfg.data.width, batch_size=cfg.data.test_batch_size,
                            device=device, flip=cfg.eval.flip, progress=cfg.train.progress)


def gallery_features(model, cfg, files: list[Path], gallery_modality: str, cache: FeatureCache | None,
                     device: torch.device) -> tuple[torch.Tensor, int]:
    """Embeddings (N, D) of ``files`` in order, from ``cache`` where keyed there; returns (feats, images computed)."""
    keys = [f"{file_sha256(path)}:{gallery_modality}" for path in files]
    known = cache.entries if cache is not None else {}
    todo: dict[str, Sample] = {}
    for key, path in zip(keys, files):
        if key not in known and key not in todo:
            # pixels decide nothing but the stem under "auto": a fixed modality needs no extra decode
            modality = modality_of(read_rgb(path)) if gallery_modality == "auto" else gallery_modality
            todo[key] = Sample(str(path), -1, -1, modality)
    fresh = dict(zip(todo, _embed(model, cfg, list(todo.values()), device))) if todo else {}
    if cache is not None and fresh:
        cache.entries.update(fresh)
        cache.save()
    table = {**known, **fresh}
    return torch.stack([table[key] for key in keys]), len(todo)


def query_gallery(checkpoint: str | Path, gallery: str | Path, image: str | Path, modality: str = "nir",
                  gallery_modality: str | None = None, topk: int = 10, cache_dir: str | Path | None = None,
                  use_cache: bool = True, device: str = "auto", save: str | Path | None = None) -> QueryResult:
    """Rank the images under ``gallery`` for ``image``; see the module docstring. ``save`` writes a picture."""
    from sfcl.export import inference_model

    parse_modality(modality)
    gallery_modality = gallery_modality or other(modality)
    if gallery_modality not in GALLERY_MODALITIES:
        raise SfclError(f"gallery modality {gallery_modality!r}: expected vis, nir or auto")
    if topk < 1:
        raise SfclError(f"topk={topk}: expected at least 1")
    if save is not None:
        check_png_name(save)
    files = list_images(gallery)
    query_rgb = read_rgb(image)
    model, cfg, torch_device = inference_model(checkpoint, device)  # a checkpoint, or an .onnx from sfcl export
    cache = FeatureCache(cache_dir or default_cache_dir(), file_sha256(checkpoint)) if use_cache else None
    feats, computed = gallery_features(model, cfg, files, gallery_modality, cache, torch_device)
    query_feat = _embed(model, cfg, [Sample(str(image), -1, -1, modality)], torch_device)
    distances = cosine_distance(query_feat, feats)[0]
    order = torch.argsort(distances, stable=True)[:topk].tolist()
    result = QueryResult(Path(image), [files[i] for i in order], [float(distances[i]) for i in order],
                         computed, len(files))
    if save is not None:
        render_query(result, query_rgb, save)
    return result


def render_query(result: QueryResult, query_rgb: np.ndarray, out: str | Path, height: int = 128,
                 width: int = 64) -> Path:
    """The query then its ranked gallery images (grey borders: identities are unknown) as one PNG."""
    row = rank_row(query_rgb, [read_rgb(path) for path in result.paths],
                   [f"#{k} {d:.3f}" for k, d in enumerate(result.distances, 1)], [GREY] * len(result.paths),
                   query_caption="query", height=height, width=width)
    return save_png(out, row)
