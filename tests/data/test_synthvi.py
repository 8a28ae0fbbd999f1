"""SynthVI: layout readable by the SYSU loader, byte determinism, worker invariance, modality rendering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfcl.data.synthvi import CAMS, MARKER, SynthConfig, render_image, split_ids, synthesize
from sfcl.data.sysu import NIR_CAMS, VIS_CAMS, load_sysu
from sfcl.errors import SfclError

SMALL = dict(num_ids=10, images_per_cam=2, height=32, width=16)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return synthesize(tmp_path_factory.mktemp("synth") / "a", seed=3, **SMALL)


def test_layout_is_sysu(small):
    assert sorted(p.name for p in small.iterdir() if p.is_dir()) == ["cam1", "cam2", "cam3", "cam4", "cam5",
                                                                    "cam6", "exp"]
    ids = {name: [int(x) for x in (small / "exp" / f"{name}_id.txt").read_text().strip().split(",")]
           for name in ("train", "val", "test")}
    flat = ids["train"] + ids["val"] + ids["test"]
    assert sorted(flat) == list(range(1, 11)), "splits partition the identities"
    for cam in CAMS:
        for pid in range(1, 11):
            files = sorted((small / f"cam{cam}" / f"{pid:04d}").iterdir())
            assert [f.name for f in files] == ["0001.jpg", "0002.jpg"]
    with Image.open(small / "cam1" / "0001" / "0001.jpg") as im:
        assert im.size == (16, 32) and im.mode == "RGB"

    ds = load_sysu(small)
    assert ds.num_classes == len(ids["train"]) + len(ids["val"])
    assert {s.pid for s in ds.test} == set(ids["test"])
    assert {s.modality for s in ds.train if s.cam in VIS_CAMS} == {"vis"}
    assert {s.modality for s in ds.train if s.cam in NIR_CAMS} == {"nir"}
    assert len(ds.train) + len(ds.test) == 10 * 6 * 2


def test_same_seed_same_bytes_any_worker_count(small, tmp_path):
    again = synthesize(tmp_path / "b", seed=3, workers=2, **SMALL)
    assert _digest(again) == _digest(small)
    other = synthesize(tmp_path / "c", seed=4, **SMALL)
    assert _digest(other) != _digest(small)


def test_infrared_is_grey_and_visible_is_coloured():
    for pid in (1, 2, 3):
        for cam in NIR_CAMS:
            ir = render_image(0, pid, cam, 1, 64, 32).astype(int)
            assert np.array_equal(ir[..., 0], ir[..., 1]) and np.array_equal(ir[..., 0], ir[..., 2])
    vis = np.stack([render_image(0, pid, cam, 1, 64, 32) for pid in (1, 2, 3) for cam in VIS_CAMS]).astype(float)
    assert np.abs(vis[..., 0] - vis[..., 1]).mean() > 2.0, "visible images carry colour"


def test_images_vary_within_and_between_identities():
    a1, a2 = render_image(0, 5, 1, 1, 64, 32), render_image(0, 5, 1, 2, 64, 32)
    b1 = render_image(0, 6, 1, 1, 64, 32)
    assert not np.array_equal(a1, a2), "two images of one tracklet differ (jitter, noise)"
    assert not np.array_equal(a1, b1)
    assert np.array_equal(a1, render_image(0, 5, 1, 1, 64, 32)), "pure function of its key"


def test_rerun_completes_an_interrupted_output(small, tmp_path):
    root = synthesize(tmp_path / "d", seed=3, **SMALL)
    reference = _digest(root)
    (root / "cam3" / "0004" / "0002.jpg").unlink()      # as if the run stopped before this file
    synthesize(root, seed=3, **SMALL)
    assert _digest(root) == reference


def test_refuses_foreign_or_mismatched_folders(small, tmp_path):
    with pytest.raises(SfclError, match="other parameters.*seed"):
        synthesize(small, seed=4, **SMALL)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(SfclError, match="no readable"):
        synthesize(foreign, **SMALL)
    assert (foreign / "notes.txt").read_text() == "mine", "nothing of the user's is touched"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(SfclError, match="is a file"):
        synthesize(a_file, **SMALL)
    assert json.loads((small / MARKER).read_text())["seed"] == 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_ids=2), "num_ids"),
    (dict(images_per_cam=0), "images_per_cam"),
    (dict(height=16, width=16), "image size"),
    (dict(test_fraction=0.0), "test_fraction"),
    (dict(workers=0), "workers"),
])
def test_bad_parameters(tmp_path, kwargs, match):
    args = {**SMALL, **kwargs}
    with pytest.raises(SfclError, match=match):
        synthesize(tmp_path / "x", **args)
    assert not (tmp_path / "x").exists()


def test_split_sizes_scale_to_sysu():
    parts = split_ids(SynthConfig(num_ids=491))
    assert len(parts["test"]) == round(491 * 0.3)
    assert not set(parts["train"]) & set(parts["test"])
    assert split_ids(SynthConfig(num_ids=491)) == parts
