"""k-reciprocal re-ranking against a slow twin written from the paper's definition, on random features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sfcl.errors import SfclError
from sfcl.evaluation.rerank import k_reciprocal_distance


def slow_rerank(query: np.ndarray, gallery: np.ndarray, k1: int, k2: int, lam: float) -> np.ndarray:
    """Zhong et al. 2017 step by step, one item at a time, float64 numpy, sets as Python sets."""
    x = np.concatenate([query, gallery]).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    n, nq = len(x), len(query)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    d /= d.max(axis=1, keepdims=True)
    order = np.argsort(d, axis=1, kind="stable")

    def nn(i, k):
        return set(order[i, :k + 1].tolist())

    def recip(i, k):
        return {j for j in nn(i, k) if i in nn(j, k)}

    half = int(np.around(k1 / 2))
    v = np.zeros((n, n))
    for i in range(n):
        r = recip(i, k1)
        expanded = set(r)
        for c in r:
            rc = recip(c, half)
            if len(rc & r) > 2 / 3 * len(rc):
                expanded |= rc
        cols = sorted(expanded)
        w = np.exp(-d[i, cols])
        v[i, cols] = w / w.sum()
    if k2 > 1:
        v = np.stack([v[order[i, :k2]].mean(axis=0) for i in range(n)])
    out = np.zeros((nq, n - nq))
    for qi in range(nq):
        for gi in range(n - nq):
            a, b = v[qi], v[nq + gi]
            jaccard = 1 - np.minimum(a, b).sum() / np.maximum(a, b).sum()
            out[qi, gi] = (1 - lam) * jaccard + lam * d[qi, nq + gi]
    return out


@pytest.mark.parametrize("num_q, num_g, dim, k1, k2, lam, seed", [
    (12, 30, 8, 20, 6, 0.3, 0), (25, 40, 16, 6, 3, 0.5, 1), (8, 9, 4, 4, 1, 0.0, 2), (30, 60, 32, 20, 6, 1.0, 3),
])
def test_matches_the_slow_twin(num_q, num_g, dim, k1, k2, lam, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 6, num_q + num_g)
    centres = rng.normal(size=(6, dim))
    feats = centres[ids] + 0.8 * rng.normal(size=(num_q + num_g, dim))  # clustered, like re-id features
    q, g = feats[:num_q], feats[num_q:]
    got = k_reciprocal_distance(torch.from_numpy(q), torch.from_numpy(g), k1=k1, k2=k2, lam=lam)
    assert got.shape == (num_q, num_g) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), slow_rerank(q, g, k1, k2, lam), atol=1e-10)


def test_lambda_one_is_the_normalised_original_distance_order():
    rng = np.random.default_rng(4)
    q, g = torch.from_numpy(rng.normal(size=(5, 8))), torch.from_numpy(rng.normal(size=(7, 8)))
    plain = -(torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(g, dim=1).T)
    reranked = k_reciprocal_distance(q, g, lam=1.0)
    assert torch.equal(plain.argsort(dim=1), reranked.argsort(dim=1))


def test_bad_arguments_are_one_line():
    with pytest.raises(SfclError, match="expected k1, k2 >= 1"):
        k_reciprocal_distance(torch.zeros(2, 3), torch.zeros(4, 3), k1=0)
    with pytest.raises(SfclError, match=r"\(Q, D\) and \(G, D\)"):
        k_reciprocal_distance(torch.zeros(2, 3), torch.zeros(4, 5))


def test_protocol_and_cli_rerank(tmp_path, capsys):
    import json

    from sfcl.cli import main
    from sfcl.evaluation.features import save_features
    from tests.evaluation.test_protocols import sysu_test_list

    test = sysu_test_list()
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(max(s.pid for s in test) + 1, 16))
    feats = torch.from_numpy(centres[[s.pid for s in test]] + 1.5 * rng.normal(size=(len(test), 16))).float()
    path = tmp_path / "f.pt"
    save_features(path, feats, test)
    out = {}
    for flag in ([], ["--rerank", "--k1", "6", "--k2", "3"]):
        assert main(["eval", "--features", str(path), "--trials", "2", "--json", str(tmp_path / "r.json"), *flag]) == 0
        out[bool(flag)] = json.loads((tmp_path / "r.json").read_text())["sysu-all-single"]
    capsys.readouterr()
    assert out[False]["rerank"] is None and out[True]["rerank"] == {"k1": 6, "k2": 3, "lambda": 0.3}
    assert out[True]["mAP"] != out[False]["mAP"]
