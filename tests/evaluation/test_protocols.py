"""Query/gallery construction of each protocol, against the reference's own call sequence."""

from __future__ import annotations

import random

import numpy as np
import pytest
import scipy.io
import torch

from sfcl.data.base import Sample
from sfcl.errors import SfclError
from sfcl.evaluation.protocols import build_trials, evaluate, format_table


def sysu_test_list(num_ids: int = 6, per_cam: int = 4, skip=((2, 5),)) -> list[Sample]:
    """Test images of ids 1..num_ids in SYSU order; (pid, cam) pairs in ``skip`` have no folder."""
    samples = []
    for pid in range(1, num_ids + 1):
        for cam in range(1, 7):
            if (pid, cam) in skip:
                continue
            for img in range(1, per_cam + 1):
                modality = "nir" if cam in (3, 6) else "vis"
                samples.append(Sample(f"/d/cam{cam}/{pid:04d}/{img:04d}.jpg", pid, cam, modality))
    return samples


def agw_style_gallery(test: list[Sample], cams, trial: int) -> list[str]:
    """What the reference does: module-level random.seed, then random.choice per sorted id and camera."""
    random.seed(trial)
    chosen = []
    for pid in sorted({s.pid for s in test}):
        for cam in cams:
            files = sorted(s.path for s in test if s.pid == pid and s.cam == cam)
            if files:
                chosen.append(random.choice(files))
    return chosen


@pytest.mark.parametrize("mode, cams", [("all", (1, 2, 4, 5)), ("indoor", (1, 2))])
def test_sysu_single_shot_replays_reference_choices(mode, cams):
    test = sysu_test_list()
    trials = build_trials(f"sysu-{mode}-single", test, num_trials=10)
    for t, trial in enumerate(trials):
        assert [test[i].path for i in trial.gallery] == agw_style_gallery(test, cams, t)
        assert all(test[i].cam in (3, 6) for i in trial.query)
        assert len(trial.query) == sum(s.cam in (3, 6) for s in test)
    assert len(trials[0].gallery) == 6 * len(cams) - (1 if mode == "all" else 0)  # (2, 5) has no folder
    assert not np.array_equal(trials[0].gallery, trials[1].gallery)


def test_sysu_multi_shot_seeded_counts():
    test = sysu_test_list(per_cam=12)
    trials = build_trials("sysu-all-multi", test, num_trials=2)
    gallery = [test[i] for i in trials[0].gallery]
    assert len(gallery) == 10 * (6 * 4 - 1)
    assert len(set(s.path for s in gallery)) == len(gallery)


def test_sysu_multi_shot_uses_rand_perm_cam(tmp_path):
    test = sysu_test_list(num_ids=3, per_cam=12, skip=())
    perm = np.empty((6, 1), dtype=object)
    for cam in range(6):
        per_id = np.empty((3, 1), dtype=object)
        for pid in range(3):
            per_id[pid, 0] = np.array([np.arange(12, 0, -1) if t % 2 else np.arange(1, 13) for t in range(2)])
        perm[cam, 0] = per_id
    scipy.io.savemat(tmp_path / "rand_perm_cam.mat", {"rand_perm_cam": perm})
    meta = {"rand_perm_cam": str(tmp_path / "rand_perm_cam.mat")}
    result = evaluate("sysu-all-multi", torch.randn(len(test), 8), test, num_trials=2, meta=meta)
    assert result["gallery_sampling"] == "rand_perm_cam"
    trials = build_trials("sysu-all-multi", test, num_trials=2, meta=meta)
    first = [test[i].path for i in trials[0].gallery[:10]]
    assert first == [f"/d/cam1/0001/{n:04d}.jpg" for n in range(1, 11)]
    second = [test[i].path for i in trials[1].gallery[:10]]
    assert second == [f"/d/cam1/0001/{n:04d}.jpg" for n in range(12, 2, -1)]


def two_modality_list(cams_vis=(1,), cams_nir=(2,), num_ids=4, per_cam=3) -> list[Sample]:
    samples = []
    for pid in range(num_ids):
        for modality, cams in (("vis", cams_vis), ("nir", cams_nir)):
            for cam in cams:
                samples += [Sample(f"/r/{modality}/{pid}_{cam}_{i}.bmp", pid, cam, modality) for i in range(per_cam)]
    return samples


def test_regdb_directions_swap():
    test = two_modality_list()
    (v2t,) = build_trials("regdb-v2t", test)
    (t2v,) = build_trials("regdb-t2v", test)
    assert np.array_equal(v2t.query, t2v.gallery) and np.array_equal(v2t.gallery, t2v.query)
    assert all(test[i].modality == "vis" for i in v2t.query)


def test_llcm_draws_one_image_per_id_and_camera_and_queries_with_infrared():
    test = two_modality_list(cams_vis=(1, 2), cams_nir=(1, 4))
    for name, drawn_side in (("llcm-v2i", "query"), ("llcm-i2v", "gallery")):
        trials = build_trials(name, test, num_trials=3)
        for trial in trials:
            assert all(test[i].modality == "nir" for i in trial.query)  # the authors' test.py, both directions
            assert all(test[i].modality == "vis" for i in trial.gallery)
            drawn = trial.query if drawn_side == "query" else trial.gallery
            pairs = [(test[i].pid, test[i].cam) for i in drawn]
            assert len(pairs) == len(set(pairs)) == 4 * 2
        assert not np.array_equal(getattr(trials[0], drawn_side), getattr(trials[1], drawn_side))


def test_evaluate_perfect_features_score_100():
    test = sysu_test_list()
    feats = torch.nn.functional.one_hot(torch.tensor([s.pid for s in test])).float()
    result = evaluate("sysu-all-single", feats + 0.01 * torch.randn(feats.shape), test, num_trials=3)
    assert result["r1"] == pytest.approx(100.0) and result["mAP"] == pytest.approx(100.0)
    assert len(result["trials"]) == 3 and result["num_gallery"] == 23
    assert "sysu-all-single" in format_table({"sysu-all-single": result})


def test_bad_inputs():
    test = sysu_test_list()
    with pytest.raises(SfclError, match="unknown protocol"):
        build_trials("sysu-all-double", test)
    with pytest.raises(SfclError, match="do not fit"):
        evaluate("sysu-all-single", torch.randn(3, 4), test)
    with pytest.raises(SfclError, match="empty"):
        build_trials("regdb-v2t", [s for s in two_modality_list() if s.modality == "vis"])
