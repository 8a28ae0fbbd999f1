"""CMC, mAP and mINP for cross-modal re-identification, vectorised in torch.

The three scoring rules of the community reference evaluation (AGW baseline's
``eval_metrics.py``, reused by CAJ and DEEN), computed for every query at once
on the distance matrix's device, with no per-query Python loop and no sort of
the gallery rows: AP, INP and CMC only need the rank of each true match, which
is counted by one batched ``searchsorted`` of every gallery distance into its
query's (few) sorted match distances. A dataset's protocol names its rule
(:class:`sfcl.data.spec.Protocol`); :func:`evaluate_ranking` applies it and
:func:`removal_mask` (shared with the rank pictures) says what it drops:

``drop-cam3-cam2``    drop gallery items of camera 2 for queries of camera 3 (AGW's
                      ``eval_sysu``); CMC on the kept ranking de-duplicated by
                      identity (rank k = k-th distinct identity), summed over all
                      queries and divided by the number of queries that have a
                      true match; AP and INP on the kept ranking.
``keep-all``          nothing dropped; standard CMC (clipped to 1), AP, INP (AGW's
                      ``eval_regdb``).
``drop-same-camera``  drop gallery items with the query's identity *and* camera;
                      CMC de-duplicated as for ``drop-cam3-cam2`` (DEEN's rule).

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

from collections.abc import Callable
from dataclasses import dataclass

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
    if torch.isnan(dist).any():
        bad = torch.isnan(dist).nonzero()[0].tolist()
        raise SfclError(f"evaluation: the distance matrix holds NaN (first at query {bad[0]}, gallery {bad[1]}): "
                        "expected finite distances (+inf allowed)")
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


def _float_key(values: torch.Tensor) -> torch.Tensor:
    """float32 (no NaN) -> int64 ``k << 32`` with ``k`` the order-preserving integer of the float's bits
    (negative floats have their magnitude bits flipped; -0.0 counts as +0.0), so adding an index below
    2**32 orders by (value, index) exactly."""
    bits = (values + 0.0).view(torch.int32)  # + 0.0 turns -0.0 into +0.0 (and is a fresh tensor to edit)
    negative = bits < 0
    bits[negative] ^= 0x7FFFFFFF
    return bits.to(torch.int64).bitwise_left_shift_(32)  # in place: no second 8-byte-per-item buffer


def _matches_before(dist: torch.Tensor, match_dist: torch.Tensor, match_index: torch.Tensor) -> torch.Tensor:
    """(Q, G): for every gallery item, how many of its query's true matches rank before it.

    The ranking is a stable ascending sort: (distance, gallery index) order. One batched
    ``searchsorted`` of each row into its query's sorted match distances (padded with +inf,
    so the result indexes ``match_dist``) counts the matches strictly closer. Ties are
    settled by a second ``searchsorted`` on an integer key, with no per-tie work (so heavy
    ties cost as little as none): a match's key is ``start * (G + 1) + index``, ``start``
    the slot where its run of equal distances begins (runs are in gallery-index order, so
    keys increase along the row); an item tied with the run at ``lo`` looks up
    ``lo * (G + 1) + g``, an untied one ``lo * (G + 1)``. Items at +inf tie with +inf
    matches the same way; the pad's index ``G`` is after every item.
    """
    num_g, width = dist.shape[1], match_dist.shape[1]
    if dist.dtype == torch.float32:  # one searchsorted on (order-preserving float bits, gallery index) keys
        index = torch.arange(num_g, device=dist.device)
        return torch.searchsorted(_float_key(match_dist).add_(match_index), _float_key(dist).add_(index),
                                  side="left", out_int32=True)
    lo = torch.searchsorted(match_dist, dist, side="left")  # matches strictly closer
    slots = torch.arange(width, device=dist.device).expand_as(match_dist)
    new_run = torch.ones_like(match_dist, dtype=torch.bool)
    new_run[:, 1:] = match_dist[:, 1:] != match_dist[:, :-1]
    start = torch.cummax(torch.where(new_run, slots, torch.zeros_like(slots)), dim=1).values
    match_key = start * (num_g + 1) + match_index
    tied = match_dist.gather(1, lo) == dist
    gallery_index = torch.arange(num_g, device=dist.device).expand_as(lo)
    item_key = lo * (num_g + 1) + torch.where(tied, gallery_index, torch.zeros_like(gallery_index))
    return torch.searchsorted(match_key, item_key, side="left")


def _per_query(dist: torch.Tensor, hits: torch.Tensor, g_pids: torch.Tensor | None, remove: torch.Tensor | None = None):
    """Per query: AP, INP, 0-based kept rank of the first match, distinct identities before it, validity.

    ``remove`` marks the protocol's dropped items (they never count, wherever their distance
    puts them, +inf included); ``hits`` marks the kept true matches. No row is sorted: with
    ``bucket`` = number of true matches ranked before an item, the kept rank of the j-th
    match (0-based) is the number of kept items with ``bucket <= j`` minus one (itself),
    counted per query with one ``bincount``. ``g_pids`` None skips the distinct-identity count.
    """
    num_q, device = dist.shape[0], dist.device
    match_dist, match_index, num_rel = _sorted_matches(dist, hits)
    bucket = _matches_before(dist, match_dist, match_index)
    width = match_dist.shape[1]
    if remove is not None:
        bucket = bucket.masked_fill(remove, width)  # one bin past the last: dropped items count nowhere
    small = num_q * (width + 1) < 2**31  # bins addressed in int32: half the memory traffic of int64
    rows = torch.arange(num_q, device=device, dtype=torch.int32 if small else torch.int64)[:, None]
    bucket = bucket.to(rows.dtype)
    counts = torch.bincount((bucket + rows * (width + 1)).view(-1), minlength=num_q * (width + 1))
    rank = torch.cumsum(counts.view(num_q, width + 1)[:, :width], dim=1) - 1  # (Q, M): kept rank of each match
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
        wide = num_q * num_ids + 1 >= 2**31
        id_rows = rows.long() if wide else rows.int()
        keys = torch.where(bucket == 0, id_rows * num_ids + id_index.to(id_rows.dtype)[None, :], num_q * num_ids)
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


@dataclass(frozen=True)
class Rule:
    """A scoring rule: which gallery items each query loses, and whether the CMC counts distinct identities."""

    drop: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None
    distinct_cmc: bool


def _drop_cam3_cam2(q_pids, g_pids, q_cams, g_cams) -> torch.Tensor:
    return (q_cams[:, None] == 3) & (g_cams[None, :] == 2)


def _drop_same_camera(q_pids, g_pids, q_cams, g_cams) -> torch.Tensor:
    return (q_pids[:, None] == g_pids[None, :]) & (q_cams[:, None] == g_cams[None, :])


RULES: dict[str, Rule] = {
    "drop-cam3-cam2": Rule(_drop_cam3_cam2, distinct_cmc=True),
    "keep-all": Rule(None, distinct_cmc=False),
    "drop-same-camera": Rule(_drop_same_camera, distinct_cmc=True),
}


def _rule(name: str) -> Rule:
    if name not in RULES:
        raise SfclError(f"unknown scoring rule {name!r}: expected one of {', '.join(RULES)}")
    return RULES[name]


def removal_mask(rule: str, q_pids: ArrayLike, g_pids: ArrayLike, q_cams: ArrayLike | None,
                 g_cams: ArrayLike | None) -> torch.Tensor:
    """(Q, G) bool: the gallery items ``rule`` drops for each query (all False for ``keep-all``)."""
    device = q_pids.device if isinstance(q_pids, torch.Tensor) else torch.device("cpu")
    q_pids, g_pids = _as_tensor(q_pids, device).long(), _as_tensor(g_pids, device).long()
    drop = _rule(rule).drop
    if drop is None:
        return torch.zeros((q_pids.numel(), g_pids.numel()), dtype=torch.bool, device=device)
    if q_cams is None or g_cams is None:
        raise SfclError(f"scoring rule {rule} needs the query and gallery cameras")
    return drop(q_pids, g_pids, _as_tensor(q_cams, device).long(), _as_tensor(g_cams, device).long())


def evaluate_ranking(distmat: ArrayLike, q_pids: ArrayLike, g_pids: ArrayLike, q_cams: ArrayLike | None = None,
                     g_cams: ArrayLike | None = None, rule: str = "keep-all",
                     max_rank: int = 20) -> tuple[np.ndarray, float, float]:
    """Score ``distmat`` (Q, G), smaller = closer, under scoring ``rule`` (see the module docstring).

    Returns (cmc (min(max_rank, G),), mAP, mINP) as fractions; cameras are needed by the rules that drop.
    """
    spec = _rule(rule)
    dist, q_pids, g_pids, q_cams, g_cams = _inputs(distmat, q_pids, g_pids, q_cams, g_cams)
    hits = g_pids[None, :] == q_pids[:, None]
    remove = None
    if spec.drop is not None:
        if q_cams is None or g_cams is None:
            raise SfclError(f"scoring rule {rule} needs the query and gallery cameras")
        remove = spec.drop(q_pids, g_pids, q_cams, g_cams)
        hits &= ~remove
    ap, inp, first_rank, distinct_before, valid = _per_query(dist, hits, g_pids if spec.distinct_cmc else None,
                                                             remove)
    rank_of_match = distinct_before + 1 if spec.distinct_cmc else first_rank + 1
    return _summarise(_or_never(rank_of_match, valid), ap, inp, valid, max_rank, dist.shape[1])
