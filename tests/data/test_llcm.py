from pathlib import Path

import pytest

from sfcl.data.llcm import load_llcm
from sfcl.errors import SfclError
from tests.data.fixtures import make_llcm


def test_counts_labels_order(tmp_path):
    ds = load_llcm(make_llcm(tmp_path))
    assert ds.name == "llcm" and ds.num_classes == 2 and len(ds.train) == 8
    for mod in ("vis", "nir"):
        assert {s.pid: s.label for s in ds.train_of(mod)} == {1: 0, 2: 1}
    assert {s.cam for s in ds.train} == {1, 2}
    assert len(ds.test) == 2 * 4 * 2
    keys = [(s.pid, s.cam, s.modality != "vis", Path(s.path).name) for s in ds.test]
    assert keys == sorted(keys)
    assert {s.cam for s in ds.test if s.modality == "vis"} == {1, 2}
    assert {s.cam for s in ds.test if s.modality == "nir"} == {1, 3}
    assert {s.pid for s in ds.test} == {8, 9}
    assert all(("test_vis" in s.path) == (s.modality == "vis") for s in ds.test)


@pytest.mark.parametrize("victim", ["test_nir", "idx/train_vis.txt", "idx"])
def test_missing(tmp_path, victim):
    import shutil
    root = make_llcm(tmp_path)
    target = root / victim
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(SfclError) as err:
        load_llcm(root)
    assert str(target) in str(err.value) and "\n" not in str(err.value)


def test_flat_test_layout_rejected(tmp_path):
    import shutil
    root = make_llcm(tmp_path)
    shutil.rmtree(root / "test_vis")
    (root / "test_vis" / "0008").mkdir(parents=True)
    with pytest.raises(SfclError, match="cam<k>"):
        load_llcm(root)


def test_thumbnail_caches_and_hidden_entries_skipped(tmp_path):
    root = make_llcm(tmp_path)
    clean = load_llcm(root)
    (root / "test_vis" / "cam1" / "0008" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "test_nir" / "cam3" / "0009" / ".DS_Store").write_bytes(b"Bud1")
    (root / "test_nir" / "cam1" / ".Trash").mkdir()
    assert [s.path for s in load_llcm(root).test] == [s.path for s in clean.test]
