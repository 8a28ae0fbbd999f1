"""The FAD loss (paper §3.4): frequency contrast ``L_cfc`` and semantic consistency ``L_csc``.

Both work across modalities inside one batch (visible samples against infrared ones).

``L_cfc``: frequency embeddings become unit vectors r; ``s_ij = <r_vis_i, r_nir_j> / τ``.
For an anchor i of one modality every sample of the other modality with i's identity is
a positive (supervised InfoNCE, averaged over the positives):

    L_v→n = mean_i [ −1/|P_i| Σ_{p∈P_i} log( exp(s_ip) / Σ_j exp(s_ij) ) ],

over anchors with at least one positive; ``L_cfc = (L_v→n + L_n→v) / 2``.

``L_csc``: p = softmax of the shared classifier's logits. For each sample, q is the mean
distribution of its K nearest neighbours of the other modality (cosine similarity of the
retrieval embeddings; the choice of neighbours is not differentiated, the distributions
are); ``L_csc = mean_i [KL(p_i ‖ q_i) + KL(q_i ‖ p_i)] / 2``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sfcl.modality import INFRARED, VISIBLE


def _split(modality: Tensor) -> tuple[Tensor, Tensor]:
    return (modality == VISIBLE).nonzero().squeeze(1), (modality == INFRARED).nonzero().squeeze(1)


def _supervised_nce(sim: Tensor, positive: Tensor) -> Tensor | None:
    """sim (N, M) logits, positive (N, M) bool -> mean over anchors with a positive, or None if none has."""
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    count = positive.sum(dim=1)
    has = count > 0
    if not bool(has.any()):
        return None
    per_anchor = -(log_prob * positive).sum(dim=1)[has] / count[has]
    return per_anchor.mean()


def frequency_contrastive_loss(embeddings: Tensor, labels: Tensor, modality: Tensor,
                               temperature: float = 0.1, center: bool = False) -> Tensor:
    """embeddings (B, D) frequency embeddings, labels (B,), modality (B,) {0 vis, 1 nir} -> scalar ``L_cfc``.

    ``center``: subtract each modality's batch mean before normalising (``loss.cfc_center``):
    the spatial mean of O_fre carries a per-modality common part (the DC bin, and the
    prototype's transported spectrum), which makes every cross-modal cosine alike and keeps
    the InfoNCE at chance (docs/DESIGN.md, "FAD"). Zero (with a graph) when the batch has no
    cross-modal same-identity pair.
    """
    if temperature <= 0:
        raise ValueError(f"cfc temperature must be > 0, got {temperature}")
    vis, nir = _split(modality)
    embeddings = embeddings.float()
    if center:
        embeddings = embeddings.clone()
        for index in (vis, nir):
            if index.numel():
                embeddings[index] = embeddings[index] - embeddings[index].mean(dim=0, keepdim=True)
    r = F.normalize(embeddings, dim=1)
    sim = r[vis] @ r[nir].T / temperature  # (N_vis, N_nir)
    positive = labels[vis][:, None] == labels[nir][None, :]
    terms = [t for t in (_supervised_nce(sim, positive), _supervised_nce(sim.T, positive.T)) if t is not None]
    if not terms:
        return embeddings.sum() * 0.0
    return sum(terms) / len(terms)


def _kl(p_log: Tensor, q_log: Tensor) -> Tensor:
    """KL(p ‖ q) per row from log-probabilities (N, C) -> (N,)."""
    return (p_log.exp() * (p_log - q_log)).sum(dim=1)


def semantic_consistency_loss(logits: Tensor, embeddings: Tensor, modality: Tensor, k: int = 4) -> Tensor:
    """logits (B, num_classes), embeddings (B, D) for neighbour search, modality (B,) -> scalar ``L_csc``.

    K is capped at the number of samples of the other modality; a one-modality batch gives zero.
    """
    if k < 1:
        raise ValueError(f"csc neighbours K must be >= 1, got {k}")
    vis, nir = _split(modality)
    if vis.numel() == 0 or nir.numel() == 0:
        return logits.sum() * 0.0
    log_p = F.log_softmax(logits.float(), dim=1)
    with torch.no_grad():
        unit = F.normalize(embeddings.float(), dim=1)
        sim = unit[vis] @ unit[nir].T  # (N_vis, N_nir)
        vis_nn = nir[sim.topk(min(k, nir.numel()), dim=1).indices]  # (N_vis, K) infrared neighbours
        nir_nn = vis[sim.T.topk(min(k, vis.numel()), dim=1).indices]  # (N_nir, K) visible neighbours
    anchors = torch.cat([vis, nir])
    total = []
    for idx, neighbours in ((vis, vis_nn), (nir, nir_nn)):
        # The mean neighbour distribution as a product with an (N, B) averaging matrix rather than
        # log_p[neighbours]: the backward of indexing with repeated indices accumulates in a
        # thread-order-dependent way on multi-threaded CPUs (runs were not reproducible).
        average = F.one_hot(neighbours, logits.shape[0]).sum(dim=1).to(log_p.dtype) / neighbours.shape[1]
        q = average @ log_p.exp()  # (N, C) mean neighbour distribution
        q_log = torch.log(q.clamp_min(torch.finfo(q.dtype).tiny))
        total.append(0.5 * (_kl(log_p[idx], q_log) + _kl(q_log, log_p[idx])))
    return torch.cat(total).sum() / anchors.numel()
