"""Slow twin of ``sfcl.evaluation.metrics``: one query at a time, written from the protocol's definition.

Follows the community reference evaluation (AGW ``eval_metrics.py``) step by
step: rank the gallery, drop the protocol's excluded items, walk the kept list.
Ranking is a stable argsort (ties keep gallery order), as in our fast version.
Used by the tests and as the speed baseline in ``benchmarks/eval_speed.py``.
"""

from __future__ import annotations

import numpy as np


def _query_metrics(kept_pids: np.ndarray, q_pid: int, dedup: bool, max_rank: int):
    matches = (kept_pids == q_pid).astype(np.int64)
    if dedup:
        seen: set[int] = set()
        distinct = []
        for pid in kept_pids.tolist():
            if pid not in seen:
                seen.add(pid)
                distinct.append(pid)
        curve = np.cumsum(np.asarray(distinct) == q_pid)
    else:
        curve = np.minimum(np.cumsum(matches), 1)
    # cumulative: beyond the list's end the curve keeps its last value
    cmc = np.array([curve[min(k, len(curve) - 1)] if len(curve) else 0 for k in range(max_rank)], dtype=np.float64)
    if not matches.any():
        return cmc, None, None
    num_rel = matches.sum()
    precision_at_hits = [matches[: i + 1].sum() / (i + 1) for i in range(len(matches)) if matches[i]]
    ap = float(np.sum(precision_at_hits) / num_rel)
    last = int(np.nonzero(matches)[0].max())
    inp = float(num_rel / (last + 1))
    return cmc, ap, inp


def reference_eval(distmat, q_pids, g_pids, q_cams, g_cams, rule: str, max_rank: int = 20):
    """rule: "sysu" | "regdb" | "llcm". Returns (cmc, mAP, mINP) as fractions."""
    distmat = np.asarray(distmat, dtype=np.float64)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_cams, g_cams = np.asarray(q_cams), np.asarray(g_cams)
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    cmc_sum = np.zeros(max_rank)
    aps, inps = [], []
    for q in range(num_q):
        order = np.argsort(distmat[q], kind="stable")
        if rule == "sysu":
            remove = (q_cams[q] == 3) & (g_cams[order] == 2)
        elif rule == "llcm":
            remove = (g_pids[order] == q_pids[q]) & (g_cams[order] == q_cams[q])
        else:
            remove = np.zeros(num_g, dtype=bool)
        kept = g_pids[order][~remove]
        cmc, ap, inp = _query_metrics(kept, q_pids[q], dedup=rule != "regdb", max_rank=max_rank)
        if ap is None:
            continue
        cmc_sum += cmc
        aps.append(ap)
        inps.append(inp)
    if not aps:
        raise ValueError("no query identity appears in the gallery")
    return cmc_sum / len(aps), float(np.mean(aps)), float(np.mean(inps))
