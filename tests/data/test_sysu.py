from pathlib import Path

import pytest

from sfcl.data import build_dataset
from sfcl.data.sysu import load_sysu
from sfcl.errors import SfclError
from tests.data.fixtures import make_sysu


def test_counts_labels_and_modalities(tmp_path):
    ds = load_sysu(make_sysu(tmp_path))
    assert ds.name == "sysu" and ds.num_classes == 3
    assert len(ds.train) == (3 * 6 - 1) * 2  # (2, 5) folder missing
    assert {s.label for s in ds.train} == {0, 1, 2}
    for mod in ("vis", "nir"):
        assert {s.label for s in ds.train_of(mod)} == {0, 1, 2}
    assert all(s.label == s.pid - 1 for s in ds.train)
    assert all((s.modality == "nir") == (s.cam in (3, 6)) for s in ds.train + ds.test)
    assert "sysu-all-single" in ds.protocols and "rand_perm_cam" not in ds.meta


def test_test_order(tmp_path):
    ds = load_sysu(make_sysu(tmp_path))
    keys = [(s.pid, s.cam, Path(s.path).name) for s in ds.test]
    assert keys == sorted(keys) and len(ds.test) == 2 * 6 * 2
    assert all(s.label == -1 for s in ds.test)
    assert Path(ds.test[0].path).is_absolute()


def test_rand_perm_meta_and_build_dataset(tmp_path):
    root = make_sysu(tmp_path)
    (root / "exp" / "rand_perm_cam.mat").write_bytes(b"x")
    ds = build_dataset("sysu", root)
    assert ds.meta["rand_perm_cam"].endswith("rand_perm_cam.mat")
    with pytest.raises(SfclError, match="unknown dataset"):
        build_dataset("nope", root)


def _one_line(err, path):
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg


@pytest.mark.parametrize("victim", ["cam3", "exp/test_id.txt", "exp"])
def test_missing_paths(tmp_path, victim):
    import shutil
    root = make_sysu(tmp_path)
    target = root / victim
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(SfclError) as err:
        load_sysu(root)
    _one_line(err, target)


def test_missing_root(tmp_path):
    with pytest.raises(SfclError) as err:
        load_sysu(tmp_path / "none")
    _one_line(err, tmp_path / "none")


def test_bad_id_file(tmp_path):
    root = make_sysu(tmp_path)
    (root / "exp" / "train_id.txt").write_text("1 2 three")
    with pytest.raises(SfclError) as err:
        load_sysu(root)
    _one_line(err, root / "exp" / "train_id.txt")


def test_no_training_images(tmp_path):
    root = make_sysu(tmp_path, train=(), val=(), test=(4,))
    (root / "exp" / "train_id.txt").write_text("77")
    with pytest.raises(SfclError, match="no training images"):
        load_sysu(root)


def test_synthvi_loads(tmp_path):
    synthvi = pytest.importorskip("sfcl.data.synthvi")
    root = synthvi.synthesize(tmp_path / "s", num_ids=6, seed=0, images_per_cam=1, height=32, width=16)
    ds = load_sysu(root)
    assert ds.num_classes > 0 and ds.test
    assert sorted({s.label for s in ds.train}) == list(range(ds.num_classes))
