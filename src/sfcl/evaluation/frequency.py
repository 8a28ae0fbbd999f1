"""Is the frequency branch alive? Measurements of a trained CFAM / SFCL on test images.

- ``o_fre_rms_ratio``: RMS of O_fre over RMS of the backbone map X (CFAM's output scale);
- ``gated_share``: RMS of γ·O_fre over RMS of X, what the CFAM row adds to X (Base + CFAM only);
- ``frequency_cosine``: mean pairwise cosine of the frequency embeddings L_cfc reads (near 1: collapsed);
- ``fused_vs_gem_x``: mean cosine between the retrieval feature and GeM(X) (1: the branch changes nothing);
- and, evaluated inside :class:`~sfcl.models.reid.frequency_disabled`, the mAP lost when O_fre
  is replaced by zeros at test time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sfcl.data.base import Sample
from sfcl.evaluation.extract import test_loader


def _mean_pairwise_cosine(vectors: torch.Tensor) -> float:
    unit = F.normalize(vectors.double(), dim=1)
    n = unit.shape[0]
    gram = unit @ unit.T
    return float((gram.sum() - gram.diagonal().sum()) / max(1, n * (n - 1)))


@torch.no_grad()
def frequency_report(model: nn.Module, samples: list[Sample], height: int, width: int,
                     batch_size: int = 128, device: torch.device | str = "cpu") -> dict[str, float]:
    """The measurements above over ``samples`` (eval mode, the inference-time partner); {} for a Base."""
    net = getattr(model, "module", model)
    if getattr(net, "cfam", None) is None:
        return {}
    loader = test_loader(samples, height, width, batch_size)
    was_training = net.training
    net.eval()
    sq = {"x": 0.0, "o": 0.0, "gated": 0.0, "block": 0.0, "embedding": 0.0}
    count, cosines, frequency = 0, [], []
    for images, _label, _pid, _cam, modality in loader:
        out = net(images.to(device), modality.to(device))
        x, o = out.feature_map.double(), out.frequency_map.double()
        sq["x"] += float(x.pow(2).sum())
        sq["o"] += float(o.pow(2).sum())
        if net.frequency_gate is not None:
            sq["gated"] += float((net.frequency_gate.double()[None, :, None, None] * o).pow(2).sum())
        count += x.numel()
        pooled_x = net.pool(out.feature_map).double()  # fusion: concat compares the GeM block; the rest is MLP(T)
        cosines.append(F.cosine_similarity(out.features.double()[:, :pooled_x.shape[1]], pooled_x, dim=1))
        neck = out.embedding.double()[:, :out.features.shape[1]]  # without an appended frequency embedding
        sq["block"] += float(neck[:, pooled_x.shape[1]:].pow(2).sum())
        sq["embedding"] += float(neck.pow(2).sum())
        frequency.append(out.frequency.float().cpu())
    net.train(was_training)
    rms = {k: (v / max(1, count)) ** 0.5 for k, v in sq.items()}
    report = {"o_fre_rms_ratio": rms["o"] / max(rms["x"], 1e-12),
              "frequency_cosine": _mean_pairwise_cosine(torch.cat(frequency)),
              "fused_vs_gem_x": float(torch.cat(cosines).mean())}
    if sq["block"] > 0:  # the MLP(T) block's share of the retrieval embedding's energy
        report["concat_share"] = sq["block"] / sq["embedding"]
    if net.frequency_gate is not None:
        report["gated_share"] = rms["gated"] / max(rms["x"], 1e-12)
    return report

