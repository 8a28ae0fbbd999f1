"""Slow twins of the triplet losses: per-anchor Python loops in float64, from the definitions."""

from __future__ import annotations

import math

import torch


def _dist(a: torch.Tensor, b: torch.Tensor) -> float:
    return math.sqrt(max(float(((a - b) ** 2).sum()), 1e-12))


def batch_hard_reference(features: torch.Tensor, labels: torch.Tensor, margin: float) -> float:
    n = len(labels)
    total = 0.0
    for i in range(n):
        pos = [_dist(features[i], features[j]) for j in range(n) if labels[j] == labels[i]]
        neg = [_dist(features[i], features[j]) for j in range(n) if labels[j] != labels[i]]
        total += max(0.0, max(pos) - min(neg) + margin)
    return total / n


def wrt_reference(features: torch.Tensor, labels: torch.Tensor) -> float:
    """Softmax-weighted hardest positive / negative per anchor, soft margin (AGW)."""
    n = len(labels)
    total = 0.0
    for i in range(n):
        d = [_dist(features[i], features[j]) for j in range(n)]
        pos = [d[j] for j in range(n) if labels[j] == labels[i]]
        neg = [d[j] for j in range(n) if labels[j] != labels[i]]
        top = max(pos)
        wp = [math.exp(x - top) for x in pos]
        far = sum(w * x for w, x in zip(wp, pos)) / (sum(wp) + 1e-6)
        low = max(0.0, max(-x for x in neg))  # AGW's shift: max of (-dist * mask) includes the zeros
        wn = [math.exp(-x - low) for x in neg]
        close = sum(w * x for w, x in zip(wn, neg)) / (sum(wn) + 1e-6)
        total += math.log1p(math.exp(-(close - far)))
    return total / n
