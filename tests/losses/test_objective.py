import pytest
import torch

from sfcl.config import LossConfig, config_from_dict
from sfcl.errors import SfclError
from sfcl.losses import CrossEntropyLabelSmooth, ReIDObjective, WeightedRegularizedTriplet
from sfcl.models.reid import ModelOutput


def output(n=8, d=5, c=4):
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(n, d, generator=g)
    return ModelOutput(features=feats, embedding=feats, logits=torch.randn(n, c, generator=g),
                       feature_map=feats[:, :, None, None])


def test_terms_sum_and_gather_sees_features_and_labels():
    out, labels = output(), torch.arange(8) % 4
    seen = []

    def gather(t):
        seen.append(t.shape)
        return torch.cat([t, t])

    total, terms = ReIDObjective(LossConfig(triplet_weight=0.5))(out, labels, gather=gather)
    loss_id = CrossEntropyLabelSmooth(0.1)(out.logits, labels)
    loss_tri = WeightedRegularizedTriplet()(torch.cat([out.features] * 2), torch.cat([labels] * 2))
    assert float(total) == pytest.approx(float(loss_id + 0.5 * loss_tri), abs=1e-6)
    assert terms["total"] == pytest.approx(float(total)) and set(terms) == {"id", "tri", "total"}
    assert seen == [(8, 5), (8,)]


def test_no_triplet_and_bad_names():
    total, terms = ReIDObjective(LossConfig(triplet="none"))(output(), torch.arange(8) % 4)
    assert set(terms) == {"id", "total"}
    with pytest.raises(SfclError, match="loss.triplet"):
        config_from_dict({"loss": {"triplet": "quadruplet"}})  # checked when the config is read


def test_fad_warmup_ramps_the_fad_weights_linearly():
    out = output()
    out.frequency = torch.randn(8, 5, generator=torch.Generator().manual_seed(2))
    labels, modality = torch.arange(8) % 4, torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    objective = ReIDObjective(LossConfig(triplet="none", cfc_weight=1.0, csc_weight=0.8, fad_warmup_epochs=2.0))
    full, terms = objective(out, labels, modality=modality)  # no progress: full weight
    fad = terms["cfc"] + 0.8 * terms["csc"]
    assert full.item() == pytest.approx(terms["id"] + fad, abs=1e-5)
    for progress, factor in ((0.0, 0.0), (0.5, 0.25), (1.0, 0.5), (2.0, 1.0), (7.0, 1.0)):
        total, _ = objective(out, labels, modality=modality, progress=progress)
        assert total.item() == pytest.approx(terms["id"] + factor * fad, abs=1e-5), progress
    with pytest.raises(SfclError, match="fad_warmup_epochs"):
        config_from_dict({"loss": {"fad_warmup_epochs": -1}})
