"""SOL: the built-in procedural library (categories, variety, determinism) and the folder format's validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sfcl.errors import SfclError
from sfcl.occlusion.library import (
    BODY_PARTS,
    METADATA,
    SCENES,
    SIZE_CLASSES,
    load_library_dir,
    write_library,
)
from sfcl.occlusion.procedural import CATEGORIES, VARIANTS, builtin_library, draw_occluder, load_library


@pytest.fixture(scope="module")
def builtin():
    return builtin_library()


def test_builtin_has_ten_plus_categories_with_valid_attributes(builtin):
    cats = builtin.categories()
    assert len(cats) >= 10 and set(cats) == set(CATEGORIES)
    for cat in cats:
        assert len([o for o in builtin.occluders if o.info.category == cat]) == VARIANTS
    infos = [o.info for o in builtin.occluders]
    assert {i.scene for i in infos} <= set(SCENES) and {i.size_class for i in infos} <= set(SIZE_CLASSES)
    assert {i.body_part for i in infos} == set(BODY_PARTS), "every placement rule has occluders"
    assert load_library(None).digest == load_library("builtin").digest == builtin.digest


def test_builtin_occluders_are_varied_rgba_with_soft_edges(builtin):
    digests = {o.rgba.tobytes() for o in builtin.occluders}
    assert len(digests) == len(builtin.occluders), "no two occluders are identical"
    for cat in builtin.categories():
        group = [o.rgba for o in builtin.occluders if o.info.category == cat]
        aspects = {round(g.shape[1] / g.shape[0], 2) for g in group}
        colours = [tuple(np.round(g[..., :3][g[..., 3] > 200].mean(0) / 16)) for g in group]
        assert len(aspects) > 1 or len(set(colours)) > 1, f"{cat}: variants differ in shape or colour"
    for occ in builtin.occluders:
        a = occ.rgba[..., 3]
        assert occ.rgba.dtype == np.uint8 and occ.rgba.shape[2] == 4
        assert a.max() == 255 and ((a > 0) & (a < 255)).any(), f"{occ.info.id}: anti-aliased mask"
        assert a[0].any() and a[-1].any() and a[:, 0].any() and a[:, -1].any(), "cropped to the mask"


def test_drawing_is_a_pure_function_of_seed_category_index():
    a, b = draw_occluder("umbrella", 3), draw_occluder("umbrella", 3)
    assert np.array_equal(a.rgba, b.rgba)
    assert not np.array_equal(a.rgba, draw_occluder("umbrella", 4).rgba)
    other = draw_occluder("umbrella", 3, seed=1)
    assert other.rgba.shape != a.rgba.shape or not np.array_equal(other.rgba, a.rgba)


def test_export_then_load_round_trips_pixels_and_digest(builtin, tmp_path):
    folder = write_library(builtin, tmp_path / "sol")
    back = load_library(folder)
    assert back.digest == builtin.digest
    assert [o.info.attributes() for o in back.occluders] == [o.info.attributes() for o in builtin.occluders]
    assert all(np.array_equal(x.rgba, y.rgba) for x, y in zip(back.occluders, builtin.occluders))


def test_scene_filter(builtin):
    assert builtin.for_scene("car", "indoor") == []
    assert len(builtin.for_scene("car", "outdoor")) == VARIANTS
    assert len(builtin.for_scene("bench", "indoor")) == VARIANTS


def _tiny_library(root, lines: list[dict] | None = None):
    (root / "images").mkdir(parents=True)
    rgba = np.zeros((12, 8, 4), np.uint8)
    rgba[2:10, 2:6] = (200, 50, 50, 255)
    Image.fromarray(rgba, "RGBA").save(root / "images" / "a.png")
    lines = lines or [{"id": "a", "file": "images/a.png", "category": "pole", "scene": "any", "body_part": "full",
                       "size_class": "large"}]
    (root / METADATA).write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return root


def test_small_valid_folder_loads(tmp_path):
    lib = load_library_dir(_tiny_library(tmp_path / "sol"))
    assert [o.info.id for o in lib.occluders] == ["a"] and lib.occluders[0].rgba.shape == (12, 8, 4)


GOOD = {"id": "a", "file": "images/a.png", "category": "pole", "scene": "any", "body_part": "full",
        "size_class": "large"}


@pytest.mark.parametrize("lines, fragment", [
    ([{**GOOD, "scene": "beach"}], "scene='beach'"),
    ([{**GOOD, "body_part": "knee"}], "body_part='knee'"),
    ([{**GOOD, "size_class": "huge"}], "size_class='huge'"),
    ([{k: v for k, v in GOOD.items() if k != "category"}], "missing or non-string key(s) category"),
    ([{**GOOD, "file": "images/missing.png"}], "missing occluder image"),
    ([{**GOOD, "file": "../outside.png"}], "outside"),
    ([GOOD, GOOD], "duplicate id"),
    ([{**GOOD, "id": "bad id"}], "occluder id 'bad id'"),
])
def test_bad_metadata_is_one_clear_error(tmp_path, lines, fragment):
    root = _tiny_library(tmp_path / "sol", lines)
    with pytest.raises(SfclError) as err:
        load_library_dir(root)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_bad_folders_and_images(tmp_path):
    with pytest.raises(SfclError, match="missing occlusion library folder"):
        load_library_dir(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SfclError, match=f"missing .*{METADATA}"):
        load_library_dir(tmp_path / "empty")
    root = _tiny_library(tmp_path / "garbled")
    (root / METADATA).write_text("{not json\n")
    with pytest.raises(SfclError, match="line 1"):
        load_library_dir(root)
    root = _tiny_library(tmp_path / "rgb")
    Image.new("RGB", (8, 12)).save(root / "images" / "a.png")
    with pytest.raises(SfclError, match="mode RGB"):
        load_library_dir(root)
    root = _tiny_library(tmp_path / "clear")
    Image.new("RGBA", (8, 12), (9, 9, 9, 0)).save(root / "images" / "a.png")
    with pytest.raises(SfclError, match="alpha mask is empty"):
        load_library_dir(root)
    root = _tiny_library(tmp_path / "corrupt")
    (root / "images" / "a.png").write_bytes(b"not a png")
    with pytest.raises(SfclError, match="unreadable occluder image"):
        load_library_dir(root)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(SfclError, match="not empty"):
        write_library(builtin_library(), tmp_path / "full")
