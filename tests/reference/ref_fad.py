"""Slow twins of the FAD terms: Python loops over anchors and pairs, float64, straight from the definitions."""

import math

import torch


def frequency_contrastive_loop(emb, labels, modality, tau):
    emb = emb.double()
    r = [e / e.norm() for e in emb]
    vis = [i for i in range(len(r)) if modality[i] == 0]
    nir = [i for i in range(len(r)) if modality[i] == 1]

    def direction(anchors, others):
        losses = []
        for i in anchors:
            logits = [float(r[i] @ r[j]) / tau for j in others]
            log_z = math.log(sum(math.exp(v) for v in logits))
            pos = [logits[t] - log_z for t, j in enumerate(others) if labels[j] == labels[i]]
            if pos:
                losses.append(-sum(pos) / len(pos))
        return sum(losses) / len(losses) if losses else None

    parts = [d for d in (direction(vis, nir), direction(nir, vis)) if d is not None]
    return sum(parts) / len(parts) if parts else 0.0


def semantic_consistency_loop(logits, emb, modality, k):
    p = torch.softmax(logits.double(), dim=1)
    emb = emb.double()
    n = len(p)
    total = 0.0
    for i in range(n):
        others = [j for j in range(n) if modality[j] != modality[i]]
        cos = {j: float(emb[i] @ emb[j] / (emb[i].norm() * emb[j].norm())) for j in others}
        nearest = sorted(others, key=lambda j: -cos[j])[:min(k, len(others))]
        q = sum(p[j] for j in nearest) / len(nearest)
        kl_pq = sum(float(p[i, c] * math.log(p[i, c] / q[c])) for c in range(p.shape[1]))
        kl_qp = sum(float(q[c] * math.log(q[c] / p[i, c])) for c in range(p.shape[1]))
        total += 0.5 * (kl_pq + kl_qp)
    return total / n
