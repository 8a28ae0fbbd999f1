import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from sfcl.data.samplers import CrossModalIdentitySampler
from sfcl.errors import SfclError


def _toy(num_ids=10, vis=3, nir=2, only_vis=(10,)):
    labels, mods = [], []
    for pid in range(num_ids):
        labels += [pid] * vis + [pid] * nir
        mods += [0] * vis + [1] * nir
    for pid in only_vis:  # identity with no infrared images: never drawn
        labels += [pid] * 2
        mods += [0] * 2
    return np.array(labels), np.array(mods)


def test_composition_alignment_length():
    labels, mods = _toy()
    s = CrossModalIdentitySampler(labels, mods, num_ids=4, num_instances=3, seed=1)
    n_vis = int((mods == 0).sum())
    assert len(s) == int(n_vis / 12) + 1
    batches = list(s)
    assert len(batches) == len(s)
    for b in batches:
        assert len(b) == 24
        vis, nir = np.array(b[:12]), np.array(b[12:])
        assert (mods[vis] == 0).all() and (mods[nir] == 1).all()
        assert (labels[vis] == labels[nir]).all()
        groups = labels[vis].reshape(4, 3)
        assert (groups == groups[:, :1]).all() and len(set(groups[:, 0])) == 4
        assert 10 not in labels[vis]


def test_num_batches_and_determinism():
    labels, mods = _toy()
    s = CrossModalIdentitySampler(labels, mods, num_ids=2, num_instances=2, seed=5, num_batches=7)
    assert len(s) == 7
    a = list(s)
    assert list(s) == a
    s.set_epoch(1)
    b = list(s)
    assert b != a
    t = CrossModalIdentitySampler(labels, mods, num_ids=2, num_instances=2, seed=5, num_batches=7)
    t.load_state_dict(s.state_dict())
    assert list(t) == b
    assert list(CrossModalIdentitySampler(labels, mods, num_ids=2, num_instances=2, seed=6, num_batches=7)) != a


def test_two_ranks_recompose_single_process():
    labels, mods = _toy()
    kw = dict(num_ids=4, num_instances=2, seed=3, num_batches=5)
    full = CrossModalIdentitySampler(labels, mods, **kw)
    ranks = [CrossModalIdentitySampler(labels, mods, rank=r, world_size=2, **kw) for r in range(2)]
    for s in [full, *ranks]:
        s.set_epoch(2)
    for fb, r0, r1 in zip(full, *ranks):
        h = len(r0) // 2
        assert r0[:h] + r1[:h] == fb[:8] and r0[h:] + r1[h:] == fb[8:]


def test_errors():
    labels, mods = _toy(num_ids=3)
    with pytest.raises(SfclError, match="num_ids"):
        CrossModalIdentitySampler(labels, mods, num_ids=4)
    with pytest.raises(SfclError, match="divisible"):
        CrossModalIdentitySampler(labels, mods, num_ids=3, world_size=2)
    with pytest.raises(SfclError, match="modalities"):
        CrossModalIdentitySampler(labels, mods + 1, num_ids=2)


class _Idx(Dataset):
    def __len__(self):
        return 100

    def __getitem__(self, i):
        return torch.tensor(i)


def test_dataloader_batch_sampler():
    labels, mods = _toy()
    s = CrossModalIdentitySampler(labels, mods, num_ids=2, num_instances=2, num_batches=3)
    out = [b.tolist() for b in DataLoader(_Idx(), batch_sampler=s)]
    assert out == list(s)
