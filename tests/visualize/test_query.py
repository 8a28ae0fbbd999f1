"""sfcl query: ranking vs cdist, the gallery feature cache (reuse, invalidation, corruption), bad inputs."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sfcl.data.base import Sample
from sfcl.engine.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from sfcl.errors import SfclError
from sfcl.evaluation.extract import extract_features
from sfcl.models.reid import ReIDModel
from sfcl.visualize.images import list_images
from sfcl.visualize.query import query_gallery

from .conftest import run_cli


@pytest.fixture
def gallery(synth, tmp_path) -> Path:
    """Visible images of 6 identities in nested folders, plus files that are not gallery images."""
    root = tmp_path / "gallery"
    for pid in range(1, 7):
        for cam in (1, 2):
            dst = root / f"cam{cam}" / f"p{pid}" / "0001.jpg"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(synth / f"cam{cam}" / f"{pid:04d}" / "0001.jpg", dst)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    shutil.copy(synth / "cam1" / "0001" / "0002.jpg", root / ".hidden" / "skip.jpg")
    return root


@pytest.fixture
def count_images(monkeypatch) -> list[int]:
    """Number of images each ReIDModel forward call processed."""
    calls: list[int] = []
    original = ReIDModel.forward

    def counting(self, images, modality):
        calls.append(int(images.shape[0]))
        return original(self, images, modality)

    monkeypatch.setattr(ReIDModel, "forward", counting)
    return calls


def test_ranking_equals_cdist_of_independent_features(synth, checkpoint, gallery, tmp_path):
    image = synth / "cam3" / "0002" / "0001.jpg"
    result = query_gallery(checkpoint, gallery, image, topk=30, cache_dir=tmp_path / "cache", device="cpu")
    files = list_images(gallery)
    assert len(files) == 12 and result.gallery_size == 12 and len(result.paths) == 12
    model, cfg = model_from_checkpoint(checkpoint)
    samples = [Sample(str(image), -1, -1, "nir")] + [Sample(str(p), -1, -1, "vis") for p in files]
    feats = F.normalize(extract_features(model, samples, cfg.data.height, cfg.data.width).double(), dim=1)
    distances = torch.cdist(feats[:1], feats[1:])[0]
    order = sorted(range(len(files)), key=lambda j: (float(distances[j]), j))
    assert result.paths == [files[j] for j in order]
    np.testing.assert_allclose(result.distances, (distances[order] ** 2 / 2).numpy(), atol=1e-5)  # 1-cos
    assert result.distances == sorted(result.distances)
    top = query_gallery(checkpoint, gallery, image, topk=3, cache_dir=tmp_path / "cache", device="cpu")
    assert top.paths == result.paths[:3] and top.computed == 0


def test_cache_reuse_and_invalidation(synth, checkpoint, gallery, tmp_path, count_images):
    cache = tmp_path / "cache"
    image = synth / "cam6" / "0003" / "0002.jpg"
    first = query_gallery(checkpoint, gallery, image, cache_dir=cache, device="cpu")
    assert first.computed == 12 and sum(count_images) == 13  # gallery + query
    assert len(list(cache.glob("*.pt"))) == 1

    count_images.clear()
    second = query_gallery(checkpoint, gallery, synth / "cam3" / "0004" / "0002.jpg", cache_dir=cache, device="cpu")
    assert second.computed == 0 and count_images == [1]  # only the query ran through the model
    again = query_gallery(checkpoint, gallery, image, cache_dir=cache, device="cpu")
    assert again.paths == first.paths and np.allclose(again.distances, first.distances, atol=1e-6)

    count_images.clear()  # one changed file, one new file, one moved file (same bytes: reused)
    changed = gallery / "cam1" / "p1" / "0001.jpg"
    shutil.copy(synth / "cam4" / "0001" / "0002.jpg", changed)
    shutil.copy(synth / "cam5" / "0002" / "0001.jpg", gallery / "new.jpg")
    (gallery / "moved").mkdir()
    shutil.move(gallery / "cam2" / "p6" / "0001.jpg", gallery / "moved" / "x.jpg")
    third = query_gallery(checkpoint, gallery, image, cache_dir=cache, device="cpu")
    assert third.computed == 2 and sum(count_images) == 3 and third.gallery_size == 13

    count_images.clear()  # other checkpoint bytes: everything is recomputed into a second cache file
    state = load_checkpoint(checkpoint)
    state["model"]["classifier.weight"] = state["model"]["classifier.weight"] * 2
    other = tmp_path / "other.pt"
    save_checkpoint(other, {k: v for k, v in state.items() if k != "format"})
    fourth = query_gallery(other, gallery, image, cache_dir=cache, device="cpu")
    assert fourth.computed == 13 and len(list(cache.glob("*.pt"))) == 2

    count_images.clear()  # no cache: always computed, nothing written
    fifth = query_gallery(checkpoint, gallery, image, use_cache=False, cache_dir=tmp_path / "unused", device="cpu")
    assert fifth.computed == 13 and not (tmp_path / "unused").exists() and fifth.paths == third.paths


def test_corrupt_cache_is_rebuilt(synth, checkpoint, gallery, tmp_path, count_images, caplog):
    cache = tmp_path / "cache"
    image = synth / "cam3" / "0001" / "0001.jpg"
    first = query_gallery(checkpoint, gallery, image, cache_dir=cache, device="cpu")
    (path,) = cache.glob("*.pt")
    path.write_bytes(b"garbage")
    count_images.clear()
    second = query_gallery(checkpoint, gallery, image, cache_dir=cache, device="cpu")
    assert second.computed == 12 and second.paths == first.paths and "unreadable feature cache" in caplog.text
    count_images.clear()
    assert query_gallery(checkpoint, gallery, image, cache_dir=cache, device="cpu").computed == 0


def test_auto_gallery_modality_and_picture(synth, checkpoint, tmp_path, capsys):
    root = tmp_path / "mixed"
    for cam in (1, 3):  # visible and infrared images of one folder tree
        shutil.copytree(synth / f"cam{cam}" / "0005", root / f"cam{cam}")
    save = tmp_path / "query.png"
    code, stdout, _ = run_cli(["query", "--checkpoint", str(checkpoint), "--gallery", str(root), "--image",
                               str(synth / "cam2" / "0005" / "0001.jpg"), "--modality", "vis",
                               "--gallery-modality", "auto", "--topk", "3", "--save", str(save),
                               "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"], capsys)
    assert code == 0 and "4 gallery images (4 computed" in stdout
    lines = [ln for ln in stdout.splitlines() if ln.strip().startswith(("1 ", "2 ", "3 "))]
    assert len(lines) == 3 and str(root) in lines[0]
    assert Image.open(save).size == (4 * 72 + 14 + 2 * 4, 16 + 136)
    # the one rule: the modality is the one given, never the pixels' (a grey image through the visible stem)
    forced = query_gallery(checkpoint, root, synth / "cam3" / "0005" / "0001.jpg", gallery_modality="vis",
                           use_cache=False, device="cpu")
    assert forced.computed == 4 and len(forced.paths) == 4


def test_pixel_modes_follow_the_training_reader(synth, checkpoint, gallery, tmp_path):
    """RGBA (alpha dropped) and L images rank exactly as their RGB copies, as training reads them."""
    vis = synth / "cam1" / "0001" / "0001.jpg"
    rgb = np.asarray(Image.open(vis).convert("RGB"))
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 77, np.uint8)]), "RGBA").save(tmp_path / "rgba.png")
    grey = rgb.mean(axis=2).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "grey_rgb.png")
    run = partial(query_gallery, checkpoint, gallery, modality="vis", use_cache=False, device="cpu")
    for image, twin in (("rgba.png", "rgb.png"), ("grey.png", "grey_rgb.png")):
        a, b = run(image=tmp_path / image), run(image=tmp_path / twin)
        assert a.paths == b.paths and np.allclose(a.distances, b.distances, atol=1e-6)


def test_bad_inputs_are_one_line(synth, checkpoint, gallery, tmp_path, capsys):
    nir = synth / "cam3" / "0001" / "0001.jpg"
    vis = synth / "cam1" / "0001" / "0001.jpg"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    rgba = tmp_path / "rgba.png"
    Image.open(vis).convert("RGBA").save(rgba)
    bad_gallery = tmp_path / "bad_gallery"
    shutil.copytree(gallery / "cam1", bad_gallery)
    shutil.copy(corrupt, bad_gallery / "zz.jpg")
    cases = [
        (dict(checkpoint=tmp_path / "none.pt", gallery=gallery, image=nir), "missing checkpoint"),
        (dict(checkpoint=corrupt, gallery=gallery, image=nir), "corrupt or not an sfcl checkpoint"),
        (dict(checkpoint=checkpoint, gallery=tmp_path / "none", image=nir), "missing gallery folder"),
        (dict(checkpoint=checkpoint, gallery=tmp_path / "empty", image=nir), "no images under"),
        (dict(checkpoint=checkpoint, gallery=gallery, image=tmp_path / "none.jpg"), "missing image"),
        (dict(checkpoint=checkpoint, gallery=gallery, image=corrupt), "unreadable image"),
        (dict(checkpoint=checkpoint, gallery=bad_gallery, image=nir), "zz.jpg"),
        (dict(checkpoint=checkpoint, gallery=gallery, image=nir, save=tmp_path / "x.jpg"), "ending in .png"),
        (dict(checkpoint=checkpoint, gallery=gallery, image=nir, topk=0), "topk=0"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(SfclError, match=fragment) as info:
            query_gallery(cache_dir=tmp_path / "cache", device="cpu", **kwargs)
        assert "\n" not in str(info.value)
    code, _, err = run_cli(["query", "--checkpoint", str(checkpoint), "--gallery", str(tmp_path / "empty"),
                            "--image", str(nir), "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 2 and "no images under" in err and len(err.strip().splitlines()) == 1
