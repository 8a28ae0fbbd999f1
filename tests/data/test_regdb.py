import pytest

from sfcl.data import build_dataset
from sfcl.data.regdb import load_regdb
from sfcl.errors import SfclError
from tests.data.fixtures import make_regdb


def test_counts_labels_order(tmp_path):
    ds = load_regdb(make_regdb(tmp_path, trial=2), trial=2)
    assert ds.name == "regdb" and ds.meta["trial"] == 2 and ds.num_classes == 2
    assert len(ds.train) == 8 and len(ds.test) == 8
    assert {s.pid: s.label for s in ds.train} == {1: 0, 3: 1}
    assert all(s.cam == (1 if s.modality == "vis" else 2) for s in ds.train + ds.test)
    assert [s.modality for s in ds.test] == ["vis"] * 4 + ["nir"] * 4
    assert [s.pid for s in ds.test[:4]] == [7, 7, 5, 5]  # list order kept
    assert ds.protocols == ("regdb-v2t", "regdb-t2v")


def test_build_dataset_trial(tmp_path):
    assert build_dataset("regdb", make_regdb(tmp_path, trial=3), trial=3).meta["trial"] == 3


def test_missing_list_file(tmp_path):
    root = make_regdb(tmp_path)
    with pytest.raises(SfclError) as err:
        load_regdb(root, trial=4)
    assert str(root / "idx" / "train_visible_4.txt") in str(err.value) and "\n" not in str(err.value)


def test_bad_line(tmp_path):
    root = make_regdb(tmp_path)
    lst = root / "idx" / "test_thermal_1.txt"
    lst.write_text(lst.read_text() + "Thermal/x.bmp notanint\n")
    with pytest.raises(SfclError) as err:
        load_regdb(root)
    assert str(lst) in str(err.value) and "path label" in str(err.value) and "\n" not in str(err.value)


def test_listed_image_missing(tmp_path):
    root = make_regdb(tmp_path)
    (root / "Visible/Male/1/visible_1_0.bmp").unlink()
    with pytest.raises(SfclError) as err:
        load_regdb(root)
    assert str(root / "Visible/Male/1/visible_1_0.bmp") in str(err.value)


@pytest.mark.parametrize("folder", ["Visible", "Thermal", "idx"])
def test_missing_folder(tmp_path, folder):
    import shutil
    root = make_regdb(tmp_path)
    shutil.rmtree(root / folder)
    with pytest.raises(SfclError) as err:
        load_regdb(root)
    assert str(root / folder) in str(err.value)


def test_bad_trial(tmp_path):
    with pytest.raises(SfclError, match="trial"):
        load_regdb(make_regdb(tmp_path), trial=11)


def test_train_test_overlap_refused_by_build_dataset(tmp_path):
    root = make_regdb(tmp_path, train=(3, 1), test=(7, 3))
    with pytest.raises(SfclError) as err:
        build_dataset("regdb", root, trial=1)
    assert "train and test share 1 (3) identities" in str(err.value) and str(root) in str(err.value)
