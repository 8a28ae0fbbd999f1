"""frequency_report: the measurements of "is the frequency branch alive", against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sfcl.config import CFAMConfig, ModelConfig, SFIMConfig
from sfcl.data.base import Sample
from sfcl.evaluation import extract
from sfcl.evaluation.frequency import frequency_report
from sfcl.models import build_model


@pytest.fixture
def samples(tmp_path) -> list[Sample]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (64, 32, 3), dtype=np.uint8)).save(path)
        out.append(Sample(str(path), i, 1, "vis" if i % 2 == 0 else "nir"))
    return out


def _model(fusion: str | None) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="resnet", depth=18, cfam=CFAMConfig(enabled=True, dim=16, heads=2, d_state=4),
                      sfim=SFIMConfig(enabled=fusion is not None, covariance_dim=4, mlp_hidden=8,
                                      fusion=fusion or "sum", fusion_dim=5))
    return build_model(cfg, num_classes=4, input_size=(64, 32)).eval()


def test_base_has_no_report(samples):
    torch.manual_seed(0)
    assert frequency_report(build_model(ModelConfig(backbone="resnet", depth=18), 4, (64, 32)), samples, 64, 32) == {}


@pytest.mark.parametrize("fusion", [None, "sum", "concat"])
def test_report_matches_a_direct_computation(samples, fusion):
    model = _model(fusion)
    if fusion == "concat":  # open the MLP(T) block so its share is not zero
        for p in model.sfim.mlp[-1].parameters():
            torch.nn.init.normal_(p, std=0.5)
    report = frequency_report(model, samples, 64, 32, batch_size=3)
    batch, *_rest, modality = next(iter(extract.test_loader(samples, 64, 32, batch_size=4)))  # the report's inputs
    with torch.no_grad():
        out = model(batch, modality)
    x, o = out.feature_map.double(), out.frequency_map.double()
    assert report["o_fre_rms_ratio"] == pytest.approx(float(o.pow(2).mean().sqrt() / x.pow(2).mean().sqrt()), rel=1e-6)
    unit = F.normalize(out.frequency.double(), dim=1)
    pairs = [float(unit[i] @ unit[j]) for i in range(4) for j in range(4) if i != j]
    assert report["frequency_cosine"] == pytest.approx(np.mean(pairs), rel=1e-6)
    gem = model.pool(out.feature_map).double()
    cos = F.cosine_similarity(out.features.double()[:, : gem.shape[1]], gem, dim=1).mean()
    assert report["fused_vs_gem_x"] == pytest.approx(float(cos), rel=1e-6)
    if fusion == "concat":
        share = out.embedding.double()[:, gem.shape[1]:].pow(2).sum() / out.embedding.double().pow(2).sum()
        assert 0 < report["concat_share"] == pytest.approx(float(share), rel=1e-6)
    else:
        assert "concat_share" not in report
    assert ("gated_share" in report) == (fusion is None)
