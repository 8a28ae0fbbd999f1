"""k-reciprocal re-ranking (Zhong, Zheng, Cao, Li, "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017), vectorised in torch.

Over the N = Q + G query and gallery features of one trial (L2-normalised):

1. ``d(i, j) = ||x_i - x_j||²`` divided by its row's maximum (the common implementation's scale);
   ``N(i, k)`` = the k + 1 nearest items of i (i itself included).
2. k-reciprocal neighbours ``R(i, k) = {j ∈ N(i, k) : i ∈ N(j, k)}``.
3. Expansion: ``R*(i) = R(i, k1) ∪ R(c, k1/2)`` for every ``c ∈ R(i, k1)`` whose
   ``|R(c, k1/2) ∩ R(i, k1)| > 2/3 |R(c, k1/2)|`` (``k1/2`` rounded half to even, as numpy does).
4. ``V(i, j) = exp(-d(i, j))`` on ``R*(i)``, 0 elsewhere, each row summing to 1; local query
   expansion replaces row i by the mean of the rows of its ``k2`` nearest items (``N(i, k2 - 1)``).
5. Jaccard distance ``d_J(i, j) = 1 - Σ min(V_i, V_j) / Σ max(V_i, V_j)`` (``Σ max = 2 - Σ min``).
6. ``d* = (1 - λ) d_J + λ d`` for query rows and gallery columns.

Defaults k1 = 20, k2 = 6, λ = 0.3 (the paper's). Neighbour sets come from ``topk``; only the
sets matter, so the order inside a neighbourhood does not (ties at the k-th place are broken
arbitrarily, as any sort would). Steps 3-5 use the sparsity of R and V (at most k1 + 1 and a
few hundred non-zeros a row): no N x N x N product, so a SYSU-MM01 trial takes seconds on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sfcl.errors import SfclError


def _half(k1: int) -> int:
    return int(round(k1 / 2))  # Python rounds half to even, like numpy.around


def _neighbours(dist: torch.Tensor, k: int) -> torch.Tensor:
    """(N, k + 1) indices of each row's k + 1 smallest distances."""
    return torch.topk(dist, min(k + 1, dist.shape[1]), dim=1, largest=False).indices


def _reciprocal(near: torch.Tensor, num: int) -> torch.Tensor:
    """(N, N) bool: j ∈ N(i) and i ∈ N(j), from the neighbour lists ``near`` (N, k + 1)."""
    member = torch.zeros((num, num), dtype=torch.bool, device=near.device)
    member.scatter_(1, near, True)
    return member & member.T


def k_reciprocal_distance(query: torch.Tensor, gallery: torch.Tensor, k1: int = 20, k2: int = 6,
                          lam: float = 0.3, chunk: int = 64) -> torch.Tensor:
    """Re-ranked (Q, G) distances (smaller = closer) of query (Q, D) and gallery (G, D) features."""
    if query.dim() != 2 or gallery.dim() != 2 or query.shape[1] != gallery.shape[1]:
        raise SfclError(f"re-ranking expects (Q, D) and (G, D) features, got {tuple(query.shape)} and "
                        f"{tuple(gallery.shape)}")
    if k1 < 1 or k2 < 1 or not 0.0 <= lam <= 1.0:
        raise SfclError(f"re-ranking k1={k1}, k2={k2}, lambda={lam}: expected k1, k2 >= 1 and lambda in [0, 1]")
    num_q = query.shape[0]
    feats = F.normalize(torch.cat([query, gallery]).double(), dim=1)
    num = feats.shape[0]
    dist = (2.0 - 2.0 * feats @ feats.T).clamp_min(0.0)  # squared Euclidean of unit vectors
    dist = dist / dist.max(dim=1, keepdim=True).values.clamp_min(torch.finfo(dist.dtype).tiny)

    near = _neighbours(dist, k1)
    recip = _reciprocal(near, num)  # R(i, k1)
    half = _neighbours(dist, _half(k1))
    recip_half = _reciprocal(half, num)  # R(c, k1/2)
    # for each i and candidate c = near[i, s] ∈ R(i): |R(c, k1/2) ∩ R(i)| via the k1/2 + 1 slots of c
    candidates = near
    is_candidate = recip.gather(1, candidates)  # (N, k1 + 1)
    cand_half = half[candidates]  # (N, k1 + 1, h + 1): N(c, k1/2) of each candidate
    cand_valid = recip_half[candidates[..., None], cand_half]  # member of R(c, k1/2)
    rows = torch.arange(num, device=dist.device)[:, None, None]
    in_r_i = recip[rows.expand_as(cand_half), cand_half]
    overlap = (cand_valid & in_r_i).sum(dim=2)
    size = cand_valid.sum(dim=2)
    expand = is_candidate & (overlap > 2.0 / 3.0 * size)  # (N, k1 + 1)
    expanded = recip.clone()
    take = (expand[..., None] & cand_valid).nonzero(as_tuple=True)  # (i, s, t) to add
    expanded[take[0], cand_half[take]] = True

    weights = torch.where(expanded, torch.exp(-dist), torch.zeros((), dtype=dist.dtype, device=dist.device))
    weights = weights / weights.sum(dim=1, keepdim=True)
    if k2 > 1:  # local query expansion: mean of the rows of the k2 nearest items
        nearest = torch.topk(dist, min(k2, num), dim=1, largest=False).indices
        weights = torch.cat([weights[nearest[i0:i0 + chunk]].mean(dim=1) for i0 in range(0, num, chunk)])

    # Σ_k min(V_q, V_g) over each query's support only (a few hundred columns)
    q_rows = weights[:num_q]
    g_rows = weights[num_q:]
    support = q_rows != 0
    width = int(support.sum(dim=1).max()) if num_q else 0
    overlap_sum = torch.zeros((num_q, g_rows.shape[0]), dtype=dist.dtype, device=dist.device)
    if width:
        columns = torch.topk(support.to(torch.int8), width, dim=1).indices  # (Q, width): the support first
        values = q_rows.gather(1, columns)  # zero in the padding slots
        g_t = g_rows.T  # (N, G)
        for i0 in range(0, num_q, chunk):
            cols, vals = columns[i0:i0 + chunk], values[i0:i0 + chunk]
            overlap_sum[i0:i0 + chunk] = torch.minimum(g_t[cols], vals[..., None]).sum(dim=1)
    jaccard = 1.0 - overlap_sum / (2.0 - overlap_sum)
    final = (1.0 - lam) * jaccard + lam * dist[:num_q, num_q:]
    return final.to(query.dtype if query.is_floating_point() else torch.float32)
