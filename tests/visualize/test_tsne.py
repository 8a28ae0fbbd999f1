"""sfcl visualize tsne: the embedding, the occlusion marks, the figure and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sfcl.errors import SfclError
from sfcl.visualize.tsne import embed_checkpoint, render_tsne, tsne_points

from .conftest import run_cli


def test_separated_clusters_stay_separated():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(4), 10)
    feats = 6.0 * rng.normal(size=(4, 16))[ids] + rng.normal(size=(40, 16))
    points = tsne_points(feats, seed=0)
    assert points.shape == (40, 2)
    within = np.mean([np.linalg.norm(points[a] - points[b]) for a in range(40) for b in range(40)
                      if a != b and ids[a] == ids[b]])
    between = np.mean([np.linalg.norm(points[a] - points[b]) for a in range(40) for b in range(40) if ids[a] != ids[b]])
    assert within < 0.5 * between
    with pytest.raises(SfclError, match="at least 4"):
        tsne_points(feats[:3])


def test_figure_marks_occluded_images_and_cli(synth, checkpoint, tmp_path, capsys):
    from sfcl.occlusion.build import occlude_dataset

    occluded = occlude_dataset("sysu", synth, tmp_path / "occ", seed=1, ratio=0.5).out
    embedded = embed_checkpoint(checkpoint, data_root=occluded, num_ids=3, device="cpu")
    assert {s.pid for s in embedded.samples} == set(sorted({s.pid for s in embedded.samples})[:3])
    assert len({s.pid for s in embedded.samples}) == 3 and {s.modality for s in embedded.samples} == {"vis", "nir"}
    assert 0 < embedded.occluded.sum() < len(embedded.samples)
    out = render_tsne(embedded, tmp_path / "tsne.png")
    assert Image.open(out).size == (700, 600)
    clean = embed_checkpoint(checkpoint, num_ids=3, device="cpu")
    assert not clean.occluded.any()
    code, stdout, _ = run_cli(["visualize", "tsne", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "c.png"),
                               "--num-ids", "3", "--device", "cpu"], capsys)
    assert code == 0 and "t-SNE of" in stdout and (tmp_path / "c.png").is_file()
    code, _, err = run_cli(["visualize", "tsne", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "c.jpg")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
