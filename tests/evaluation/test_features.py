import numpy as np
import pytest
import torch

from sfcl.data.base import Sample
from sfcl.errors import SfclError
from sfcl.evaluation.features import load_features, save_features

SAMPLES = [Sample(f"/x/{i}.jpg", pid=i // 2, cam=3 if i % 2 else 1, modality="nir" if i % 2 else "vis")
           for i in range(6)]


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_round_trip(tmp_path, suffix):
    feats = torch.randn(6, 5)
    save_features(tmp_path / f"f{suffix}", feats, SAMPLES)
    loaded, samples = load_features(tmp_path / f"f{suffix}")
    torch.testing.assert_close(loaded, feats)
    assert samples == SAMPLES


def test_bad_files(tmp_path):
    with pytest.raises(SfclError, match="missing features file"):
        load_features(tmp_path / "none.pt")
    np.savez(tmp_path / "k.npz", feats=np.zeros((2, 3)), pids=np.zeros(2))
    with pytest.raises(SfclError, match="missing key"):
        load_features(tmp_path / "k.npz")
    np.savez(tmp_path / "s.npz", feats=np.zeros((2, 3)), pids=np.zeros(3), cams=np.zeros(2), modalities=np.zeros(2))
    with pytest.raises(SfclError, match=r"\(N, D\)"):
        load_features(tmp_path / "s.npz")
    (tmp_path / "c.pt").write_bytes(b"junk")
    with pytest.raises(SfclError, match="cannot be read"):
        load_features(tmp_path / "c.pt")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(SfclError, match="suffix"):
        load_features(tmp_path / "f.txt")
