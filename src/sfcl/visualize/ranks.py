"""Ranked retrieval results of a checkpoint on its dataset's test split, drawn as picture rows.

Queries and gallery come from the evaluation protocol (``sfcl.evaluation.protocols``):
by default the dataset's infrared-query protocol (its spec's
``infrared_query_protocol``, e.g. SYSU-MM01 all-search single-shot), gallery trial 0.
Features come from the evaluation's :func:`~sfcl.evaluation.extract.extract_features`
and the ranking uses its distance (cosine; shown as ``1 - cos``, which orders
exactly as the evaluation's ``-(q @ g.T)``), without the gallery items the
protocol's scoring rule drops (:func:`sfcl.evaluation.metrics.removal_mask`).
``num_queries`` queries are taken evenly spaced over the query list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sfcl.config import Config
from sfcl.data.base import ReIDDataset, Sample
from sfcl.data.spec import Trial
from sfcl.errors import SfclError
from sfcl.visualize.drawing import GREEN, RED, rank_row, stack_rows
from sfcl.visualize.images import read_rgb, save_png


@dataclass
class RankedQuery:
    """One query and its top-k gallery samples (ranking order) with their distances ``1 - cos``."""

    query: Sample
    gallery: list[Sample]
    distances: list[float]

    @property
    def matches(self) -> list[bool]:
        return [g.pid == self.query.pid for g in self.gallery]


def cosine_distance(query: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """(Q, D), (G, D) -> (Q, G) ``1 - cos``: the evaluation's ``-(q @ g.T)`` of L2-normalised features, plus 1."""
    return 1.0 - F.normalize(query.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T


def removed_pairs(rule: str, query: list[Sample], gallery: list[Sample]) -> np.ndarray:
    """(Q, G) bool: gallery items the scoring ``rule`` drops for each query (the evaluation's own mask)."""
    from sfcl.evaluation.metrics import removal_mask

    column = lambda samples, key: np.array([getattr(s, key) for s in samples], dtype=np.int64)  # noqa: E731
    return removal_mask(rule, column(query, "pid"), column(gallery, "pid"), column(query, "cam"),
                        column(gallery, "cam")).numpy()


def rank_gallery(distances: torch.Tensor, removed: np.ndarray | None, topk: int) -> list[np.ndarray]:
    """(Q, G) distances -> per query the gallery indices of its ``topk`` nearest kept items (stable order)."""
    order = torch.argsort(distances.cpu(), dim=1, stable=True).numpy()
    ranked = []
    for row, indices in enumerate(order):
        if removed is not None:
            indices = indices[~removed[row, indices]]
        ranked.append(indices[:topk])
    return ranked


def pick_queries(count: int, wanted: int) -> np.ndarray:
    """``wanted`` positions evenly spaced over ``count`` queries (all when fewer)."""
    if wanted < 1:
        raise SfclError(f"num_queries={wanted}: expected at least 1")
    return np.unique(np.linspace(0, count - 1, min(wanted, count)).round().astype(np.int64))


@dataclass
class CheckpointTrial:
    """A checkpoint's model and config, its test dataset, and one gallery trial of a protocol."""

    model: torch.nn.Module
    cfg: Config
    dataset: ReIDDataset
    protocol: str
    trial: Trial
    device: torch.device


def checkpoint_trial(checkpoint: str | Path, data_root: str | Path | None = None, protocol: str | None = None,
                     trial: int = 0, device: str = "auto") -> CheckpointTrial:
    """Load ``checkpoint`` (optionally on another ``data_root``) and build trial ``trial`` of ``protocol``
    (default: the dataset's infrared-query protocol): what the rank and t-SNE pictures draw from."""
    from sfcl.data import dataset_spec
    from sfcl.data.loaders import load_dataset
    from sfcl.engine.checkpoint import model_from_checkpoint
    from sfcl.engine.runtime import resolve_device
    from sfcl.evaluation.protocols import build_trials

    if trial < 0:
        raise SfclError(f"trial={trial}: expected 0 or more")
    torch_device = resolve_device(device)
    model, cfg = model_from_checkpoint(checkpoint, torch_device)
    if data_root is not None:
        cfg.data.root = str(data_root)
    dataset = load_dataset(cfg)
    name = protocol or dataset_spec(dataset.name).infrared_query_protocol
    if name not in dataset.protocols:
        raise SfclError(f"protocol {name} does not apply to dataset {dataset.name} "
                        f"(valid: {', '.join(dataset.protocols)})")
    chosen = build_trials(name, dataset.test, num_trials=trial + 1, meta=dataset.meta)[-1]
    return CheckpointTrial(model, cfg, dataset, name, chosen, torch_device)


def ranked_results(checkpoint: str | Path, data_root: str | Path | None = None, num_queries: int = 8,
                   topk: int = 10, protocol: str | None = None, trial: int = 0,
                   device: str = "auto") -> list[RankedQuery]:
    """Rank the protocol's gallery for ``num_queries`` of its queries with the checkpoint's model."""
    from sfcl.data import protocol_spec
    from sfcl.evaluation.extract import extract_features

    if topk < 1:
        raise SfclError(f"topk={topk}: expected at least 1")
    loaded = checkpoint_trial(checkpoint, data_root, protocol, trial, device)
    model, cfg, dataset, name, chosen, torch_device = (loaded.model, loaded.cfg, loaded.dataset, loaded.protocol,
                                                       loaded.trial, loaded.device)
    query = [dataset.test[i] for i in chosen.query[pick_queries(len(chosen.query), num_queries)]]
    gallery = [dataset.test[i] for i in chosen.gallery]
    feats = extract_features(model, query + gallery, cfg.data.height, cfg.data.width,
                             batch_size=cfg.data.test_batch_size, device=torch_device, flip=cfg.eval.flip,
                             progress=cfg.train.progress)
    distances = cosine_distance(feats[:len(query)], feats[len(query):])
    ranked = rank_gallery(distances, removed_pairs(protocol_spec(name).rule, query, gallery), topk)
    return [RankedQuery(q, [gallery[i] for i in idx], [float(distances[row, i]) for i in idx])
            for row, (q, idx) in enumerate(zip(query, ranked))]


def ranked_row(item: RankedQuery, height: int = 128, width: int = 64) -> np.ndarray:
    """The picture row of one ranked query: green border for its identity, red otherwise."""
    return rank_row(read_rgb(item.query.path), [read_rgb(g.path) for g in item.gallery],
                    [f"#{k} {d:.3f}" for k, d in enumerate(item.distances, 1)],
                    [GREEN if match else RED for match in item.matches],
                    query_caption=f"id {item.query.pid} c{item.query.cam}", height=height, width=width)


def check_out_dir(out_dir: str | Path) -> None:
    """Refuse an output path that is an existing file (before any work is done)."""
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise SfclError(f"output {out_dir} is a file: expected a folder for the rank pictures")


def render_ranks(ranked: list[RankedQuery], out_dir: str | Path, height: int = 128, width: int = 64) -> list[Path]:
    """One PNG per query plus ``ranks.png`` with every row; returns the paths (overview last)."""
    check_out_dir(out_dir)
    rows = [ranked_row(item, height, width) for item in ranked]
    paths = []
    for k, (item, row) in enumerate(zip(ranked, rows)):
        name = f"{k:02d}_id{item.query.pid}_cam{item.query.cam}_{Path(item.query.path).stem}.png"
        paths.append(save_png(Path(out_dir) / name, row))
    paths.append(save_png(Path(out_dir) / "ranks.png", stack_rows(rows)))
    return paths


def visualize_ranks(checkpoint: str | Path, out_dir: str | Path, data_root: str | Path | None = None,
                    num_queries: int = 8, topk: int = 10, protocol: str | None = None, trial: int = 0,
                    device: str = "auto") -> tuple[list[RankedQuery], list[Path]]:
    """:func:`ranked_results`, then :func:`render_ranks` into ``out_dir``."""
    check_out_dir(out_dir)
    ranked = ranked_results(checkpoint, data_root, num_queries, topk, protocol, trial, device)
    return ranked, render_ranks(ranked, out_dir)
