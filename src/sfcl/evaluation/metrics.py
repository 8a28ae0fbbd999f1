"""CMC, mAP and mINP for cross-modal re-identification, vectorised in torch.

The three rules of the community reference evaluation (AGW baseline's
``eval_metrics.py``, reused by CAJ and DEEN), computed for every query at once
on the distance matrix's device, with no per-query Python loop and no sort of
the gallery rows: AP, INP and CMC only need the rank of each true match, which
is counted by one batched ``searchsorted`` of every gallery distance into its
query's (few) sorted match distances:

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
    if not dist.is_floating_point():
        dist = dist.double()
    dist = dist.contiguous()
    q_cams = _as_tensor(q_cams, device).long() if q_cams is not None else None
    g_cams = _as_tensor(g_cams, device).long() if g_cams is not None else None
    return dist, q_pids, g_pids, q_cams, g_cams


def _sorted_matches(dist: torch.Tensor, hits: torch.Tensor):
    """Each query's true matches in ranking order, padded: distances (Q, M) (+inf pad), gallery indices (Q, M)."""
    num_q, num_g = dist.shape
    q_idx, g_idx = hits.nonzero(as_tuple=True)
    d = dist[q_idx, g_idx]
    order = torch.argsort(d, stable=True)  # by distance, ties by gallery index (nonzero is row-major)
    order = order[torch.argsort(q_idx[order], stable=True)]  # then grouped by query
    q_idx, g_idx, d = q_idx[order], g_idx[order], d[order]
    num_rel = torch.bincount(q_idx, minlength=num_q)
    slot = torch.arange(q_idx.numel(), device=dist.device) - (torch.cumsum(num_rel, 0) - num_rel)[q_idx]
    width = (int(num_rel.max()) if num_rel.numel() else 0) + 1  # one +inf pad column at least
    match_dist = torch.full((num_q, width), float("inf"), dtype=dist.dtype, device=dist.device)
    match_index = torch.full((num_q, width), num_g, dtype=torch.int64, device=dist.device)
    match_dist[q_idx, slot] = d
    match_index[q_idx, slot] = g_idx
    return match_dist, match_index, num_rel


def _matches_before(dist: torch.Tensor, match_dist: torch.Tensor, match_index: torch.Tensor) -> torch.Tensor:
    """(Q, G): for every gallery item, how many of its query's true matches rank before it.

    The ranking is a stable ascending sort: (distance, gallery index) order. One batched
    ``searchsorted`` of each row into its query's sorted match distances (padded with +inf,
    so the result indexes ``match_dist``); ties in distance are settled by gallery index for
    the (rare) items that have them.
    """
    before = torch.searchsorted(match_dist, dist, side="left")
    tied_q, tied_g = (match_dist.gather(1, before) == dist).nonzero(as_tuple=True)
    if tied_q.numel():
        upto = torch.searchsorted(match_dist[tied_q], dist[tied_q, tied_g][:, None], side="right").squeeze(1)
        slots = torch.arange(match_dist.shape[1], device=dist.device)[None, :]
        in_tie = (slots >= before[tied_q, tied_g][:, None]) & (slots < upto[:, None])
        before[tied_q, tied_g] += (in_tie & (match_index[tied_q] < tied_g[:, None])).sum(dim=1)
    return before


def _per_query(dist: torch.Tensor, hits: torch.Tensor, g_pids: torch.Tensor | None):
    """Per query: AP, INP, 0-based kept rank of the first match, distinct identities before it, validity.

    ``dist`` holds the protocol's dropped items at the largest finite value (they rank after
    every true match and never count); ``hits`` marks the kept true matches. No row is
    sorted: with ``bucket`` = number of true matches ranked before an item, the kept rank of
    the j-th match (0-based) is the number of items with ``bucket <= j`` minus one (itself),
    counted per query with one ``bincount``. ``g_pids`` None skips the distinct-identity count.
    """
    num_q, device = dist.shape[0], dist.device
    match_dist, match_index, num_rel = _sorted_matches(dist, hits)
    bucket = _matches_before(dist, match_dist, match_index)
    width = match_dist.shape[1]
    rows = torch.arange(num_q, device=device)[:, None]
    counts = torch.bincount((bucket + rows * width).view(-1), minlength=num_q * width)
    rank = torch.cumsum(counts.view(num_q, width), dim=1) - 1  # (Q, M): kept rank of each match
    slots = torch.arange(width, device=device)[None, :]
    precision = torch.where(slots < num_rel[:, None], (slots + 1).double() / (rank + 1).double(),
                            torch.zeros((), dtype=torch.float64, device=device))
    ap = precision.sum(dim=1) / num_rel.clamp(min=1)
    last = rank.gather(1, (num_rel - 1).clamp(min=0)[:, None]).squeeze(1)
    inp = num_rel.double() / (last + 1).double()
    distinct_before = None
    if g_pids is not None:
        # identities among the items before the first match; the first match itself also has
        # bucket 0 and carries the query's own identity, hence the -1
        unique_pids, id_index = torch.unique(g_pids, return_inverse=True)
        num_ids = unique_pids.numel()
        keys = torch.where(bucket == 0, rows * num_ids + id_index[None, :], num_q * num_ids)
        seen = torch.bincount(keys.view(-1), minlength=num_q * num_ids + 1)[:-1]
        distinct_before = (seen.view(num_q, num_ids) > 0).sum(dim=1) - 1
    return ap, inp, rank[:, 0], distinct_before, num_rel > 0


def _or_never(rank: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
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
    hits = g_pids[None, :] == q_pids[:, None]
    dist = dist.clone()
    dropped = torch.finfo(dist.dtype).max
    if remove_rule == "sysu":  # queries of camera 3 lose every gallery item of camera 2
        rows = (q_cams == 3).nonzero(as_tuple=True)[0][:, None]
        cols = (g_cams == 2).nonzero(as_tuple=True)[0][None, :]
        dist[rows, cols] = dropped
        hits[rows, cols] = False
    else:  # llcm: same identity and same camera
        remove = hits & (g_cams[None, :] == q_cams[:, None])
        dist.masked_fill_(remove, dropped)
        hits &= ~remove
    ap, inp, _rank, distinct_before, valid = _per_query(dist, hits, g_pids)
    return _summarise(_or_never(distinct_before + 1, valid), ap, inp, valid, max_rank, dist.shape[1])


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
    hits = g_pids[None, :] == q_pids[:, None]
    ap, inp, first_rank, _distinct, valid = _per_query(dist.contiguous(), hits, None)
    return _summarise(_or_never(first_rank + 1, valid), ap, inp, valid, max_rank, dist.shape[1])


EVALUATORS = {"sysu": eval_sysu, "regdb": eval_regdb, "llcm": eval_llcm}
