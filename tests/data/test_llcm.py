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
    assert {s.cam for s in ds.test if s.modality == "nir"} == {1, 4}
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
    (root / "test_nir" / "cam4" / "0009" / ".DS_Store").write_bytes(b"Bud1")
    (root / "test_nir" / "cam1" / ".Trash").mkdir()
    assert [s.path for s in load_llcm(root).test] == [s.path for s in clean.test]


def test_the_authors_lists_decide_the_test_set(tmp_path, caplog):
    import logging

    root = make_llcm(tmp_path, test=(9, 8, 7), cams_nir=(1, 3, 4))
    (root / "idx" / "test_id.txt").write_text("8,9,12\n")  # 7 has folders but is not listed; 12 is listed, no images
    with caplog.at_level(logging.INFO, logger="sfcl.data.llcm"):
        ds = load_llcm(root)
    assert {s.pid for s in ds.test} == {8, 9}
    assert {s.cam for s in ds.test if s.modality == "nir"} == {1, 4}  # infrared camera 3 is not in their list
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert "test_nir/cam3 not among the authors' test cameras" in lines[0] and "6 images left out" in lines[0]
    assert "1 id folders (7) are not in" in lines[1] and "test_id.txt" in lines[1]
    assert "1 ids of" in lines[2] and "(12) have no test images" in lines[2]
    caplog.clear()
    (root / "idx" / "test_id.txt").unlink()
    with caplog.at_level(logging.INFO, logger="sfcl.data.llcm"):
        assert {s.pid for s in load_llcm(root).test} == {7, 8, 9}
    assert any("no idx/test_id.txt" in r.getMessage() for r in caplog.records)


def _authors_lists(root: Path, modality: str, trial: int | None) -> list[str]:
    """What the LLCM authors' data_manager.py reads, written from its definition: ids of idx/test_id.txt
    sorted as 4-digit strings, their camera list of the modality, each folder's files sorted;
    ``trial`` None: every file (their query list), else random.seed(trial) and one random.choice per
    (id, camera) folder (their gallery list)."""
    import os
    import random

    cams = [f"test_vis/cam{k}" for k in range(1, 10)] if modality == "vis" else \
        [f"test_nir/cam{k}" for k in (1, 2, 4, 5, 6, 7, 8, 9)]
    ids = sorted(f"{int(x):04d}" for x in (root / "idx" / "test_id.txt").read_text().splitlines()[0].split(","))
    if trial is not None:
        random.seed(trial)
    out = []
    for pid in ids:
        for cam in cams:
            folder = os.path.join(str(root), cam, pid)
            if os.path.isdir(folder):
                files = sorted(folder + "/" + name for name in os.listdir(folder))
                out.extend(files) if trial is None else out.append(random.choice(files))
    return out


def test_both_directions_have_the_authors_query_and_gallery_lists(tmp_path):
    """Their test.py: test_mode [1, 2] (i2v) queries every infrared image against the drawn visible
    ones; [2, 1] (v2i) draws the infrared images and then scores them as the queries against every
    visible image (distmat = gallery x query, eval_llcm(-distmat, gall_label, query_label, ...))."""
    from sfcl.data.llcm import SPEC

    root = make_llcm(tmp_path, test=(9, 8, 12), cams_vis=(1, 2, 5), cams_nir=(1, 3, 4, 9), per_cam=3)
    ds = load_llcm(root)
    paths = lambda indices: [str(Path(ds.test[i].path)) for i in indices]  # noqa: E731
    protocols = {p.name: p for p in SPEC.protocols}
    i2v, _ = protocols["llcm-i2v"].build(ds.test, 4, {})
    v2i, _ = protocols["llcm-v2i"].build(ds.test, 4, {})
    for trial in range(4):
        every_nir, every_vis = _authors_lists(root, "nir", None), _authors_lists(root, "vis", None)
        assert sorted(paths(i2v[trial].query)) == sorted(every_nir)
        assert paths(i2v[trial].gallery) == _authors_lists(root, "vis", trial)  # the drawn order, too
        assert paths(v2i[trial].query) == _authors_lists(root, "nir", trial)
        assert sorted(paths(v2i[trial].gallery)) == sorted(every_vis)
    assert paths(v2i[0].query) != paths(v2i[1].query)
