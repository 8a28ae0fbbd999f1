"""Dataset spectra: statistics against loop twins, the occluded comparison, the figure and bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfcl.data.sysu import load_sysu
from sfcl.errors import SfclError
from sfcl.occlusion.build import occlude_dataset
from sfcl.visualize.spectra import compute_spectra, concentration, eta_squared, spread, visualize_spectra

from .conftest import run_cli


@pytest.fixture(scope="module")
def occluded(synth, tmp_path_factory) -> Path:
    return occlude_dataset("sysu", synth, tmp_path_factory.mktemp("viz-occ") / "occluded", seed=1, workers=1).out


def eta_squared_loop(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Slow twin: per bin, between-group sum of squares over total sum of squares, by plain loops."""
    out = np.zeros(first.shape[1:])
    for i in range(first.shape[1]):
        for j in range(first.shape[2]):
            a, b = list(first[:, i, j]), list(second[:, i, j])
            grand = sum(a + b) / len(a + b)
            total = sum((v - grand) ** 2 for v in a + b)
            between = len(a) * (sum(a) / len(a) - grand) ** 2 + len(b) * (sum(b) / len(b) - grand) ** 2
            out[i, j] = between / total
    return out


def test_eta_squared_matches_loop():
    rng = np.random.default_rng(0)
    first, second = rng.normal(0, 1, (5, 4, 3)), rng.normal(0.5, 2, (7, 4, 3))
    np.testing.assert_allclose(eta_squared(first, second), eta_squared_loop(first, second), rtol=1e-10)
    separated = eta_squared(np.zeros((3, 2, 2)) + rng.normal(0, 1e-6, (3, 2, 2)), np.ones((4, 2, 2)))
    assert separated.min() > 0.999


def test_concentration_by_hand():
    diff = np.zeros((5, 4))  # DC at (2, 2)
    diff[2, 2] = 100.0  # left out
    diff[0, 1] = 3.0
    share, ratio = concentration(diff)
    assert share == pytest.approx(1.0) and ratio == pytest.approx(1 / 19)
    even = np.ones((5, 4))
    share, ratio = concentration(even)
    assert share == pytest.approx(2 / 19) and ratio == pytest.approx(1.0)  # ceil(0.1 * 19) = 2 bins
    half = np.ones((5, 4))
    half[:, :2] = 0.0  # 9 of the 19 non-DC bins keep energy 1 (DC (2, 2) is left out)
    share, ratio = concentration(half)
    assert share == pytest.approx(2 / 9) and ratio == pytest.approx(9 / 19)


def test_spread_is_even_and_complete():
    assert spread(list(range(5)), 10) == [0, 1, 2, 3, 4]
    assert spread(list(range(10)), 3) == [0, 4, 9]  # linspace 0, 4.5, 9 rounded half to even


def test_mean_spectra_match_an_independent_computation(synth):
    stats = compute_spectra(synth, max_images=4, size=(32, 16))
    samples = load_sysu(synth)
    everything = samples.train + samples.test
    for modality, mean in (("vis", stats.mean_vis), ("nir", stats.mean_nir)):
        chosen = spread([s for s in everything if s.modality == modality], 4)
        logs = []
        for sample in chosen:
            grey = np.asarray(Image.open(sample.path).convert("RGB"), dtype=np.float64).mean(axis=2) / 255.0
            grey = np.asarray(Image.fromarray(grey.astype(np.float32)).resize((16, 32), Image.BOX), dtype=np.float64)
            spectrum = np.fft.fftshift(np.fft.fft2(grey) / np.sqrt(grey.size))
            logs.append(np.log(np.abs(spectrum) + 1e-3))
        # a box filter halves 64 x 32 exactly as cv2's INTER_AREA does
        np.testing.assert_allclose(mean, np.mean(logs, axis=0), atol=1e-4)
    np.testing.assert_allclose(stats.modality_diff, stats.mean_vis - stats.mean_nir)
    assert stats.counts == {"vis": 4, "nir": 4} and stats.occlusion_diff is None
    assert set(stats.summary) == {"modality_top10_share", "modality_participation"}


def test_occluded_copy_and_figure(synth, occluded, tmp_path, capsys):
    out = tmp_path / "spectra.png"
    stats = visualize_spectra(synth, out, occluded_root=occluded, max_images=6, size=(64, 32))
    assert Image.open(out).size == (1000, 700)
    assert stats.occlusion_diff.shape == (64, 32) and stats.counts["occluded_pairs"] == 12
    assert 0 < stats.summary["occlusion_top10_share"] <= 1 and 0 < stats.summary["occlusion_participation"] <= 1
    assert np.abs(stats.occlusion_diff).max() > 0  # the occluded copy does differ
    code, stdout, _ = run_cli(["visualize", "spectra", "--data-root", str(synth), "--out", str(tmp_path / "c.png"),
                               "--max-images", "3", "--size", "32x16"], capsys)
    assert code == 0 and "top 10% of bins" in stdout and Image.open(tmp_path / "c.png").size == (1000, 700)


def test_bad_inputs_are_one_line(synth, tmp_path, capsys):
    cases = [
        (dict(data_root=tmp_path / "none"), "missing folder"),
        (dict(data_root=synth, occluded_root=tmp_path / "none"), "missing occluded dataset folder"),
        (dict(data_root=synth, occluded_root=synth), "no occluded image"),  # a copy identical to the source
        (dict(data_root=synth, max_images=1), "max_images=1"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(SfclError, match=fragment) as info:
            visualize_spectra(out=tmp_path / "x.png", size=(32, 16), **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(SfclError, match="ending in .png"):
        visualize_spectra(synth, tmp_path / "x.pdf")
    code, _, err = run_cli(["visualize", "spectra", "--data-root", str(tmp_path / "none"), "--out",
                            str(tmp_path / "x.png")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
