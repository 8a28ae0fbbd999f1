"""CMC, mAP and mINP for cross-modal re-identification, vectorised in torch.

The three rules of the community reference evaluation (AGW baseline's
``eval_metrics.py``, reused by CAJ and DEEN), computed for every query at once
on the distance matrix's device (no per-query Python loop, no full sort: each
true match's rank is the number of kept items ranked before it, O(matches x
gallery) comparisons, which is what AP, INP and CMC need):

``eval_sysu``  drop gallery items of camera 2 for queries of camera 3; CMC on the
               kept ranking de-duplicated by identity (rank k = k-th distinct
               identity), summed over all queries and divided by the number of
               queries that have a true match; AP and INP on the kept ranking.
``eval_regdb`` nothing dropped; standard CMC (clipped to 1), AP, INP.
``eval_llcm``  drop gallery items with the query's identity *and* camera; CMC
               de-duplicated as for SYSU-MM01.

Conventions shared with the reference: queries without a true match in the kept
list are skipped for AP/INP and for the CMC denominator; ``max_rank`` is cut to
the gallery size; INP = positives / (rank of the last positive). Ranking uses a
*stable* sort, so tied distances keep gallery order (the reference's numpy
quicksort leaves tie order implementation-defined). Where the de-duplicated list
has fewer than ``max_rank`` identities the CMC stays at its last value (the
reference's ragged array would fail there). Returned CMC and metrics are
fractions in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch

from sfcl.errors import SfclError

ArrayLike = torch.Tensor | np.ndarray


def _as_tensor(values: ArrayLike, device: torch.device) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.to(device)
    return torch.as_tensor(np.asarray(values), device=device)


def _inputs(distmat, q_pids, g_pids, q_cams, g_cams):
    dist = distmat if isinstance(distmat, torch.Tensor) else torch.as_tensor(np.asarray(distmat))
    if dist.ndim != 2:
        raise ValueError(f"distmat must be (num_query, num_gallery), got {tuple(dist.shape)}")
    device = dist.device
    q_pids, g_pids = _as_tensor(q_pids, device).long(), _as_tensor(g_pids, device).long()
    if q_pids.shape != (dist.shape[0],) or g_pids.shape != (dist.shape[1],):
        raise ValueError(f"pids {tuple(q_pids.shape)}, {tuple(g_pids.shape)} do not fit distmat {tuple(dist.shape)}")
    q_cams = _as_tensor(q_cams, device).long() if q_cams is not None else None
    g_cams = _as_tensor(g_cams, device).long() if g_cams is not None else None
    return dist, q_pids, g_pids, q_cams, g_cams


def _precedes(rows: torch.Tensor, pivot: torch.Tensor, pivot_index: torch.Tensor) -> torch.Tensor:
    """(n, G) mask of gallery items ranked before each pivot by a stable ascending sort.

    rows (n, G) distances; pivot (n,) distance of the pivot item; pivot_index (n,) its gallery index.
    """
    position = torch.arange(rows.shape[1], device=rows.device)
    pivot = pivot[:, None]
    return (rows < pivot) | ((rows == pivot) & (position[None, :] < pivot_index[:, None]))


def _hit_ranks(dist: torch.Tensor, hits: torch.Tensor, keep: torch.Tensor, chunk_elems: int = 1 << 24):
    """Every true match's 0-based rank in its query's kept list (stable ascending order).

    Returns (query index (H,), gallery index (H,), rank (H,)) sorted by (query, rank).
    Few matches per query (single-shot): rank = number of kept items ranked before the match,
    O(H x G) comparisons in chunks. Many (multi-shot): one stable sort of each row with the
    dropped items pushed to the end, then the inverse permutation.
    """
    q_idx, g_idx = hits.nonzero(as_tuple=True)
    num_q, num_g = dist.shape
    if q_idx.numel() <= 16 * num_q:
        ranks = torch.empty_like(q_idx)
        step = max(1, chunk_elems // max(1, num_g))
        for start in range(0, q_idx.numel(), step):
            q, g = q_idx[start:start + step], g_idx[start:start + step]
            ranks[start:start + step] = (_precedes(dist[q], dist[q, g], g) & keep[q]).sum(dim=1)
    else:
        order = torch.argsort(dist.masked_fill(~keep, float("inf")), dim=1, stable=True)
        position = torch.empty_like(order).scatter_(1, order, torch.arange(num_g, device=dist.device).expand_as(order))
        ranks = position[q_idx, g_idx]
    order = torch.argsort(q_idx * num_g + ranks, stable=True)
    return q_idx[order], g_idx[order], ranks[order]


def _per_query(dist: torch.Tensor, matches: torch.Tensor, keep: torch.Tensor):
    """AP, INP, first-match rank (0-based, kept list), first-match gallery index, validity — per query."""
    num_q = dist.shape[0]
    q_idx, g_idx, rank = _hit_ranks(dist, matches & keep, keep)
    num_rel = torch.bincount(q_idx, minlength=num_q)
    starts = torch.cumsum(num_rel, dim=0) - num_rel
    nth_hit = torch.arange(q_idx.numel(), device=dist.device) - starts[q_idx]  # 0-based among the query's hits
    precision = (nth_hit + 1).double() / (rank + 1).double()
    ap = torch.zeros(num_q, dtype=torch.float64, device=dist.device).index_add_(0, q_idx, precision)
    ap = ap / num_rel.clamp(min=1)
    last = torch.zeros(num_q, dtype=torch.int64, device=dist.device).scatter_reduce_(0, q_idx, rank, "amax")
    inp = num_rel.double() / (last + 1).double()
    valid = num_rel > 0
    first_hit = starts.clamp(max=max(0, q_idx.numel() - 1))
    big = torch.iinfo(torch.int64).max
    first_rank = torch.where(valid, rank[first_hit] if rank.numel() else num_rel, torch.full_like(num_rel, big))
    first_gallery = g_idx[first_hit] if g_idx.numel() else num_rel
    return ap, inp, first_rank, first_gallery, valid


def _distinct_before(dist, keep, g_pids, first_gallery, valid) -> torch.Tensor:
    """1-based rank of the first true match among the *distinct identities* of the kept list."""
    rows = torch.arange(dist.shape[0], device=dist.device)
    before = _precedes(dist, dist[rows, first_gallery], first_gallery) & keep
    unique_pids, id_index = torch.unique(g_pids, return_inverse=True)
    seen = torch.zeros(dist.shape[0], unique_pids.numel(), dtype=torch.int64, device=dist.device)
    seen.scatter_reduce_(1, id_index.expand_as(before), before.long(), "amax")
    rank = seen.sum(dim=1) + 1
    return torch.where(valid, rank, torch.full_like(rank, torch.iinfo(torch.int64).max))


def _summarise(rank_of_match: torch.Tensor, ap, inp, valid, max_rank: int, num_gallery: int):
    """rank_of_match (Q,) 1-based (huge when there is none) -> (cmc, mAP, mINP)."""
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise SfclError("evaluation: no query identity appears in the gallery")
    max_rank = min(max_rank, num_gallery)
    ks = torch.arange(1, max_rank + 1, device=rank_of_match.device)
    cmc = (rank_of_match[:, None] <= ks[None, :]).sum(dim=0).double() / num_valid
    return cmc.cpu().numpy(), float(ap[valid].mean()), float(inp[valid].mean())


def _dedup_protocol(distmat, q_pids, g_pids, q_cams, g_cams, max_rank: int, remove_rule: str):
    dist, q_pids, g_pids, q_cams, g_cams = _inputs(distmat, q_pids, g_pids, q_cams, g_cams)
    matches = g_pids[None, :] == q_pids[:, None]
    if remove_rule == "sysu":
        remove = (q_cams[:, None] == 3) & (g_cams[None, :] == 2)
    else:  # llcm: same identity and same camera
        remove = matches & (g_cams[None, :] == q_cams[:, None])
    keep = ~remove
    ap, inp, _rank, first_gallery, valid = _per_query(dist, matches, keep)
    rank = _distinct_before(dist, keep, g_pids, first_gallery, valid)
    return _summarise(rank, ap, inp, valid, max_rank, dist.shape[1])


def eval_sysu(distmat: ArrayLike, q_pids: ArrayLike, g_pids: ArrayLike, q_cams: ArrayLike, g_cams: ArrayLike,
              max_rank: int = 20) -> tuple[np.ndarray, float, float]:
    """SYSU-MM01 rule. ``distmat`` (Q, G), smaller = closer; returns (cmc (min(max_rank, G),), mAP, mINP)."""
    return _dedup_protocol(distmat, q_pids, g_pids, q_cams, g_cams, max_rank, "sysu")


def eval_llcm(distmat: ArrayLike, q_pids: ArrayLike, g_pids: ArrayLike, q_cams: ArrayLike, g_cams: ArrayLike,
              max_rank: int = 20) -> tuple[np.ndarray, float, float]:
    """LLCM rule (DEEN): drop same identity and camera; identity-de-duplicated CMC."""
    return _dedup_protocol(distmat, q_pids, g_pids, q_cams, g_cams, max_rank, "llcm")


def eval_regdb(distmat: ArrayLike, q_pids: ArrayLike, g_pids: ArrayLike, q_cams: ArrayLike | None = None,
               g_cams: ArrayLike | None = None, max_rank: int = 20) -> tuple[np.ndarray, float, float]:
    """RegDB rule: nothing dropped, standard CMC. Cameras are accepted and ignored."""
    dist, q_pids, g_pids, _, _ = _inputs(distmat, q_pids, g_pids, None, None)
    matches = g_pids[None, :] == q_pids[:, None]
    ap, inp, first_rank, _gallery, valid = _per_query(dist, matches, torch.ones_like(matches))
    return _summarise(torch.where(valid, first_rank + 1, first_rank), ap, inp, valid, max_rank, dist.shape[1])


EVALUATORS = {"sysu": eval_sysu, "regdb": eval_regdb, "llcm": eval_llcm}
