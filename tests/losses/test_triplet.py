import pytest
import torch

from sfcl.losses.triplet import BatchHardTripletLoss, WeightedRegularizedTriplet, euclidean_distances
from tests.reference.ref_losses import batch_hard_reference, wrt_reference


def problem(seed: int, n: int = 12, d: int = 6, ids: int = 4):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % ids
    return torch.randn(n, d, generator=g, dtype=torch.float64), labels


@pytest.mark.parametrize("seed", range(4))
def test_batch_hard_matches_reference(seed):
    feats, labels = problem(seed)
    got = BatchHardTripletLoss(0.3)(feats, labels)
    assert float(got) == pytest.approx(batch_hard_reference(feats, labels, 0.3), abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_wrt_matches_reference(seed):
    feats, labels = problem(seed)
    got = WeightedRegularizedTriplet()(feats, labels)
    assert float(got) == pytest.approx(wrt_reference(feats, labels), abs=1e-6)


def test_distances_and_identical_points_have_finite_gradients():
    feats = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [3.0, 1.0]], requires_grad=True)
    dist = euclidean_distances(feats)
    torch.testing.assert_close(dist, torch.cdist(feats, feats).clamp(min=1e-6), atol=1e-5, rtol=0)
    for loss in (BatchHardTripletLoss(), WeightedRegularizedTriplet()):
        loss(feats, torch.tensor([0, 0, 1, 1])).backward()
        assert torch.isfinite(feats.grad).all()
        feats.grad = None


@pytest.mark.parametrize("loss", [BatchHardTripletLoss(0.3), WeightedRegularizedTriplet()])
def test_gradcheck(loss):
    feats, labels = problem(7, n=6, d=3, ids=3)
    feats.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: loss(f, labels), (feats,), eps=1e-6, atol=1e-5)
