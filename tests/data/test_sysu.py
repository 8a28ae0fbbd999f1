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
    (root / "exp" / "train_id.txt").write_text("")
    (root / "exp" / "val_id.txt").write_text("")
    with pytest.raises(SfclError, match="no training images"):
        load_sysu(root)


@pytest.mark.parametrize("which", ["train", "test"])
def test_listed_ids_without_images(tmp_path, which):
    root = make_sysu(tmp_path)
    name = f"exp/{which}_id.txt"
    ids = (1, 2, 77, 78) if which == "train" else (4, 5, 77, 78)
    (root / name).write_text(",".join(map(str, ids)))
    with pytest.raises(SfclError) as err:
        load_sysu(root)
    _one_line(err, root / name)
    assert "2 (77, 78) ids with no image" in str(err.value)


def test_unpadded_id_folder(tmp_path):
    root = make_sysu(tmp_path)
    (root / "cam1" / "0001").rename(root / "cam1" / "1")
    (root / "cam3" / ".hidden").mkdir()  # hidden names are not identities, and not errors
    with pytest.raises(SfclError) as err:
        load_sysu(root)
    _one_line(err, root)
    assert "1 (cam1/1) folders are not 4-digit" in str(err.value)


@pytest.mark.parametrize("split", ["test", "val"])
def test_train_test_overlap(tmp_path, split):
    root = make_sysu(tmp_path)
    (root / "exp" / "train_id.txt").write_text("1,2,3,4")  # 3 is the val id, 4 a test id
    with pytest.raises(SfclError) as err:
        load_sysu(root, eval_split=split)
    shared = "1 (4)" if split == "test" else "1 (3)"
    _one_line(err, root / "exp" / ("test_id.txt" if split == "test" else "val_id.txt"))
    assert f"shares {shared} ids" in str(err.value)


def test_thumbnail_caches_and_hidden_files_are_not_images(tmp_path):
    root = make_sysu(tmp_path)
    clean = load_sysu(root)
    (root / "cam1" / "0001" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0 not an image")
    (root / "cam4" / "0004" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "cam3" / "0002" / "._0001.jpg").write_bytes(b"\x00\x05\x16\x07")
    (root / "cam2" / ".DS_Store").write_bytes(b"Bud1")
    ds = load_sysu(root)
    assert [s.path for s in ds.train] == [s.path for s in clean.train]
    assert [s.path for s in ds.test] == [s.path for s in clean.test]


def test_synthvi_loads(tmp_path):
    synthvi = pytest.importorskip("sfcl.data.synthvi")
    root = synthvi.synthesize(tmp_path / "s", num_ids=6, seed=0, images_per_cam=1, height=32, width=16)
    ds = load_sysu(root)
    assert ds.num_classes > 0 and ds.test
    assert sorted({s.label for s in ds.train}) == list(range(ds.num_classes))
