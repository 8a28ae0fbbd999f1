"""Triplet losses over the whole batch (both modalities): batch-hard and AGW's WRT.

Both take pre-BN features (B, D) and labels (B,); distances are Euclidean,
clamped at 1e-12 before the square root so identical features give finite
gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def euclidean_distances(features: torch.Tensor) -> torch.Tensor:
    """(B, D) -> (B, B) pairwise Euclidean distances."""
    squared = features.pow(2).sum(dim=1, keepdim=True)
    dist = squared + squared.T - 2.0 * features @ features.T
    return dist.clamp(min=1e-12).sqrt()


class BatchHardTripletLoss(nn.Module):
    """Hardest positive and hardest negative per anchor: ``mean(relu(d_ap - d_an + margin))``."""

    def __init__(self, margin: float = 0.3) -> None:
        super().__init__()
        self.margin = float(margin)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        dist = euclidean_distances(features)
        same = labels[:, None] == labels[None, :]
        hardest_positive = dist.masked_fill(~same, float("-inf")).max(dim=1).values
        hardest_negative = dist.masked_fill(same, float("inf")).min(dim=1).values
        return F.relu(hardest_positive - hardest_negative + self.margin).mean()


def softmax_weights(dist: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax of ``dist`` over the entries selected by ``mask`` per row (AGW's form, +1e-6 in Z)."""
    shifted = dist - (dist * mask).max(dim=1, keepdim=True).values
    exp = torch.exp(shifted) * mask
    return exp / (exp.sum(dim=1, keepdim=True) + 1e-6)


class WeightedRegularizedTriplet(nn.Module):
    """AGW's weighted regularised triplet: softmax-weighted positive/negative distances, soft margin.

    ``loss = mean(log(1 + exp(-(sum_n w_n d_an - sum_p w_p d_ap))))`` with ``w_p`` a softmax over
    positive distances (far positives weigh more) and ``w_n`` over negated negative distances.
    """

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        dist = euclidean_distances(features)
        is_pos = (labels[:, None] == labels[None, :]).to(dist.dtype)
        is_neg = 1.0 - is_pos
        dist_ap, dist_an = dist * is_pos, dist * is_neg
        furthest_positive = (dist_ap * softmax_weights(dist_ap, is_pos)).sum(dim=1)
        closest_negative = (dist_an * softmax_weights(-dist_an, is_neg)).sum(dim=1)
        return F.soft_margin_loss(closest_negative - furthest_positive, torch.ones_like(closest_negative))
