import math

import pytest
import torch

from sfcl.losses.identity import CrossEntropyLabelSmooth


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_matches_definition(eps):
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(5, 7, generator=g, dtype=torch.float64), torch.tensor([0, 3, 6, 2, 2])
    expected = 0.0
    for row, label in zip(logits.tolist(), labels.tolist()):
        log_z = math.log(sum(math.exp(v) for v in row))
        log_p = [v - log_z for v in row]
        expected += -sum(((1 - eps) * (c == label) + eps / 7) * lp for c, lp in enumerate(log_p))
    assert float(CrossEntropyLabelSmooth(eps)(logits, labels)) == pytest.approx(expected / 5, abs=1e-9)
