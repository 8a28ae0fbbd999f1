"""The vectorised protocols equal the slow per-query reference on random inputs, ties included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sfcl.errors import SfclError
from sfcl.evaluation.metrics import evaluate_ranking, removal_mask
from tests.reference.ref_eval import reference_eval

# the reference's rule names (its eval_sysu / eval_regdb / eval_llcm) -> ours
RULE = {"sysu": "drop-cam3-cam2", "regdb": "keep-all", "llcm": "drop-same-camera"}


def eval_sysu(*args, **kw):
    return evaluate_ranking(*args, rule=RULE["sysu"], **kw)


def eval_regdb(*args, **kw):
    return evaluate_ranking(*args, rule=RULE["regdb"], **kw)


def random_problem(seed: int, num_q: int, num_g: int, num_ids: int, ties: bool):
    rng = np.random.default_rng(seed)
    dist = rng.random((num_q, num_g))
    if ties:
        dist = np.round(dist * 4) / 4  # only five distinct values: many ties
    q_pids = rng.integers(0, num_ids + 3, num_q)  # some query ids absent from the gallery
    g_pids = rng.integers(0, num_ids, num_g)
    q_cams = rng.choice([3, 6], num_q)
    g_cams = rng.choice([1, 2, 4, 5], num_g)
    return dist, q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("dtype", [np.float64, np.float32])  # float32 takes the one-searchsorted key path
@pytest.mark.parametrize("rule", ["sysu", "regdb", "llcm"])
@pytest.mark.parametrize("seed, num_q, num_g, num_ids, ties", [
    (0, 40, 60, 10, False), (1, 30, 80, 25, True), (2, 25, 12, 4, True), (3, 50, 200, 30, False),
])
def test_matches_reference(rule, seed, num_q, num_g, num_ids, ties, dtype):
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(seed, num_q, num_g, num_ids, ties)
    dist = dist.astype(dtype)
    if ties:
        dist[0, :3] = -0.0  # negative zero ties with +0.0 by gallery order
        dist[1, :3] = 0.0
    if rule == "llcm":  # cameras shared between query and gallery so the same-camera rule fires
        g_cams = np.random.default_rng(seed).choice([3, 6, 1], num_g)
    cmc, m_ap, m_inp = evaluate_ranking(dist, q_pids, g_pids, q_cams, g_cams, rule=RULE[rule])
    ref_cmc, ref_ap, ref_inp = reference_eval(dist, q_pids, g_pids, q_cams, g_cams, rule)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert m_ap == pytest.approx(ref_ap, abs=1e-6)
    assert m_inp == pytest.approx(ref_inp, abs=1e-6)
    assert cmc.shape == (min(20, num_g),)


def test_torch_inputs_on_their_device_give_the_same_numbers():
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(5, 20, 30, 8, False)
    as_numpy = eval_sysu(dist, q_pids, g_pids, q_cams, g_cams)
    as_torch = eval_sysu(*(torch.as_tensor(a) for a in (dist, q_pids, g_pids, q_cams, g_cams)))
    np.testing.assert_allclose(as_numpy[0], as_torch[0])
    assert as_numpy[1:] == pytest.approx(as_torch[1:])


def test_sysu_drops_camera_two_for_camera_three_queries():
    # one query of camera 3; the true match sits in camera 2 only -> the query is not valid
    dist = np.array([[0.1, 0.5], [0.1, 0.5]])
    q_pids, g_pids = np.array([7, 7]), np.array([7, 8])
    cmc, m_ap, _ = eval_sysu(dist, q_pids, g_pids, np.array([3, 6]), np.array([2, 1]))
    assert m_ap == pytest.approx(1.0) and cmc[0] == pytest.approx(1.0)  # only the camera-6 query counts
    with pytest.raises(SfclError, match="no query identity"):
        eval_sysu(dist[:1], q_pids[:1], g_pids, np.array([3]), np.array([2, 1]))


def test_dedup_cmc_counts_distinct_identities():
    # ranking: id 1, id 1, id 1, id 9 (the match): de-duplicated rank 2, raw rank 4
    dist = np.array([[0.1, 0.2, 0.3, 0.4]])
    g_pids = np.array([1, 1, 1, 9])
    cmc, m_ap, m_inp = eval_sysu(dist, np.array([9]), g_pids, np.array([6]), np.array([1, 1, 1, 1]))
    assert cmc[:2].tolist() == [0.0, 1.0]
    raw_cmc, raw_ap, _ = eval_regdb(dist, np.array([9]), g_pids)
    assert raw_cmc[:4].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert m_ap == pytest.approx(0.25) and m_inp == pytest.approx(0.25) and raw_ap == pytest.approx(0.25)


def test_max_rank_cut_to_gallery_size():
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(7, 10, 8, 3, False)
    cmc, _, _ = eval_regdb(dist, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    assert cmc.shape == (8,) and cmc[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("rule", ["sysu", "regdb", "llcm"])
def test_many_matches_per_query_take_the_sorting_path(rule):
    # 4 identities, 200 gallery images: ~50 matches per query, above the comparison path's limit
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(11, 30, 200, 4, ties=True)
    cmc, m_ap, m_inp = evaluate_ranking(dist, q_pids, g_pids, q_cams, g_cams, rule=RULE[rule])
    ref_cmc, ref_ap, ref_inp = reference_eval(dist, q_pids, g_pids, q_cams, g_cams, rule)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert (m_ap, m_inp) == pytest.approx((ref_ap, ref_inp), abs=1e-6)


def test_removal_mask_is_what_the_rules_drop():
    q_pids, g_pids = np.array([1, 2]), np.array([1, 1, 2])
    q_cams, g_cams = np.array([3, 6]), np.array([2, 3, 2])
    assert removal_mask("drop-cam3-cam2", q_pids, g_pids, q_cams, g_cams).tolist() == [[True, False, True],
                                                                                        [False, False, False]]
    assert removal_mask("drop-same-camera", q_pids, g_pids, q_cams, g_cams).tolist() == [[False, True, False],
                                                                                          [False, False, False]]
    assert not removal_mask("keep-all", q_pids, g_pids, q_cams, g_cams).any()
    with pytest.raises(SfclError, match="unknown scoring rule"):
        removal_mask("sysu", q_pids, g_pids, q_cams, g_cams)
    with pytest.raises(SfclError, match="needs the query and gallery cameras"):
        evaluate_ranking(np.zeros((2, 3)), q_pids, g_pids, rule="drop-same-camera")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule", ["sysu", "regdb", "llcm"])
@pytest.mark.parametrize("where", ["matches", "others", "both"])
def test_infinite_and_huge_distances_rank_as_the_reference_ranks_them(rule, where, dtype):
    """Dropped items leave the list wherever their distance is: a kept item at +inf or at finfo.max
    still ranks after the kept finite ones and before nothing it should not (issue 14: mAP 0.0569 vs
    0.0611 when dropped items were parked at finfo.max)."""
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(7, 30, 50, 8, ties=False)
    if rule == "llcm":
        g_cams = np.random.default_rng(7).choice([3, 6, 1], 50)
    rng = np.random.default_rng(8)
    hits = q_pids[:, None] == g_pids[None, :]
    pick = rng.random(dist.shape) < 0.3
    pick &= hits if where == "matches" else ~hits if where == "others" else True
    dist[pick] = np.where(rng.random(pick.sum()) < 0.5, np.inf, np.finfo(dtype).max)
    dist = dist.astype(dtype)
    dist[0, :4] = -dist[0, :4]  # some negative distances too (the key path flips their bits)
    cmc, m_ap, m_inp = evaluate_ranking(dist, q_pids, g_pids, q_cams, g_cams, rule=RULE[rule])
    ref_cmc, ref_ap, ref_inp = reference_eval(dist, q_pids, g_pids, q_cams, g_cams, rule)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert (m_ap, m_inp) == (pytest.approx(ref_ap, abs=1e-9), pytest.approx(ref_inp, abs=1e-9))


def test_heavy_exact_ties_equal_the_reference_at_size():
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(9, 300, 900, 40, ties=False)
    dist = np.round(dist, 1)  # eleven distinct values over 270 000 pairs
    for rule in RULE:
        got = evaluate_ranking(dist, q_pids, g_pids, q_cams, g_cams, rule=RULE[rule])
        want = reference_eval(dist, q_pids, g_pids, q_cams, g_cams, rule)
        np.testing.assert_allclose(got[0], want[0], atol=1e-9)
        assert got[1:] == (pytest.approx(want[1], abs=1e-9), pytest.approx(want[2], abs=1e-9))


def test_nan_distances_are_one_line():
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(10, 5, 6, 3, ties=False)
    dist[2, 4] = np.nan
    with pytest.raises(SfclError, match=r"holds NaN \(first at query 2, gallery 4\)"):
        eval_sysu(dist, q_pids, g_pids, q_cams, g_cams)
