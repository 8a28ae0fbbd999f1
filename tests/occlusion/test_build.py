"""occlude_dataset / rebuild_from_manifest: layout, determinism, manifests, resume, refusals, bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfcl.data import build_dataset
from sfcl.data.sysu import load_sysu
from sfcl.errors import SfclError
from sfcl.fileio import TMP_SUFFIX
from sfcl.occlusion import build
from sfcl.occlusion.build import JOURNAL, MARKER, occlude_dataset, rebuild_from_manifest
from sfcl.occlusion.library import write_library
from sfcl.occlusion.manifest import NAME as MANIFEST
from sfcl.occlusion.manifest import read_manifest
from sfcl.occlusion.procedural import builtin_library

from .util import digest, make_llcm, make_regdb


def _rel(samples, root) -> list[tuple]:
    return [(Path(s.path).relative_to(root).as_posix(), s.pid, s.cam, s.modality, s.label) for s in samples]


def test_output_has_the_source_layout(synth, occluded, tmp_path):
    src, out = load_sysu(synth), load_sysu(occluded)
    assert _rel(out.train, occluded) == _rel(src.train, synth) and _rel(out.test, occluded) == _rel(src.test, synth)
    a, b = digest(synth), digest(occluded)
    assert set(b) == set(a) | {MARKER, MANIFEST}
    images = [k for k in a if k.startswith("cam")]
    assert all(a[k] != b[k] for k in images), "ratio 1, all splits: every image is occluded"
    assert all(a[k] == b[k] for k in a if not k.startswith("cam")), "id lists and the SynthVI marker are copied"
    with Image.open(occluded / images[0]) as im, Image.open(synth / images[0]) as orig:
        assert im.size == orig.size and im.mode == orig.mode and im.format == "JPEG"
    plain = tmp_path / "plain"
    plain.write_bytes(b"")  # the mode a plain open() gives under this umask
    assert {(p.stat().st_mode & 0o777) for p in occluded.rglob("*") if p.is_file()} == {plain.stat().st_mode & 0o777}


def test_manifest_records_every_placement(synth, occluded):
    header, records = read_manifest(occluded / MANIFEST)
    assert header["dataset"] == "sysu" and header["seed"] == 3 and header["ratio"] == 1.0
    assert header["splits"] == ["train", "query", "gallery"] and header["placements"] == len(records) == 72
    assert header["library"] == "builtin" and header["library_digest"] == builtin_library().digest
    ds = load_sysu(synth)
    test_paths = {Path(s.path).relative_to(synth).as_posix(): s for s in ds.test}
    for rec in records:
        assert 0.1 <= rec["scale"] <= 0.7 and rec["seed"] == 3 and rec["size"] == [64, 32]
        assert (rec["calibration"] is not None) == (rec["modality"] == "nir") == (rec["cam"] in (3, 6))
        assert rec["scene"] == ("indoor" if rec["cam"] in (1, 2, 3) else "outdoor")
        if rec["path"] in test_paths:
            assert rec["splits"] == ["query" if rec["modality"] == "nir" else "gallery"]
        else:
            assert rec["splits"] == ["train"]
    assert len({r["category"] for r in records}) == len(builtin_library().categories())
    assert not (occluded / JOURNAL).exists()


def test_visible_and_infrared_of_an_identity_are_occluded_independently(occluded):
    _, records = read_manifest(occluded / MANIFEST)
    for pid in range(1, 7):
        vis = [(r["occluder"], tuple(r["box"])) for r in records if r["pid"] == pid and r["modality"] == "vis"]
        nir = [(r["occluder"], tuple(r["box"])) for r in records if r["pid"] == pid and r["modality"] == "nir"]
        assert not set(vis) & set(nir)
        assert len({o for o, _ in vis + nir}) > 3


def test_same_seed_same_bytes_with_any_worker_count(synth, occluded, tmp_path):
    two = occlude_dataset("sysu", synth, tmp_path / "two", seed=3, workers=2)
    assert digest(two.out) == digest(occluded)
    other = occlude_dataset("sysu", synth, tmp_path / "other", seed=4, workers=2)
    diff = digest(other.out)
    assert diff != digest(occluded) and diff["exp/test_id.txt"] == digest(occluded)["exp/test_id.txt"]


def test_rebuild_from_manifest_gives_the_same_bytes(synth, occluded, tmp_path):
    result = rebuild_from_manifest(occluded / MANIFEST, synth, tmp_path / "re", workers=2)
    assert result.mismatched == [] and result.placed == 72
    assert digest(tmp_path / "re") == digest(occluded)
    again = occlude_dataset("sysu", synth, tmp_path / "re", seed=3, workers=1)
    assert again.placed == 0 and again.skipped == 72, "the rebuilt folder is the same benchmark"


class Interrupt(Exception):
    pass


def _interrupt_after(chunks: int):
    calls = []

    def hook(done: int) -> None:
        calls.append(done)
        if len(calls) == chunks:
            raise Interrupt

    return hook


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupted_build_resumes_to_the_same_bytes(synth, occluded, tmp_path, workers, monkeypatch):
    monkeypatch.setattr(build, "CHUNK", 2)
    out = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        occlude_dataset("sysu", synth, out, seed=3, workers=workers, hook=_interrupt_after(2))
    assert (out / JOURNAL).is_file() and not (out / MANIFEST).exists()
    partial = [p for p in out.rglob("*.jpg")]
    assert 0 < len(partial) < 72
    stale = partial[0].parent / f".{partial[0].name}.abc{TMP_SUFFIX}"
    stale.write_bytes(b"half an image")  # what a kill during a write leaves behind
    with (out / JOURNAL).open("a") as fh:
        fh.write('{"path": "cam1/00')  # a journal line cut by the kill
    result = occlude_dataset("sysu", synth, out, seed=3, workers=workers)
    assert result.skipped > 0 and result.placed + result.skipped == 72
    assert digest(out) == digest(occluded)


def test_deleted_or_tampered_outputs_are_redone(synth, occluded, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(occluded, out)
    victims = sorted(out.rglob("*.jpg"))[:5]
    victims[0].unlink()
    victims[1].write_bytes(b"garbage")
    (out / "exp" / "test_id.txt").unlink()
    result = occlude_dataset("sysu", synth, out, seed=3, workers=1)
    assert result.placed == 2 and result.copied == 1 and result.skipped == 70
    assert digest(out) == digest(occluded)


def test_split_subset_and_ratio(synth, tmp_path):
    only_query = occlude_dataset("sysu", synth, tmp_path / "q", seed=3, splits="query")
    _, records = read_manifest(only_query.manifest)
    assert records and all(r["splits"] == ["query"] and r["modality"] == "nir" for r in records)
    src, out = digest(synth), digest(only_query.out)
    changed = {k for k in src if src[k] != out[k]}
    assert changed == {r["path"] for r in records}
    half = occlude_dataset("sysu", synth, tmp_path / "half", seed=3, ratio=0.5, workers=2)
    _, records = read_manifest(half.manifest)
    assert 0.25 < len(records) / 72 < 0.75
    again = occlude_dataset("sysu", synth, tmp_path / "half2", seed=3, ratio=0.5)
    assert digest(again.out) == digest(half.out)
    none = occlude_dataset("sysu", synth, tmp_path / "none", seed=3, ratio=0.0)
    assert read_manifest(none.manifest)[1] == [] and digest(none.out)["cam1/0001/0001.jpg"] == src["cam1/0001/0001.jpg"]


def test_regdb_layout_roles_and_grey_thermal(tmp_path):
    src = make_regdb(tmp_path / "regdb")
    res = occlude_dataset("regdb", src, tmp_path / "occ", seed=1, workers=1)
    _, records = read_manifest(res.manifest)
    assert len(records) == 16
    roles = {r["path"]: r["splits"] for r in records}
    assert roles["Visible/1/v_1_0.bmp"] == ["train", "query"], "train in trial 1, query in trial 2"
    assert roles["Thermal/3/t_3_1.bmp"] == ["train", "gallery"]
    for trial in (1, 2):
        a, b = build_dataset("regdb", src, trial=trial), build_dataset("regdb", res.out, trial=trial)
        assert _rel(a.train + a.test, src) == _rel(b.train + b.test, res.out)
    with Image.open(res.out / "Thermal/3/t_3_1.bmp") as im:
        assert im.mode == "L" and im.format == "BMP"
    only = occlude_dataset("regdb", src, tmp_path / "t1", seed=1, splits="train", trial=1)
    assert {r["path"].split("/")[1] for r in read_manifest(only.manifest)[1]} == {"1", "2"}


def test_llcm_layout_and_roles(tmp_path):
    src = make_llcm(tmp_path / "llcm")
    res = occlude_dataset("llcm", src, tmp_path / "occ", seed=2, workers=2)
    _, records = read_manifest(res.manifest)
    assert len(records) == 16
    for r in records:
        if r["path"].startswith("test_vis"):  # both LLCM protocols query with infrared images
            assert r["splits"] == ["gallery"] and r["modality"] == "vis"
        elif r["path"].startswith("test_nir"):
            assert r["splits"] == ["query"] and r["calibration"] is not None
    a, b = build_dataset("llcm", src), build_dataset("llcm", res.out)
    assert _rel(a.train + a.test, src) == _rel(b.train + b.test, res.out)
    assert digest(res.out)["idx/train_vis.txt"] == digest(src)["idx/train_vis.txt"]


def test_folder_library_rebuild_needs_that_library(synth, tmp_path):
    lib_dir = write_library(builtin_library(), tmp_path / "sol")
    res = occlude_dataset("sysu", synth, tmp_path / "a", seed=3, library=lib_dir)
    with pytest.raises(SfclError, match="--library DIR"):
        rebuild_from_manifest(res.manifest, synth, tmp_path / "b")
    rebuilt = rebuild_from_manifest(res.manifest, synth, tmp_path / "b", library=lib_dir)
    assert digest(rebuilt.out) == digest(res.out)


def test_reruns_with_other_parameters_and_foreign_folders_are_refused(synth, occluded, tmp_path):
    with pytest.raises(SfclError, match=r"other parameters \(seed\)"):
        occlude_dataset("sysu", synth, occluded, seed=4)
    with pytest.raises(SfclError, match=r"other parameters \(ratio\)"):
        occlude_dataset("sysu", synth, occluded, seed=3, ratio=0.5)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(SfclError, match=f"no readable {MARKER}"):
        occlude_dataset("sysu", synth, foreign, seed=3)
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(SfclError, match="overlaps"):
        occlude_dataset("sysu", synth, synth / "occluded", seed=3)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(dataset="sysu", splits="train,probe"), "splits train,probe"),
    (dict(dataset="sysu", ratio=1.5), "ratio=1.5"),
    (dict(dataset="sysu", seed=-1), "seed=-1"),
    (dict(dataset="sysu", workers=0), "workers=0"),
    (dict(dataset="regdb"), "Visible"),
    (dict(dataset="market"), "unknown dataset 'market'"),
    (dict(dataset="sysu", trial=2), "trials exist only for regdb"),
    (dict(dataset="sysu", library="/no/such/sol"), "/no/such/sol"),
])
def test_bad_arguments_are_one_line_errors(synth, tmp_path, kwargs, fragment):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(SfclError) as err:
        occlude_dataset(kwargs.pop("dataset"), synth, tmp_path / "out", **kwargs)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_bad_sources(synth, tmp_path):
    with pytest.raises(SfclError, match="missing folder .*nowhere"):
        occlude_dataset("sysu", tmp_path / "nowhere", tmp_path / "out", seed=0)
    broken = tmp_path / "broken"
    shutil.copytree(synth, broken)
    shutil.rmtree(broken / "cam4")
    with pytest.raises(SfclError, match="cam4"):
        occlude_dataset("sysu", broken, tmp_path / "out", seed=0)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(synth, corrupt)
    bad = corrupt / "cam2" / "0003" / "0002.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(SfclError, match=f"unreadable image .*{bad.relative_to(tmp_path)}"):
        occlude_dataset("sysu", corrupt, tmp_path / "out2", seed=0, workers=2)


def test_rebuild_checks_its_inputs(synth, occluded, tmp_path):
    changed = tmp_path / "changed"
    shutil.copytree(synth, changed)
    target = changed / "cam5" / "0002" / "0001.jpg"
    pixels = np.asarray(Image.open(target)).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    data = target.read_bytes()
    Image.fromarray(pixels).save(target, quality=90)
    if len(target.read_bytes()) != len(data):  # keep the size so the per-image check is what fires
        target.write_bytes(target.read_bytes()[:len(data)].ljust(len(data), b"\0"))
    with pytest.raises(SfclError, match="cam5/0002/0001.jpg"):
        rebuild_from_manifest(occluded / MANIFEST, changed, tmp_path / "x")
    shutil.copytree(synth, tmp_path / "extra")
    shutil.copy(synth / "cam1/0001/0001.jpg", tmp_path / "extra/cam1/0001/0009.jpg")
    with pytest.raises(SfclError, match="not the dataset manifest"):
        rebuild_from_manifest(occluded / MANIFEST, tmp_path / "extra", tmp_path / "y")
    lines = (occluded / MANIFEST).read_text().splitlines()
    for name, text, fragment in (("garbled", "{oops\n", "unparsable manifest"),
                                 ("headless", "\n".join(lines[1:]), "line 1"),
                                 ("boxless", "\n".join([lines[0], lines[1].replace('"box"', '"bx"')]), "'box'")):
        (tmp_path / name).write_text(text)
        with pytest.raises(SfclError, match=fragment):
            rebuild_from_manifest(tmp_path / name, synth, tmp_path / f"z_{name}")
    with pytest.raises(SfclError, match="missing manifest"):
        rebuild_from_manifest(tmp_path / "none.jsonl", synth, tmp_path / "w")
    header = json.loads(lines[0])
    header["library_digest"] = "0" * 64
    (tmp_path / "otherlib").write_text("\n".join([json.dumps(header)] + lines[1:]) + "\n")
    with pytest.raises(SfclError, match="is not the one manifest"):
        rebuild_from_manifest(tmp_path / "otherlib", synth, tmp_path / "v")
