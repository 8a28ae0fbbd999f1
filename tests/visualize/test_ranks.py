"""Rank lists: the ranking equals an independent cdist + loop ranking; pictures; bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sfcl.data.sysu import load_sysu
from sfcl.engine.checkpoint import model_from_checkpoint
from sfcl.errors import SfclError
from sfcl.evaluation.extract import extract_features
from sfcl.evaluation.protocols import build_trials
from sfcl.visualize.drawing import CAPTION, GAP, QUERY_GAP, ROW_GAP, rank_row
from sfcl.visualize.ranks import pick_queries, rank_gallery, ranked_results, removed_pairs, visualize_ranks

from .conftest import run_cli


def loop_ranking(distances: np.ndarray, removed: np.ndarray, topk: int) -> list[list[int]]:
    """Slow twin: per query, kept (index, distance) pairs sorted by distance then index."""
    out = []
    for row in range(distances.shape[0]):
        kept = [(float(distances[row, j]), j) for j in range(distances.shape[1]) if not removed[row, j]]
        out.append([j for _, j in sorted(kept)][:topk])
    return out


def test_rank_gallery_matches_loop():
    rng = np.random.default_rng(0)
    distances = rng.integers(0, 6, (7, 30)).astype(np.float32)  # many ties: order must fall back to the index
    removed = rng.uniform(size=(7, 30)) < 0.3
    got = rank_gallery(torch.from_numpy(distances), removed, topk=10)
    assert [list(g) for g in got] == loop_ranking(distances, removed, 10)
    assert [list(g) for g in rank_gallery(torch.from_numpy(distances), None, 50)] == \
        loop_ranking(distances, np.zeros_like(removed), 50)


def test_sysu_removal_rule_and_query_picking():
    from sfcl.data.base import Sample

    query = [Sample("q", 1, 3, "nir"), Sample("q", 1, 6, "nir")]
    gallery = [Sample("g", 1, 2, "vis"), Sample("g", 2, 2, "vis"), Sample("g", 1, 1, "vis")]
    assert removed_pairs("drop-cam3-cam2", query, gallery).tolist() == [[True, True, False], [False, False, False]]
    assert removed_pairs("drop-same-camera", [Sample("q", 1, 2, "nir")], gallery).tolist() == [[True, False, False]]
    assert not removed_pairs("keep-all", query, gallery).any()
    assert pick_queries(20, 4).tolist() == [0, 6, 13, 19] and pick_queries(3, 8).tolist() == [0, 1, 2]
    with pytest.raises(SfclError, match="num_queries=0"):
        pick_queries(5, 0)


def test_ranked_list_equals_independent_cdist_ranking(synth, checkpoint, monkeypatch):
    """Rank by torch.cdist + a plain loop on the features the command extracted; those equal the evaluation's."""
    import sfcl.evaluation.extract as extract

    seen = []

    def recording(*args, **kwargs):
        feats = extract_features(*args, **kwargs)
        seen.append((args[1], feats))
        return feats

    monkeypatch.setattr(extract, "extract_features", recording)
    ranked = ranked_results(checkpoint, num_queries=5, topk=7, device="cpu")
    (samples, feats), = seen
    model, cfg = model_from_checkpoint(checkpoint)
    test = load_sysu(synth).test
    trial = build_trials("sysu-all-single", test, num_trials=1)[0]
    reference = extract_features(model, test, cfg.data.height, cfg.data.width)
    index = {s.path: i for i, s in enumerate(test)}
    torch.testing.assert_close(feats, reference[[index[s.path] for s in samples]], atol=1e-4, rtol=1e-4)
    assert [s.path for s in samples[5:]] == [test[g].path for g in trial.gallery]
    unit = F.normalize(feats.double(), dim=1)
    assert len(ranked) == 5
    for row, item in enumerate(ranked):
        assert samples[row].path == item.query.path
        distances = torch.cdist(unit[row][None], unit[5:])[0].numpy()
        removed = np.array([item.query.cam == 3 and g.cam == 2 for g in samples[5:]])
        expected = loop_ranking(distances[None], removed[None], 7)[0]
        assert [g.path for g in item.gallery] == [samples[5 + j].path for j in expected]
        cosine = 1 - distances[expected] ** 2 / 2  # |a - b|^2 = 2 - 2 cos for unit vectors
        np.testing.assert_allclose(item.distances, 1 - cosine, atol=1e-5)
        assert item.matches == [g.pid == item.query.pid for g in item.gallery]
        assert item.query.modality == "nir" and all(g.modality == "vis" for g in item.gallery)
    assert any(item.query.cam == 3 for item in ranked)  # the removal rule is exercised


def test_row_size_and_pictures(checkpoint, tmp_path, capsys):
    row = rank_row(np.zeros((64, 32, 3), np.uint8), [np.zeros((10, 5, 3), np.uint8)] * 3, ["a", "b", "c"],
                   [(0, 255, 0)] * 3, height=40, width=20, border=3)
    assert row.shape == (CAPTION + 40 + 6, 4 * 26 + QUERY_GAP + 2 * GAP, 3)
    assert tuple(row[CAPTION, 26 + QUERY_GAP]) == (0, 255, 0)  # first gallery tile's top-left border pixel
    ranked, paths = visualize_ranks(checkpoint, tmp_path / "ranks", num_queries=3, topk=4, device="cpu")
    assert len(paths) == 4 and paths[-1].name == "ranks.png" and all(p.is_file() for p in paths)
    height, width = CAPTION + 128 + 8, 5 * 72 + QUERY_GAP + 3 * GAP
    assert Image.open(paths[0]).size == (width, height)
    assert Image.open(paths[-1]).size == (width, 3 * height + 2 * ROW_GAP)
    border = np.asarray(Image.open(paths[0]))[CAPTION + 1, 72 + QUERY_GAP + 1]
    assert tuple(border) == ((0, 170, 0) if ranked[0].matches[0] else (215, 25, 25))
    code, stdout, _ = run_cli(["visualize", "ranks", "--checkpoint", str(checkpoint), "--out",
                               str(tmp_path / "cli"), "--num-queries", "2", "--topk", "3", "--device", "cpu"], capsys)
    assert code == 0 and "2 queries" in stdout and (tmp_path / "cli" / "ranks.png").is_file()


def test_bad_inputs_are_one_line(checkpoint, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    cases = [
        (dict(checkpoint=tmp_path / "none.pt", out_dir=tmp_path / "o"), "missing checkpoint"),
        (dict(checkpoint=checkpoint, out_dir=tmp_path / "o", data_root=tmp_path / "nodata"), "missing folder"),
        (dict(checkpoint=checkpoint, out_dir=tmp_path / "o", protocol="regdb-v2t"), "does not apply"),
        (dict(checkpoint=checkpoint, out_dir=tmp_path / "file"), "is a file"),
        (dict(checkpoint=checkpoint, out_dir=tmp_path / "o", topk=0), "topk=0"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(SfclError, match=fragment) as info:
            visualize_ranks(device="cpu", **kwargs)
        assert "\n" not in str(info.value)
    code, _, err = run_cli(["visualize", "ranks", "--checkpoint", str(tmp_path / "none.pt"), "--out",
                            str(tmp_path / "o")], capsys)
    assert code == 2 and "missing checkpoint" in err and len(err.strip().splitlines()) == 1
